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
 *
 * The list index projects little (LIST_ATTRS, table.ts), so that a job's writes do not rewrite its
 * entry: a read that shows jobs (a page, an array's subjobs) reads the rows it shows from the
 * table by key (BatchGetItem of the `A` items, no script), never more than it shows.
 */
import { batchGet } from "./batch-get.js";
import { QueryCommand, type QueryCommandInput } from "@aws-sdk/lib-dynamodb";
import type { JobState } from "../../pbs/types.js";
import type { JobStore } from "../../ports/store.js";
import type { JobRecord } from "../../server/job.js";
import type { JobPage, JobPageQuery, ListedJob, WaitingJob } from "../../server/records.js";
import { pagePartitions } from "./indexes.js";
import { stripItem } from "./items.js";
import { TableAccess } from "./table-access.js";
import { keys, LIST_INDEX, READY_INDEX, READY_SHARDS, RUN_INDEX, WAIT_INDEX } from "./table.js";

/** The JobStore methods that read an index (the rest are jobs.ts). */
export type JobIndexRead =
  | "queryReady"
  | "queryRunning"
  | "listJobs"
  | "listSubjobs"
  | "finishedSubjobs"
  | "queryWaiting"
  | "listJobPage";

/**
 * Rows a ready shard is read first: its even share of `limit` and a slack for the unevenness of
 * priorities across shards (a shard holds the jobs of every 4th seq), so that a queue whose top
 * jobs spread as seqs do reads each shard once.
 */
export function readyShare(limit: number): number {
  return Math.ceil(limit / READY_SHARDS) + Math.max(2, Math.ceil(limit / 16));
}

interface ReadyShard {
  k: string;
  rows: { sk: string; job: JobRecord }[];
  start?: Record<string, unknown>;
  /** the shard may hold rows after those read */
  more: boolean;
}

const lastSk = (sh: ReadyShard) => sh.rows[sh.rows.length - 1]?.sk ?? "";

/** Items read per request by the page reader: a page plus slack for filtered-out jobs. */
const READ_BATCH = 100;

export class DynamoJobIndexes extends TableAccess implements Pick<JobStore, JobIndexRead> {
  /**
   * Top `limit` ready jobs of a queue, in scheduling order, merged over the index shards.
   *
   * Why not `Limit: limit` on every shard: the top `limit` are spread over the shards (by seq),
   * so that read returns up to 4× what is kept, and on DynamoDB Local the rows read are most of
   * a cycle's CPU (issue 14: ~50 ms for 4 × 200 rows against ~10 ms for 4 × 24). Each shard is
   * read a share (`readyShare`) first; the merge is exact up to the frontier, the smallest last
   * sort key among the shards that have more, since no unread row of theirs sorts before it.
   * While fewer than `limit` rows lie within the frontier, the shard at the frontier reads its
   * next share (from where it stopped), so a skewed queue (the top jobs all in one shard) costs
   * more requests, never a wrong order.
   */
  async queryReady(queue: string, limit: number): Promise<JobRecord[]> {
    if (limit <= 0) return [];
    const share = readyShare(limit);
    const shards: ReadyShard[] = keys.readyShards(queue).map((k) => ({ k, rows: [], more: true }));
    await Promise.all(shards.map((sh) => this.readShard(sh, share)));
    for (;;) {
      const open = shards.filter((sh) => sh.more);
      const frontier = open.length === 0 ? undefined : open.reduce((a, b) => (lastSk(a) < lastSk(b) ? a : b));
      const merged = shards.flatMap((sh) => sh.rows);
      const within = frontier ? merged.filter((r) => r.sk <= lastSk(frontier)) : merged;
      if (!frontier || within.length >= limit) {
        within.sort((a, b) => (a.sk < b.sk ? -1 : a.sk > b.sk ? 1 : 0));
        return within.slice(0, limit).map((x) => x.job);
      }
      await this.readShard(frontier, Math.max(share, limit - within.length));
    }
  }

  /** The next `n` rows of one ready shard, after those already read. */
  private async readShard(sh: ReadyShard, n: number): Promise<void> {
    const page = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: READY_INDEX,
        KeyConditionExpression: "rdy = :k",
        ExpressionAttributeValues: { ":k": sh.k },
        Limit: n,
        ...(sh.start && { ExclusiveStartKey: sh.start }),
      }),
    );
    for (const it of page.Items ?? []) sh.rows.push({ sk: String(it.rdySk), job: stripItem(it) });
    sh.start = page.LastEvaluatedKey;
    // a page short of Limit is the shard's end; a full one may have more (LastEvaluatedKey)
    sh.more = page.LastEvaluatedKey !== undefined && (page.Items?.length ?? 0) > 0;
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

  /** Jobs of a queue as the list index holds them: active ones, or finished ones (history), newest last. */
  async listJobs(
    queue: string,
    finished: boolean,
    opts: { sub?: boolean; limit?: number } = {},
  ): Promise<ListedJob[]> {
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
    out.sort((a, b) => (a.arrayIndex ?? 0) - (b.arrayIndex ?? 0));
    return this.records(
      out.map((j) => j.key),
      true,
    );
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
    const listed = await this.queryAll({
      TableName: this.table,
      IndexName: LIST_INDEX,
      KeyConditionExpression: "lst = :k AND lstSk = :s",
      ExpressionAttributeValues: { ":k": `F#${parent.queue}#sub`, ":s": keys.listSort(parent.seq) },
    });
    return this.records(
      listed.map((j) => j.key),
      true,
    );
  }

  /**
   * The `A` items of `jobKeys` (the script is in the B item: job-script.ts; a listing never shows
   * it), in that order, each once (a job read from two list partitions as it moved between them,
   * active to finished, is one row); keys whose job is gone since the index was read are left out.
   * BatchGetItem takes 100 keys and may return some unprocessed, which are asked again.
   */
  private async records(jobKeys: string[], consistent: boolean): Promise<JobRecord[]> {
    const got = new Map<string, JobRecord>();
    const items = await batchGet(
      this.doc,
      this.table,
      jobKeys.map((k) => keys.job(k)),
      { consistent },
    );
    for (const it of items) {
      // an item from before the script's split carries it inline: a listing leaves it out
      const { script: _script, ...j } = stripItem(it);
      got.set(j.key, j as JobRecord);
    }
    return [...new Set(jobKeys)].flatMap((k) => got.get(k) ?? []);
  }

  /**
   * One page of a site's jobs (the dashboard's newest first, qstat's oldest first), filtered on
   * the server. One Query per queue and active/finished partition on the `list` index (no Scan):
   * each partition is read from the cursor on until it has a page of matches, the pages are
   * merged, and the page's rows are read from the table (the index holds too little to show
   * them). The cursor is the last sequence number returned, so it stays valid while jobs change.
   */
  async listJobPage(q: JobPageQuery): Promise<JobPage> {
    const { parts, states } = pagePartitions(q);
    const newest = q.order !== "oldest";
    const pages = await Promise.all(parts.map((p) => this.readPartition(p, q, states)));
    // The partitions are read side by side, not at one instant: a job that ends (or is moved to
    // another queue) between two of the reads is in both. It is listed once; its row is read
    // from the table below, as it is now. (BatchGetItem would also refuse the repeated key.)
    const once = new Map(pages.flatMap((p) => p.jobs).map((j) => [j.key, j]));
    const all = [...once.values()].sort((a, b) => (newest ? b.seq - a.seq : a.seq - b.seq));
    const listed = all.slice(0, q.limit);
    const more = all.length > q.limit || pages.some((p) => p.more);
    const jobs = await this.records(
      listed.map((j) => j.key),
      false,
    );
    return { jobs, next: more && listed.length ? listed[listed.length - 1].seq : undefined };
  }

  private async readPartition(
    lst: string,
    q: JobPageQuery,
    states: JobState[] | undefined,
  ): Promise<{ jobs: ListedJob[]; more: boolean }> {
    const names: Record<string, string> = {};
    const values: Record<string, unknown> = { ":k": lst };
    const filters: string[] = [];
    const newest = q.order !== "oldest";
    let cond = "lst = :k";
    if (newest && q.before !== undefined) {
      cond += " AND lstSk < :b";
      values[":b"] = keys.listSort(q.before);
    }
    if (!newest && q.after !== undefined) {
      cond += " AND lstSk > :b";
      values[":b"] = keys.listSort(q.after);
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
      ScanIndexForward: !newest,
      Limit: Math.max(READ_BATCH, q.limit + 1),
    };
    if (filters.length) {
      input.FilterExpression = filters.join(" AND ");
      input.ExpressionAttributeNames = names;
    }
    const jobs: ListedJob[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const r = await this.doc.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
      for (const it of r.Items ?? []) jobs.push(stripItem(it) as ListedJob);
      start = r.LastEvaluatedKey;
    } while (start && jobs.length <= q.limit);
    return { jobs, more: !!start || jobs.length > q.limit };
  }
}
