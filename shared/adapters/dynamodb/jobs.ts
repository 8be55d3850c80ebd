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
import { batchGet } from "./batch-get.js";
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import type { JobRecord } from "../../server/job.js";
import type { JobReadOptions, JobStore, JobWrite } from "../../ports/store.js";
import type { AcctRecord, EdgeRecord, UsageCharge } from "../../server/records.js";
import { StoreError } from "../../errors.js";
import { batchPut } from "./batch-put.js";
import { classifyStoreError, retryBusy } from "./errors.js";
import type { JobIndexRead } from "./job-indexes.js";
import {
  acctItem,
  buildJobUpdate,
  chargesUpdate,
  chargeUpdate,
  jobItemSize,
  markParentHasDeps,
  newJobItem,
  stripItem,
} from "./items.js";
import { groupsShareItems, mergeCharges, planJobGroups } from "./job-groups.js";
import { jobWithScriptQuery, SCRIPT_SK, scriptKey, scriptPut, withScript } from "./job-script.js";
import type { ScriptLeaseMethods } from "./script-leases.js";
import { TableAccess } from "./table-access.js";
import { keys } from "./table.js";

/**
 * How a group of plain job writes (no accounting record, no charge: every hot-path write) is
 * sent. The per-write outcome is the same either way (each is conditional on its own ver, and a
 * lost race is that write's ConflictError alone); what differs is the price of the group:
 *   "singles"       one conditional write each, side by side. DynamoDB bills a transaction's
 *                   items twice (a job item: 2 WRU, not 1), and a group of independent writes
 *                   gains nothing from atomicity: the choice on AWS, where capacity is billed
 *                   and scales out (lambdas/env.ts).
 *   "transactions"  shared transactions, as the writes with records go. DynamoDB Local is one
 *                   JVM on the site's own cores and pays per commit: one 25-item transaction
 *                   carries ~2.3× the items per second of single UpdateItems (bench/ddb-ceiling
 *                   .mts), so the local runtime (infra/local/runtime.ts) sends its groups this way.
 */
export type PlainGroupWrites = "singles" | "transactions";

export class DynamoJobs extends TableAccess implements Omit<JobStore, JobIndexRead | ScriptLeaseMethods> {
  constructor(
    doc: DynamoDBDocumentClient,
    table: string,
    private readonly plainGroups: PlainGroupWrites = "singles",
  ) {
    super(doc, table);
  }

  /** Bytes the job's item takes in this table (the same item createJob writes). */
  jobItemBytes(job: JobRecord): number {
    return jobItemSize(job);
  }

