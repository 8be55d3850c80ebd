/**
 * Pages of jobs from the in-memory list index, with the DynamoDB adapter's semantics
 * (shared/adapters/dynamodb/job-indexes.ts): the queues' active (and, with history, finished)
 * partitions, jobs past the cursor that pass the filters, in the order asked (newest or oldest
 * first), and `next` (the last seq returned) when more matches remain. Each partition is read
 * from the cursor on until it has one more match than a page (as DynamoDB's reader stops), so a
 * page costs what it returns, not what is queued. The index holds little (LIST_ATTRS): the page's
 * rows are then read by key, as the DynamoDB adapter reads them, without the script.
 */
import type { JobState } from "../../pbs/types.js";
import type { JobRecord } from "../../server/job.js";
import type { JobPage, JobPageQuery, ListedJob } from "../../server/records.js";
import { pagePartitions } from "../dynamodb/indexes.js";
import { keys, LIST_INDEX, siteTableDefinition } from "../dynamodb/table.js";
import { jobOf } from "./job-items.js";
import type { Item, MemoryTable } from "./table.js";

const LIST = siteTableDefinition.indexes.find((i) => i.name === LIST_INDEX);

export function listJobPage(table: MemoryTable, q: JobPageQuery): JobPage {
  if (!LIST) throw new Error("the site table has no list index");
  const { parts, states } = pagePartitions(q);
  const newest = q.order !== "oldest";
  const match = (it: Readonly<Item>) =>
    (!q.user || it.user === q.user) &&
    (!q.project || it.project === q.project) &&
    (!states || states.includes(it.state as JobState));
  const range = {
    reverse: newest,
    below: newest && q.before !== undefined ? keys.listSort(q.before) : undefined,
    above: !newest && q.after !== undefined ? keys.listSort(q.after) : undefined,
    limit: q.limit + 1,
    filter: match,
  };
  const all = parts
    .flatMap((p) => table.queryIndex(LIST, p, range))
    .map((it) => jobOf(it) as ListedJob)
    .sort((a, b) => (newest ? b.seq - a.seq : a.seq - b.seq));
  const listed = all.slice(0, q.limit);
  return {
    jobs: listedRecords(table, listed),
    next: all.length > q.limit && listed.length ? listed[listed.length - 1].seq : undefined,
  };
}

/**
 * The stored records of jobs read from the list index, in that order, without the script (the
 * DynamoDB adapter reads the `A` items, which hold none); jobs gone since are left out.
 */
export function listedRecords(table: MemoryTable, listed: Pick<JobRecord, "key">[]): JobRecord[] {
  return listed.flatMap((l) => {
    const it = table.get(keys.job(l.key));
    if (!it) return [];
    const { script: _script, ...rest } = jobOf(it);
    return [rest as JobRecord];
  });
}
