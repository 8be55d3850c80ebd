/**
 * JobStore's index reads: the scheduler's ready queue, the jobs holding resources, qstat's
 * lists, the repair sweep's waiting jobs and the dashboard's pages, each one Query (per shard
 * or partition) on a sparse index of the site table (table.ts; what puts a job in each index is
 * indexes.ts). No read here scans the table or walks past jobs it does not want.
 *
 * DynamoDB facts that shaped it: a global secondary index can only be read eventually
 * consistent, so what these return may lag the last write by a moment; a Query returns one partition in sort-key order, so a read over
 * several shards or partitions merges the pages itself; FilterExpression applies after Limit,
 * so the page reader keeps reading until it has a page of matches.
 */
import { QueryCommand, type QueryCommandInput } from "@aws-sdk/lib-dynamodb";
import type { JobState } from "../../pbs/types.js";
import type { JobStore } from "../../ports/store.js";
import type { JobRecord } from "../../server/job.js";
import type { JobPage, JobPageQuery, WaitingJob } from "../../server/records.js";
import { pagePartitions } from "./indexes.js";
import { stripItem } from "./items.js";
import { TableAccess } from "./table-access.js";
import { keys, LIST_INDEX, READY_INDEX, RUN_INDEX, WAIT_INDEX } from "./table.js";

/** The JobStore methods that read an index (the rest are jobs.ts). */
export type JobIndexRead =
  | "queryReady"
  | "queryRunning"
  | "listJobs"
  | "listSubjobs"
  | "finishedSubjobs"
  | "queryWaiting"
  | "listJobPage";

/** Items read per request by the page reader: a page plus slack for filtered-out jobs. */
const READ_BATCH = 100;

export class DynamoJobIndexes extends TableAccess implements Pick<JobStore, JobIndexRead> {
  /** Top `limit` ready jobs of a queue, in scheduling order, merged over the index shards. */
  async queryReady(queue: string, limit: number): Promise<JobRecord[]> {
    const pages = await Promise.all(
      keys.readyShards(queue).map((k) =>
        this.doc.send(
          new QueryCommand({
            TableName: this.table,
            IndexName: READY_INDEX,
            KeyConditionExpression: "rdy = :k",
            ExpressionAttributeValues: { ":k": k },
            Limit: limit,
          }),
        ),
      ),
    );
    const all = pages.flatMap((p) =>
      (p.Items ?? []).map((it) => ({ sk: String(it.rdySk), job: stripItem(it) })),
    );
    all.sort((a, b) => (a.sk < b.sk ? -1 : a.sk > b.sk ? 1 : 0));
    return all.slice(0, limit).map((x) => x.job);
  }

  /** Jobs holding resources in a partition (R and E). Bounded by what the partition can run. */
  async queryRunning(partition: string): Promise<JobRecord[]> {
    return this.queryAll({
      TableName: this.table,
      IndexName: RUN_INDEX,
      KeyConditionExpression: "run = :k",
      ExpressionAttributeValues: { ":k": partition },
    });
  }

  /** Jobs of a queue for qstat: active ones, or finished ones (history), newest last. */
  async listJobs(
    queue: string,
    finished: boolean,
    opts: { sub?: boolean; limit?: number } = {},
  ): Promise<JobRecord[]> {
    const k = `${finished ? "F" : "A"}#${queue}${opts.sub ? "#sub" : ""}`;
    return this.queryAll(
      {
        TableName: this.table,
        IndexName: LIST_INDEX,
        KeyConditionExpression: "lst = :k",
        ExpressionAttributeValues: { ":k": k },
      },
      opts.limit,
    );
  }

  /** Subjobs of an array parent (qstat -t), active and finished. */
  async listSubjobs(parent: JobRecord): Promise<JobRecord[]> {
    const out: JobRecord[] = [];
    for (const fin of [false, true]) {
      const items = await this.queryAll({
        TableName: this.table,
        IndexName: LIST_INDEX,
        KeyConditionExpression: "lst = :k AND lstSk = :s",
        ExpressionAttributeValues: {
          ":k": `${fin ? "F" : "A"}#${parent.queue}#sub`,
          ":s": keys.listSort(parent.seq),
        },
      });
      out.push(...items);
    }
    return out.sort((a, b) => (a.arrayIndex ?? 0) - (b.arrayIndex ?? 0));
  }

  /**
   * Jobs that wait on other jobs (dependencies, or an array's subjobs), as the wait index
   * projects them. Bounded by those jobs: no other job is in the index.
   */
  async queryWaiting(): Promise<WaitingJob[]> {
    return (await this.queryAll({
      TableName: this.table,
      IndexName: WAIT_INDEX,
      KeyConditionExpression: "wt = :k",
      ExpressionAttributeValues: { ":k": keys.wait() },
    })) as WaitingJob[];
  }

  /** Finished subjobs of an array parent (from the list index). */
  async finishedSubjobs(parent: Pick<JobRecord, "queue" | "seq">): Promise<JobRecord[]> {
    return this.queryAll({
      TableName: this.table,
      IndexName: LIST_INDEX,
      KeyConditionExpression: "lst = :k AND lstSk = :s",
      ExpressionAttributeValues: { ":k": `F#${parent.queue}#sub`, ":s": keys.listSort(parent.seq) },
    });
  }

  /**
   * One page of a site's jobs for the dashboard, newest first, filtered on the server. Reads the
   * `list` index only (one Query per queue and active/finished partition, no Scan): each partition
   * is read backwards from the cursor until it has a page of matches, then the pages are merged.
   * The cursor is the last sequence number returned, so it stays valid while jobs change.
   */
  async listJobPage(q: JobPageQuery): Promise<JobPage> {
    const { parts, states } = pagePartitions(q);
    const pages = await Promise.all(parts.map((p) => this.readPartition(p, q, states)));
    const all = pages.flatMap((p) => p.jobs).sort((a, b) => b.seq - a.seq);
    const jobs = all.slice(0, q.limit);
    const more = all.length > q.limit || pages.some((p) => p.more);
    return { jobs, next: more && jobs.length ? jobs[jobs.length - 1].seq : undefined };
  }

  private async readPartition(
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
      TableName: this.table,
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
      const r = await this.doc.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
      for (const it of r.Items ?? []) jobs.push(stripItem(it));
      start = r.LastEvaluatedKey;
    } while (start && jobs.length <= q.limit);
    return { jobs, more: !!start || jobs.length > q.limit };
  }
}