  async getJob(key: string, consistent = true, opts: JobReadOptions = {}): Promise<JobRecord | undefined> {
    if (opts.script === false) {
      // the job item alone: its script item is not read (a record from before the split
      // carries its script inline: left out as well, so the caller sees the same either way)
      const g = await this.doc.send(
        new GetCommand({ TableName: this.table, Key: keys.job(key), ConsistentRead: consistent }),
      );
      return g.Item ? withoutScript(stripItem(g.Item)) : undefined;
    }
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

  /**
   * Records of several jobs (BatchGetItem, strongly consistent), by key: with their scripts (the
   * B items asked beside the jobs', 50 jobs a request), or without (`script: false`: the job
   * items only, 100 a request; BatchGetItem bills each item by its own size rounded up to 4 KB,
   * so leaving the script items out halves the read units of an obituary batch's read).
   */
  async getJobs(jobKeys: string[], opts: JobReadOptions = {}): Promise<Map<string, JobRecord>> {
    const out = new Map<string, JobRecord>();
    const scripts = new Map<string, Record<string, unknown>>();
    const withScripts = opts.script !== false;
    const items = await batchGet(
      this.doc,
      this.table,
      // a key given twice is asked once (batchGet)
      jobKeys.flatMap((k) => (withScripts ? [keys.job(k), scriptKey(k)] : [keys.job(k)])),
      { consistent: true },
    );
    for (const it of items) {
      if (it.sk === SCRIPT_SK) scripts.set(String(it.pk), it);
      else {
        const j = stripItem(it);
        out.set(j.key, j);
      }
    }
    for (const [k, j] of out)
      out.set(k, withScripts ? withScript(j, scripts.get(keys.job(k).pk)) : withoutScript(j));
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
    const out: { job?: JobRecord; edge?: EdgeRecord } = {};
    let script: Record<string, unknown> | undefined;
    const items = await batchGet(
      this.doc,
      this.table,
      [keys.job(key), scriptKey(key), keys.edge(key, childId)],
      {
        consistent: true,
      },
    );
    for (const it of items) {
      if (it.sk === "A") out.job = stripItem(it);
      else if (it.sk === SCRIPT_SK) script = it;
      else out.edge = { parentKey: key, childId: it.childId, type: it.type, site: it.site };
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
   * The script items of a group's new jobs (writeJobs): BatchWriteItem, 25 a request, instead of
   * one PutItem each (batch-put.ts): the same plain Puts (no transaction: a transactional write
   * costs twice), in a tenth of the requests when submissions arrive together. The error of each
   * job's script, or undefined when it landed.
   */
  private putScripts(jobs: JobRecord[]): Promise<(Error | undefined)[]> {
    return batchPut(
      this.doc,
      this.table,
      jobs.map((j) => scriptPut(this.table, j).Item),
      (err, i) => classifyStoreError(err, `job ${jobs[i].id}: its script could not be stored`),
    );
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
    // nothing for the script item: its lease (job-script.ts) outlives the job's end and history
    return this.updateItem(before, after, acct, charge);
  }

  /** updateJob's write of the job item (writeJobs' plain and single writes too). */
  private async updateItem(
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

  /**
   * Group commit (JobStore.writeJobs): the writes go in shared transactions (planJobGroups).
   * When DynamoDB cancels one, its CancellationReasons say, item by item, which condition
   * failed: those writes get their ConflictError (or StoreError) and the rest are sent again as a
   * group, until a transaction lands or nothing is left. A group of one is the single write.
   */
  async writeJobs(writes: JobWrite[]): Promise<(JobRecord | Error)[]> {
    const out: (JobRecord | Error)[] = new Array(writes.length);
    const actions: (NonNullable<TransactWriteCommandInput["TransactItems"]> | undefined)[] = writes.map(
      (w, i) => {
        try {
          return this.writeActions(w);
        } catch (err) {
          out[i] = err as Error; // the state table refused it: nothing to send
          return undefined;
        }
      },
    );
    // New jobs' script items first, as createJob does (job-script.ts): a job item never exists
    // without its script; a script that fails to land fails only its own create.
    const creates = writes.map((_, i) => i).filter((i) => writes[i].create && actions[i]);
    const scriptErrs = await this.putScripts(creates.map((i) => writes[i].create as JobRecord));
    creates.forEach((i, k) => {
      const err = scriptErrs[k];
      if (!err) return;
      out[i] = err;
      actions[i] = undefined;
    });
    const ok = writes.map((_, i) => i).filter((i) => actions[i]);
    const groups = planJobGroups(ok.map((i) => writes[i])).map((g) => g.map((j) => ok[j]));
    // Groups that share no item go at once; when some do (one job written twice, one project
    // charged twice), in the planner's order, so the later write of an item comes later.
    if (groupsShareItems(groups.map((g) => g.map((i) => writes[i]))))
      for (const g of groups) await this.commitGroup(g, writes, actions as never, out);
    else await Promise.all(groups.map((g) => this.commitGroup(g, writes, actions as never, out)));
    return out;
  }

  /** The actions of one write, built (and the state table checked) before anything is sent. */
  private writeActions(w: JobWrite): NonNullable<TransactWriteCommandInput["TransactItems"]> {
    const items: NonNullable<TransactWriteCommandInput["TransactItems"]> = [];
    if (w.create)
      items.push({
        Put: {
          TableName: this.table,
          Item: newJobItem(w.create),
          ConditionExpression: "attribute_not_exists(pk)",
        },
      });
    else items.push({ Update: buildJobUpdate(this.table, w.before, w.after) as never });
    if (w.acct) items.push({ Put: { TableName: this.table, Item: acctItem(w.acct) } });
    // its charge goes in merged with the group's other charges of its project (commitGroup)
    return items;
  }

  /** A write without record or charge, alone and not transactional; its script is already put. */
  private async plain(w: JobWrite): Promise<JobRecord | Error> {
    try {
      if (!w.create) return await this.updateItem(w.before, w.after);
      const Item = newJobItem(w.create);
      await retryBusy(() =>
        this.doc.send(
          new PutCommand({ TableName: this.table, Item, ConditionExpression: "attribute_not_exists(pk)" }),
        ),
      );
      return w.create;
    } catch (err) {
      // updateJob classified its own; a create's failed condition is a ConflictError, as createJob's
      return w.create ? classifyStoreError(err, `job ${w.create.id} already exists`) : (err as Error);
    }
  }

  private async single(w: JobWrite): Promise<JobRecord | Error> {
    try {
      if (w.create) {
        await this.createJob(w.create, [], w.acct);
        return w.create;
      }
      return await this.updateItem(w.before, w.after, w.acct, w.charge);
    } catch (err) {
      return err as Error;
    }
  }

  private async commitGroup(
    group: number[],
    writes: JobWrite[],
    actions: NonNullable<TransactWriteCommandInput["TransactItems"]>[],
    out: (JobRecord | Error)[],
  ): Promise<void> {
    // Plain job writes (no record, no charge: every hot-path write since accounting left the
    // job's write, job-end.ts settleEnd) go as single conditional writes, side by side, unless
    // this store sends them in transactions (PlainGroupWrites: billing on AWS, commits on
    // DynamoDB Local). Writes of one job are still in different groups, sent in order (writeJobs).
    if (this.plainGroups === "singles" && group.every((i) => !writes[i].acct && !writes[i].charge)) {
      await Promise.all(group.map(async (i) => (out[i] = await this.plain(writes[i]))));
      return;
    }
    let live = group;
    while (live.length > 1) {
      // one ADD per project, after the writes' own actions: it lands exactly when they all do
      const charges = mergeCharges(live.map((i) => writes[i])).map((cs) => ({
        Update: chargesUpdate(this.table, cs) as never,
      }));
      const items = [...live.flatMap((i) => actions[i]), ...charges];
      try {
        await retryBusy(() => this.doc.send(new TransactWriteCommand({ TransactItems: items })));
        for (const i of live) out[i] = written(writes[i]);
        return;
      } catch (err) {
        const reasons = (err as { CancellationReasons?: { Code?: string }[] }).CancellationReasons;
        if ((err as Error).name !== "TransactionCanceledException" || reasons?.length !== items.length) {
          // No per-item answer: a cancellation without reasons, or a request refused whole (an
          // item over 400 KB is a ValidationException of the request), settles each write
          // alone, so only the bad one fails; busy after retries or unreachable is every write's.
          const e = classifyStoreError(err, "jobs changed concurrently");
          if (
            (err as Error).name === "TransactionCanceledException" ||
            (e instanceof StoreError && !e.retryable)
          ) {
            await Promise.all(live.map(async (i) => (out[i] = await this.single(writes[i]))));
            return;
          }
          for (const i of live) out[i] = e;
          return;
        }
        // Reasons come in the order of the actions: find each write's own. A refused charge
        // (none is conditional) is nobody's alone: settle each write by itself.
        if (reasons.slice(items.length - charges.length).some((r) => (r.Code ?? "None") !== "None")) {
          await Promise.all(live.map(async (i) => (out[i] = await this.single(writes[i]))));
          return;
        }
        let at = 0;
        const settled = new Set<number>();
        for (const i of live) {
          const mine = reasons.slice(at, at + actions[i].length).map((r) => r.Code ?? "None");
          at += actions[i].length;
          if (mine.every((c) => c === "None")) continue;
          const own = {
            name: "TransactionCanceledException",
            CancellationReasons: mine.map((Code) => ({ Code })),
          };
          const e = classifyStoreError(
            own,
            `job ${(writes[i].create ?? writes[i].before)?.id} changed concurrently`,
          );
          // a busy item (TransactionConflict after retries) is not this write's fault alone: try it again alone
          if (e instanceof StoreError && e.retryable) continue;
          out[i] = e;
          settled.add(i);
        }
        if (settled.size === 0) {
          await Promise.all(live.map(async (i) => (out[i] = await this.single(writes[i]))));
          return;
        }
        live = live.filter((i) => !settled.has(i));
      }
    }
    if (live.length === 1) out[live[0]] = await this.single(writes[live[0]]);
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

/** A record as read without its script (JobReadOptions): an inline one is left out too. */
function withoutScript(job: JobRecord): JobRecord {
  const { script: _script, ...rest } = job;
  return rest as JobRecord;
}

/** What a write that landed returns: the record as stored (an update bumps ver). */
function written(w: JobWrite): JobRecord {
  return w.create ? w.create : { ...w.after, ver: w.before.ver + 1 };
}
