/**
 * The dashboard's page of jobs, read from the in-memory list index the way the DynamoDB adapter
 * reads it (shared/store/job-pages.ts): per queue partition, backwards from the cursor, in
 * batches of max(100, limit + 1) items *before* filtering, until a partition has more than a
 * page of matches; then the partitions are merged newest first. The batches are simulated on
 * purpose: whether a page says there is more (`next`) depends on where a batch ended, and a
 * full last batch reports more even with nothing after it (DynamoDB returns LastEvaluatedKey
 * whenever Limit stopped the read), so the dashboard pages the same over both adapters.
 */
import type { JobState } from "../../pbs/types.js";
import { FINISHED, type JobRecord } from "../../server/job.js";
import type { JobPage, JobPageQuery } from "../../server/records.js";
import { keys, LIST_INDEX, siteTableDefinition } from "../../store/table.js";
import { jobOf } from "./job-items.js";
import type { Item, MemoryTable } from "./table.js";

/** Items read per batch: a page plus slack for filtered-out jobs (as the DynamoDB adapter). */
const READ_BATCH = 100;
const LIST = siteTableDefinition.indexes.find((i) => i.name === LIST_INDEX);

export function listJobPage(table: MemoryTable, q: JobPageQuery): JobPage {
  if (!LIST) throw new Error("the site table has no list index");
  const states = q.states?.length ? q.states : undefined;
  const wantActive = !states || states.some((s) => !FINISHED.has(s));
  const wantFinished = q.history && (!states || states.some((s) => FINISHED.has(s)));
  const parts: string[] = [];
  for (const queue of q.queues) {
    if (wantActive) parts.push(keys.list(queue, false));
    if (wantFinished) parts.push(keys.list(queue, true));
  }
  const before = q.before === undefined ? undefined : keys.listSort(q.before);
  const pages = parts.map((p) => {
    const items = table.queryIndex(LIST, p, (s) => before === undefined || s < before).reverse();
    return readPartition(items, q, states);
  });
  const all = pages.flatMap((p) => p.jobs).sort((a, b) => b.seq - a.seq);
  const jobs = all.slice(0, q.limit);
  const more = all.length > q.limit || pages.some((p) => p.more);
  return { jobs, next: more && jobs.length ? jobs[jobs.length - 1].seq : undefined };
}

function readPartition(
  items: Item[],
  q: JobPageQuery,
  states: JobState[] | undefined,
): { jobs: JobRecord[]; more: boolean } {
  const batch = Math.max(READ_BATCH, q.limit + 1);
  const match = (it: Item) =>
    (!q.user || it.user === q.user) &&
    (!q.project || it.project === q.project) &&
    (!states || states.includes(it.state as JobState));
  const jobs: JobRecord[] = [];
  let pos = 0;
  let stopped: boolean;
  do {
    const page = items.slice(pos, pos + batch);
    pos += page.length;
    for (const it of page) if (match(it)) jobs.push(jobOf(it));
    stopped = page.length === batch;
  } while (stopped && jobs.length <= q.limit);
  return { jobs, more: stopped || jobs.length > q.limit };
}
