/**
 * One page of a site's jobs for the dashboard, newest first, filtered on the server. Reads the
 * `list` index only (one Query per queue and active/finished partition, no Scan): each partition
 * is read backwards from the cursor until it has a page of matches, then the pages are merged.
 * The cursor is the last sequence number returned, so it stays valid while jobs change.
 */
import { QueryCommand, type QueryCommandInput } from "@aws-sdk/lib-dynamodb";
import type { JobState } from "../pbs/types.js";
import type { JobPage, JobPageQuery } from "../server/records.js";
import { FINISHED, type JobRecord } from "../server/job.js";
import type { DynamoSiteStore } from "./site-store.js";
import { stripItem } from "./site-store.js";
import { keys, LIST_INDEX } from "./table.js";

/** Items read per request: a page plus slack for filtered-out jobs. */
const READ_BATCH = 100;

export async function listJobPage(store: DynamoSiteStore, q: JobPageQuery): Promise<JobPage> {
  const states = q.states?.length ? q.states : undefined;
  const wantActive = !states || states.some((s) => !FINISHED.has(s));
  const wantFinished = q.history && (!states || states.some((s) => FINISHED.has(s)));
  const parts: string[] = [];
  for (const queue of q.queues) {
    if (wantActive) parts.push(keys.list(queue, false));
    if (wantFinished) parts.push(keys.list(queue, true));
  }
  const pages = await Promise.all(parts.map((p) => readPartition(store, p, q, states)));
  const all = pages.flatMap((p) => p.jobs).sort((a, b) => b.seq - a.seq);
  const jobs = all.slice(0, q.limit);
  const more = all.length > q.limit || pages.some((p) => p.more);
  return { jobs, next: more && jobs.length ? jobs[jobs.length - 1].seq : undefined };
}

async function readPartition(
  store: DynamoSiteStore,
  lst: string,
  q: JobPageQuery,
  states: JobState[] | undefined,
): Promise<{ jobs: JobRecord[]; more: boolean }> {
  const names: Record<string, string> = {};
  const values: Record<string, unknown> = { ":k": lst };
  const filters: string[] = [];
  let cond = "lst = :k";
  if (q.before !== undefined) {
    cond += " AND lstSk < :b";
    values[":b"] = keys.listSort(q.before);
  }
  if (q.user) {
    names["#u"] = "user";
    values[":u"] = q.user;
    filters.push("#u = :u");
  }
  if (q.project) {
    names["#p"] = "project";
    values[":p"] = q.project;
    filters.push("#p = :p");
  }
  if (states) {
    names["#s"] = "state";
    states.forEach((s, i) => {
      values[`:s${i}`] = s;
    });
    filters.push(`#s IN (${states.map((_, i) => `:s${i}`).join(", ")})`);
  }
  const input: QueryCommandInput = {
    TableName: store.table,
    IndexName: LIST_INDEX,
    KeyConditionExpression: cond,
    ExpressionAttributeValues: values,
    ScanIndexForward: false,
    Limit: Math.max(READ_BATCH, q.limit + 1),
  };
  if (filters.length) {
    input.FilterExpression = filters.join(" AND ");
    input.ExpressionAttributeNames = names;
  }
  const jobs: JobRecord[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const r = await store.doc.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
    for (const it of r.Items ?? []) jobs.push(stripItem(it));
    start = r.LastEvaluatedKey;
  } while (start && jobs.length <= q.limit);
  return { jobs, more: !!start || jobs.length > q.limit };
}
