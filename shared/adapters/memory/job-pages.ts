/**
 * The dashboard's page of jobs from the in-memory list index, with the DynamoDB adapter's
 * semantics (shared/adapters/dynamodb/job-indexes.ts): the queues' active (and, with history, finished)
 * partitions, jobs below the cursor that pass the filters, newest first, and `next` (the last
 * seq returned) when more matches remain. DynamoDB reads each partition in batches and stops
 * once it has more than a page of matches; the top `limit` of the merge and whether anything
 * is left do not depend on where a batch ended, so reading everything here gives the same page.
 */
import type { JobState } from "../../pbs/types.js";
import type { JobPage, JobPageQuery } from "../../server/records.js";
import { pagePartitions } from "../dynamodb/indexes.js";
import { keys, LIST_INDEX, siteTableDefinition } from "../dynamodb/table.js";
import { jobOf } from "./job-items.js";
import type { Item, MemoryTable } from "./table.js";

const LIST = siteTableDefinition.indexes.find((i) => i.name === LIST_INDEX);

export function listJobPage(table: MemoryTable, q: JobPageQuery): JobPage {
  if (!LIST) throw new Error("the site table has no list index");
  const { parts, states } = pagePartitions(q);
  const before = q.before === undefined ? undefined : keys.listSort(q.before);
  const match = (it: Item) =>
    (!q.user || it.user === q.user) &&
    (!q.project || it.project === q.project) &&
    (!states || states.includes(it.state as JobState));
  const all = parts
    .flatMap((p) => table.queryIndex(LIST, p, (s) => before === undefined || s < before))
    .filter(match)
    .map(jobOf)
    .sort((a, b) => b.seq - a.seq);
  const jobs = all.slice(0, q.limit);
  return { jobs, next: all.length > q.limit && jobs.length ? jobs[jobs.length - 1].seq : undefined };
}
