/**
 * Jobs, their dependency edges and the job sequence in the site table (JobStore's reads and
 * writes; its index reads are in job-indexes.ts). A job is `JOB#<key>/A`, its edges
 * `JOB#<key>/D#<childId>` in the same partition, so one Query returns a job with its edges.
 *
 * DynamoDB facts that shaped it: every job write is conditional on `ver` (buildJobUpdate,
 * items.ts) and a failed condition is the only thing taken for a lost race (errors.ts); writes
 * that must land together go in one TransactWriteItems (at most 100 items, 4 MB); BatchGetItem
 * takes at most 100 keys and may return some unprocessed, which are asked again; throttled and
 * conflicting transactions are retried inside the store (retryBusy).
 */
import {
  BatchGetCommand,
  DeleteCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import type { JobRecord } from "../../server/job.js";
import type { JobStore } from "../../ports/store.js";
import type { AcctRecord, EdgeRecord, UsageCharge } from "../../server/records.js";
import { classifyStoreError, retryBusy } from "./errors.js";
import type { JobIndexRead } from "./job-indexes.js";
import {
  acctItem,
  buildJobUpdate,
  chargeUpdate,
  jobItemSize,
  markParentHasDeps,
  newJobItem,
  stripItem,
} from "./items.js";
import { jobWithScriptQuery, SCRIPT_SK, scriptKey, scriptPut, withScript } from "./job-script.js";
import { TableAccess } from "./table-access.js";
import { keys } from "./table.js";

export class DynamoJobs extends TableAccess implements Omit<JobStore, JobIndexRead> {
  /** Bytes the job's item takes in this table (the same item createJob writes). */
  jobItemBytes(job: JobRecord): number {
    return jobItemSize(job);
  }

  async getJob(key: string, consistent = true): Promise<JobRecord | undefined> {
    // the job and its script item in one Query (job-script.ts)
    const r = await this.doc.send(new QueryCommand(jobWithScriptQuery(this.table, key, consistent)));
    const a = r.Items?.find((it) => it.sk === "A");
    return a
      ? withScript(
          stripItem(a),
          r.Items?.find((it) => it.sk === SCRIPT_SK),
        )
      : undefined;
  }

  /** Full records of several jobs (BatchGetItem, strongly consistent), by key. */
  async getJobs(jobKeys: string[]): Promise<Map<string, JobRecord>> {
    const out = new Map<string, JobRecord>();
    const uniq = [...new Set(jobKeys)];
    const scripts = new Map<string, Record<string, unknown>>();
    // 50 jobs a request: each with its script item (job-script.ts)
    for (let i = 0; i < uniq.length; i += 50) {
      let req: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead: boolean }> | undefined = {
        [this.table]: {
          Keys: uniq.slice(i, i + 50).flatMap((k) => [keys.job(k), scriptKey(k)]),
          ConsistentRead: true,
        },
      };
      while (req && Object.keys(req).length) {
        const r = await this.doc.send(new BatchGetCommand({ RequestItems: req }));
        for (const it of r.Responses?.[this.table] ?? []) {
          if (it.sk === SCRIPT_SK) scripts.set(String(it.pk), it);
          else {
            const j = stripItem(it);
            out.set(j.key, j);
          }
        }
        req = r.UnprocessedKeys as typeof req;
      }
    }
    for (const [k, j] of out) out.set(k, withScript(j, scripts.get(keys.job(k).pk)));
    return out;
  }

  /** The job and every dependency edge hanging off it, in one query. */
  async getJobWithEdges(key: string): Promise<{ job?: JobRecord; edges: EdgeRecord[] }> {
    const edges: EdgeRecord[] = [];
    let job: JobRecord | undefined;
    let script: Record<string, unknown> | undefined;
    let start: Record<string, unknown> | undefined;
    do {
      const r = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "pk = :pk",
          ExpressionAttributeValues: { ":pk": `JOB#${key}` },
          ConsistentRead: true,
          ExclusiveStartKey: start,
        }),
      );
      for (const it of r.Items ?? []) {
        if (it.sk === "A") job = stripItem(it);
        else if (it.sk === SCRIPT_SK) script = it;
        else if (String(it.sk).startsWith("D#"))
          edges.push({ parentKey: key, childId: it.childId, type: it.type, site: it.site });
      }
      start = r.LastEvaluatedKey;
    } while (start);
    return { job: job && withScript(job, script), edges };
  }

  /**
   * A job and one of its edges, in one request (BatchGetItem, strongly consistent): a peer's
   * repeated DEPEND_REGISTER finds its edge already there and writes nothing.
   */
  async getJobAndEdge(key: string, childId: string): Promise<{ job?: JobRecord; edge?: EdgeRecord }> {
    let req: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead: boolean }> | undefined = {
      [this.table]: { Keys: [keys.job(key), scriptKey(key), keys.edge(key, childId)], ConsistentRead: true },
    };
    const out: { job?: JobRecord; edge?: EdgeRecord } = {};
    let script: Record<string, unknown> | undefined;
    while (req && Object.keys(req).length) {
      const r = await this.doc.send(new BatchGetCommand({ RequestItems: req }));
      for (const it of r.Responses?.[this.table] ?? []) {
        if (it.sk === "A") out.job = stripItem(it);
        else if (it.sk === SCRIPT_SK) script = it;
        else out.edge = { parentKey: key, childId: it.childId, type: it.type, site: it.site };
      }
      req = r.UnprocessedKeys as typeof req;
    }
    if (out.job) out.job = withScript(out.job, script);
    return out;
  }

  /** Create a job (fails if the key exists), optionally with edges under its parents in the same transaction. */
  async createJob(
    job: JobRecord,
    edges: EdgeRecord[] = [],
    acct?: AcctRecord,
    updates: { before: JobRecord; after: JobRecord }[] = [],
  ): Promise<void> {
    const put = {
      TableName: this.table,
      Item: newJobItem(job),
      ConditionExpression: "attribute_not_exists(pk)",
    };
    if (edges.length === 0 && !acct && updates.length === 0) {
      await this.putScript(job);
      try {
        await retryBusy(() => this.doc.send(new PutCommand(put)));
      } catch (err) {
        throw classifyStoreError(err, `job ${job.id} already exists`);
      }
      return;
    }
    const items: NonNullable<TransactWriteCommandInput["TransactItems"]> = [{ Put: put }];
    for (const u of updates) items.push({ Update: buildJobUpdate(this.table, u.before, u.after) as never });
    for (const e of edges) {
      if (e.parentKey === job.key) {
        // an edge from the job being created (before-type dependency): it exists only with this Put
        items.push({
          Put: {
            TableName: this.table,
            Item: { ...keys.edge(e.parentKey, e.childId), childId: e.childId, type: e.type },
          },
        });
        continue;
      }
      // The parent must still be unfinished when the edge lands; otherwise its end-of-job
      // release could already have run and would never see this edge.
      items.push({
        Update: markParentHasDeps(this.table, e.parentKey),
      });
      items.push({
        Put: {
          TableName: this.table,
          Item: { ...keys.edge(e.parentKey, e.childId), childId: e.childId, type: e.type },
        },
      });
    }
    if (acct) items.push({ Put: { TableName: this.table, Item: acctItem(acct) } });
    await this.putScript(job);
    try {
      await retryBusy(() => this.doc.send(new TransactWriteCommand({ TransactItems: items })));
    } catch (err) {
      throw classifyStoreError(err, `job ${job.id}: a parent changed while submitting`);
    }
  }

  /**
   * A new job's script item, written before the job item once every check that needs no round
   * trip has passed (job-script.ts): plain Put, outside the job's transaction (a transactional
   * write costs twice), unconditional because the key is this new job's, so a retry rewrites the
   * same bytes. A job item never exists without its script; a failed create may leave a script
   * item no job points at, which the next create of that key overwrites.
   */
  private async putScript(job: JobRecord): Promise<void> {
    try {
      await retryBusy(() => this.doc.send(new PutCommand(scriptPut(this.table, job))));
    } catch (err) {
      throw classifyStoreError(err, `job ${job.id}: its script could not be stored`);
    }
  }

  /**
   * Conditional update from `before` to `after`; returns `after` with the new ver. Throws
   * ConflictError on a lost race. The accounting record and the usage charge, when given, land in
   * the same transaction: a job's end is charged exactly once.
   */
  async updateJob(
    before: JobRecord,
    after: JobRecord,
    acct?: AcctRecord,
    charge?: UsageCharge,
  ): Promise<JobRecord> {
    const input = buildJobUpdate(this.table, before, after);
    try {
      if (acct || charge) {
        const items: NonNullable<TransactWriteCommandInput["TransactItems"]> = [{ Update: input as never }];
        if (acct) items.push({ Put: { TableName: this.table, Item: acctItem(acct) } });
        if (charge) items.push({ Update: chargeUpdate(this.table, charge) as never });
        await retryBusy(() => this.doc.send(new TransactWriteCommand({ TransactItems: items })));
      } else {
        await retryBusy(() => this.doc.send(new UpdateCommand(input)));
      }
    } catch (err) {
      throw classifyStoreError(err, `job ${before.id} changed concurrently`);
    }
    return { ...after, ver: before.ver + 1 };
  }

  async purgeJob(before: JobRecord): Promise<void> {
    try {
      await retryBusy(() =>
        this.doc.send(
          new DeleteCommand({
            TableName: this.table,
            Key: keys.job(before.key),
            ConditionExpression: "ver = :v",
            ExpressionAttributeValues: { ":v": before.ver },
          }),
        ),
      );
    } catch (err) {
      throw classifyStoreError(err, `job ${before.id} changed concurrently`);
    }
    await retryBusy(() =>
      this.doc.send(new DeleteCommand({ TableName: this.table, Key: scriptKey(before.key) })),
    );
  }

  /** Several job changes (and new jobs) atomically: used to start array subjobs with their parent. */
  async transactJobs(
    updates: { before: JobRecord; after: JobRecord }[],
    creates: JobRecord[] = [],
  ): Promise<void> {
    const items: NonNullable<TransactWriteCommandInput["TransactItems"]> = [];
    for (const u of updates) items.push({ Update: buildJobUpdate(this.table, u.before, u.after) as never });
    for (const c of creates) {
      items.push({ Put: scriptPut(this.table, c) });
      items.push({
        Put: { TableName: this.table, Item: newJobItem(c), ConditionExpression: "attribute_not_exists(pk)" },
      });
    }
    try {
      await retryBusy(() => this.doc.send(new TransactWriteCommand({ TransactItems: items })));
    } catch (err) {
      throw classifyStoreError(err, "jobs changed concurrently");
    }
  }

  /**
   * Add an edge under an existing, unfinished parent (a peer's child registering); sets the
   * parent's hasDeps in the same transaction. ConflictError if the parent has finished.
   */
  async addEdge(e: EdgeRecord): Promise<void> {
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Update: markParentHasDeps(this.table, e.parentKey),
            },
            {
              Put: {
                TableName: this.table,
                Item: {
                  ...keys.edge(e.parentKey, e.childId),
                  childId: e.childId,
                  type: e.type,
                  site: e.site,
                },
              },
            },
          ],
        }),
      );
    } catch (err) {
      throw classifyStoreError(err, `job ${e.parentKey} has finished`);
    }
  }

  async deleteEdge(parentKey: string, childId: string): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.table, Key: keys.edge(parentKey, childId) }));
  }

  /** Reserve `n` consecutive sequence numbers; returns the first. */
  async reserveSeq(n: number): Promise<number> {
    const r = await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: keys.seq(),
        UpdateExpression: "ADD nextSeq :n",
        ExpressionAttributeValues: { ":n": n },
        ReturnValues: "UPDATED_NEW",
      }),
    );
    const last = Number(r.Attributes?.nextSeq);
    return last - n + 1;
  }
}
