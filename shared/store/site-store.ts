/**
 * Data access for one site's table, named by verb (getJob, createJob, updateJob, ...).
 * Request parameters are built by pure functions (buildJobUpdate) so they are testable with no
 * network; every job change is conditional on the job's `ver`.
 */
import {
  BatchGetCommand,
  BatchWriteCommand,
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  type QueryCommandInput,
  TransactWriteCommand,
  type TransactWriteCommandInput,
  UpdateCommand,
  type UpdateCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { randomUUID } from "node:crypto";
import { ConflictError } from "../errors.js";
import { checkCreatedIn, checkTransition } from "../pbs/states.js";
import { type IndexAttrs, indexAttrs, type JobRecord, TRANSFER_PARTITION } from "../server/job.js";
import type { SiteStore } from "../ports/store.js";
import type {
  AcctRecord,
  AuditRecord,
  EdgeRecord,
  JobPage,
  JobPageQuery,
  MomBeat,
  PeerMessageClaim,
  PeerSeen,
  ProjectRecord,
  ServerObject,
  StatSample,
  TransferRecord,
  UsageCharge,
  WaitingJob,
} from "../server/records.js";
import { itemSize } from "./item-size.js";
import { listJobPage } from "./job-pages.js";
import { getStatSamples, putStatSample } from "./stats.js";
import { classifyStoreError, retryBusy } from "./store-errors.js";
import { keys, LIST_INDEX, READY_INDEX, RUN_INDEX, WAIT_INDEX } from "./table.js";

const INDEX_FIELDS: (keyof IndexAttrs)[] = ["rdy", "rdySk", "run", "runSk", "lst", "lstSk", "wt", "wtSk"];
const NEVER_PATCH = new Set(["pk", "sk", "id", "key", "seq", "ver", ...INDEX_FIELDS]);

/**
 * UpdateItem input that moves `before` to `after`: SETs changed fields, REMOVEs cleared ones,
 * keeps the sparse index attributes in step with the state, bumps `ver`, and succeeds only if
 * nobody changed the job since `before` was read. Throws IllegalTransitionError, before anything
 * is sent, when the state table forbids `before.state -> after.state`: every job update (alone,
 * with an accounting record, or in a transaction) is built here.
 */
export function buildJobUpdate(table: string, before: JobRecord, after: JobRecord): UpdateCommandInput {
  checkTransition(before.id, before.state, after.state);
  const sets: string[] = [];
  const removes: string[] = [];
  const names: Record<string, string> = { "#ver": "ver" };
  const values: Record<string, unknown> = { ":ver": before.ver, ":one": 1 };
  let i = 0;
  const set = (field: string, value: unknown) => {
    i++;
    names[`#f${i}`] = field;
    values[`:v${i}`] = value;
    sets.push(`#f${i} = :v${i}`);
  };
  const remove = (field: string) => {
    i++;
    names[`#f${i}`] = field;
    removes.push(`#f${i}`);
  };
  const b = before as unknown as Record<string, unknown>;
  const a = after as unknown as Record<string, unknown>;
  for (const field of new Set([...Object.keys(b), ...Object.keys(a)])) {
    if (NEVER_PATCH.has(field)) continue;
    const va = a[field];
    if (va === undefined) {
      if (b[field] !== undefined) remove(field);
    } else if (JSON.stringify(va) !== JSON.stringify(b[field])) set(field, va);
  }
  const ib = indexAttrs(before);
  const ia = indexAttrs(after);
  for (const f of INDEX_FIELDS) {
    if (ia[f] === undefined) {
      if (ib[f] !== undefined) remove(f);
    } else if (ia[f] !== ib[f]) set(f, ia[f]);
  }
  sets.push("#ver = #ver + :one");
  let expr = `SET ${sets.join(", ")}`;
  if (removes.length) expr += ` REMOVE ${removes.join(", ")}`;
  return {
    TableName: table,
    Key: keys.job(before.key),
    UpdateExpression: expr,
    ConditionExpression: "#ver = :ver",
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
    ReturnValues: "NONE",
  };
}

/** The item a new job is stored as: the record plus its index attributes. */
export function jobItem(job: JobRecord): Record<string, unknown> {
  return { ...keys.job(job.key), ...job, ...indexAttrs(job) };
}

/**
 * The item a job is created as, once its state is checked against the states a job may be
 * created in (IllegalTransitionError otherwise): every create (createJob, transactJobs,
 * createInbound) builds its item here.
 */
export function newJobItem(job: JobRecord): Record<string, unknown> {
  checkCreatedIn(job.id, job.state);
  return jobItem(job);
}

/** Bytes the job's item takes in the table (what createJob writes): submit checks it against a limit. */
export function jobItemSize(job: JobRecord): number {
  return itemSize(jobItem(job));
}

export function stripItem(item: Record<string, unknown>): JobRecord {
  const {
    pk: _pk,
    sk: _sk,
    rdy: _r,
    rdySk: _rs,
    run: _u,
    runSk: _us,
    lst: _l,
    lstSk: _ls,
    wt: _w,
    wtSk: _ws,
    ...rest
  } = item;
  return rest as unknown as JobRecord;
}

/**
 * Only a failed condition is a conflict: an item over the size limit, a validation error or
 * throttling is a StoreError (shared/store/store-errors.ts), never taken for a lost race.
 */
const storeFailure = classifyStoreError;

/** The DynamoDB adapter of every store port: one table per site (shared/store/table.ts). */
export class DynamoSiteStore implements SiteStore {
  constructor(
    readonly doc: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  // ---------- jobs ----------

  /** Bytes the job's item takes in this table (the same item createJob writes). */
  jobItemBytes(job: JobRecord): number {
    return jobItemSize(job);
  }

  async getJob(key: string, consistent = true): Promise<JobRecord | undefined> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: keys.job(key), ConsistentRead: consistent }),
    );
    return r.Item ? stripItem(r.Item) : undefined;
  }

  /** Full records of several jobs (BatchGetItem, strongly consistent), by key. */
  async getJobs(jobKeys: string[]): Promise<Map<string, JobRecord>> {
    const out = new Map<string, JobRecord>();
    const uniq = [...new Set(jobKeys)];
    for (let i = 0; i < uniq.length; i += 100) {
      let req: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead: boolean }> | undefined = {
        [this.table]: { Keys: uniq.slice(i, i + 100).map((k) => keys.job(k)), ConsistentRead: true },
      };
      while (req && Object.keys(req).length) {
        const r = await this.doc.send(new BatchGetCommand({ RequestItems: req }));
        for (const it of r.Responses?.[this.table] ?? []) {
          const j = stripItem(it);
          out.set(j.key, j);
        }
        req = r.UnprocessedKeys as typeof req;
      }
    }
    return out;
  }

  /** The job and every dependency edge hanging off it, in one query. */
  async getJobWithEdges(key: string): Promise<{ job?: JobRecord; edges: EdgeRecord[] }> {
    const edges: EdgeRecord[] = [];
    let job: JobRecord | undefined;
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
        else if (String(it.sk).startsWith("D#"))
          edges.push({ parentKey: key, childId: it.childId, type: it.type, site: it.site });
      }
      start = r.LastEvaluatedKey;
    } while (start);
    return { job, edges };
  }

  /**
   * A job and one of its edges, in one request (BatchGetItem, strongly consistent): a peer's
   * repeated DEPEND_REGISTER finds its edge already there and writes nothing.
   */
  async getJobAndEdge(key: string, childId: string): Promise<{ job?: JobRecord; edge?: EdgeRecord }> {
    let req: Record<string, { Keys: Record<string, unknown>[]; ConsistentRead: boolean }> | undefined = {
      [this.table]: { Keys: [keys.job(key), keys.edge(key, childId)], ConsistentRead: true },
    };
    const out: { job?: JobRecord; edge?: EdgeRecord } = {};
    while (req && Object.keys(req).length) {
      const r = await this.doc.send(new BatchGetCommand({ RequestItems: req }));
      for (const it of r.Responses?.[this.table] ?? []) {
        if (it.sk === "A") out.job = stripItem(it);
        else out.edge = { parentKey: key, childId: it.childId, type: it.type, site: it.site };
      }
      req = r.UnprocessedKeys as typeof req;
    }
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
      try {
        await retryBusy(() => this.doc.send(new PutCommand(put)));
      } catch (err) {
        throw storeFailure(err, `job ${job.id} already exists`);
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
    try {
      await retryBusy(() => this.doc.send(new TransactWriteCommand({ TransactItems: items })));
    } catch (err) {
      throw storeFailure(err, `job ${job.id}: a parent changed while submitting`);
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
      throw storeFailure(err, `job ${before.id} changed concurrently`);
    }
    return { ...after, ver: before.ver + 1 };
  }

  /** Several job changes (and new jobs) atomically: used to start array subjobs with their parent. */
  async transactJobs(
    updates: { before: JobRecord; after: JobRecord }[],
    creates: JobRecord[] = [],
  ): Promise<void> {
    const items: NonNullable<TransactWriteCommandInput["TransactItems"]> = [];
    for (const u of updates) items.push({ Update: buildJobUpdate(this.table, u.before, u.after) as never });
    for (const c of creates) {
      items.push({
        Put: { TableName: this.table, Item: newJobItem(c), ConditionExpression: "attribute_not_exists(pk)" },
      });
    }
    try {
      await retryBusy(() => this.doc.send(new TransactWriteCommand({ TransactItems: items })));
    } catch (err) {
      throw storeFailure(err, "jobs changed concurrently");
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
      throw storeFailure(err, `job ${e.parentKey} has finished`);
    }
  }

  async deleteEdge(parentKey: string, childId: string): Promise<void> {
    await this.doc.send(new DeleteCommand({ TableName: this.table, Key: keys.edge(parentKey, childId) }));
  }

  /** Top `limit` ready jobs of a queue, in scheduling order, merged over the index shards. */
  async queryReady(shardKeys: string[], limit: number): Promise<JobRecord[]> {
    const pages = await Promise.all(
      shardKeys.map((k) =>
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

  private async queryAll(input: QueryCommandInput, limit = Number.POSITIVE_INFINITY): Promise<JobRecord[]> {
    return (await this.queryItems(input, limit)).map(stripItem);
  }

  /** Every item a query matches, page after page (until `limit` items). */
  private async queryItems(
    input: QueryCommandInput,
    limit = Number.POSITIVE_INFINITY,
  ): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const r = await this.doc.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
      out.push(...(r.Items ?? []));
      start = r.LastEvaluatedKey;
    } while (start && out.length < limit);
    return out;
  }

  async listJobPage(q: JobPageQuery): Promise<JobPage> {
    return listJobPage(this, q);
  }

  // ---------- sequence numbers ----------

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

  // ---------- server objects ----------

  async getServerObjects(): Promise<ServerObject[]> {
    const out: ServerObject[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const r = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "pk = :p",
          FilterExpression: "attribute_exists(kind)",
          ExpressionAttributeValues: { ":p": "SRV" },
          ExclusiveStartKey: start,
        }),
      );
      for (const it of r.Items ?? []) {
        if (it.kind) out.push({ kind: it.kind, name: it.name, attrs: it.attrs ?? {}, ver: it.ver ?? 0 });
      }
      start = r.LastEvaluatedKey;
    } while (start);
    return out;
  }

  /**
   * Create (expectVer undefined: must not exist) or replace (must be at expectVer) a server object.
   * qmgr changes are conditional like every other change.
   */
  async putServerObject(obj: ServerObject, expectVer?: number): Promise<void> {
    const key = objKey(obj.kind, obj.name);
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...key, kind: obj.kind, name: obj.name, attrs: obj.attrs, ver: (expectVer ?? -1) + 1 },
          ConditionExpression: expectVer === undefined ? "attribute_not_exists(pk)" : "ver = :v",
          ExpressionAttributeValues: expectVer === undefined ? undefined : { ":v": expectVer },
        }),
      );
    } catch (err) {
      throw storeFailure(
        err,
        expectVer === undefined
          ? `${obj.kind} ${obj.name} already exists`
          : `${obj.kind} ${obj.name} changed concurrently`,
      );
    }
  }

  async deleteServerObject(kind: ServerObject["kind"], name: string, expectVer: number): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: objKey(kind, name),
          ConditionExpression: "ver = :v",
          ExpressionAttributeValues: { ":v": expectVer },
        }),
      );
    } catch (err) {
      throw storeFailure(err, `${kind} ${name} changed concurrently`);
    }
  }

  /** Scheduler cycle summary on the sched object (not versioned: last writer wins, it is a report). */
  async putCycleReport(sched: string, report: Record<string, unknown>): Promise<void> {
    await this.doc.send(
      new PutCommand({ TableName: this.table, Item: { pk: "CYCLE", sk: sched, ...report } }),
    );
  }

  async getCycleReports(): Promise<Record<string, unknown>[]> {
    const r = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: "pk = :p",
        ExpressionAttributeValues: { ":p": "CYCLE" },
      }),
    );
    return r.Items ?? [];
  }

  async putStatSample(s: StatSample): Promise<void> {
    await putStatSample(this, s);
  }

  async getStatSamples(since: number): Promise<StatSample[]> {
    return getStatSamples(this, since);
  }

  // ---------- MOM heartbeats ----------

  async putMomBeat(beat: MomBeat): Promise<void> {
    await this.doc.send(
      new PutCommand({ TableName: this.table, Item: { ...keys.mom(beat.momId), ...beat } }),
    );
  }

  async getMomBeats(momIds: string[]): Promise<Map<string, MomBeat>> {
    const out = new Map<string, MomBeat>();
    const ids = [...new Set(momIds)];
    for (let i = 0; i < ids.length; i += 100) {
      let req: Record<string, { Keys: Record<string, unknown>[] }> | undefined = {
        [this.table]: { Keys: ids.slice(i, i + 100).map((id) => keys.mom(id)) },
      };
      while (req && Object.keys(req).length) {
        const r = await this.doc.send(new BatchGetCommand({ RequestItems: req }));
        for (const it of r.Responses?.[this.table] ?? []) {
          out.set(it.momId, {
            momId: it.momId,
            jobs: it.jobs ?? [],
            at: it.at,
            nonce: it.nonce,
            sig: it.sig,
          });
        }
        req = r.UnprocessedKeys as typeof req;
      }
    }
    return out;
  }

  /**
   * Record a node's MOM boot (its hello) unless a later one is recorded: false when the hello is
   * older than the node's last accepted one (a replay must not undo a newer MOM's adoption).
   * The same hello again (SQS redelivery) is accepted.
   */
  async putMomBoot(node: string, momId: string, sentAt: number): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...keys.mom(`BOOT#${node}`), momId, sentAt },
          ConditionExpression: "attribute_not_exists(pk) OR sentAt < :s OR (sentAt = :s AND momId = :m)",
          ExpressionAttributeValues: { ":s": sentAt, ":m": momId },
        }),
      );
      return true;
    } catch (err) {
      const e = storeFailure(err, `node ${node} has a later MOM boot`);
      if (e instanceof ConflictError) return false;
      throw e;
    }
  }

  // ---------- transfers between sites ----------

  /** Jobs with a transfer step outstanding (in transit, or an end not yet acknowledged). */
  async queryTransfers(): Promise<JobRecord[]> {
    return this.queryAll({
      TableName: this.table,
      IndexName: RUN_INDEX,
      KeyConditionExpression: "run = :k",
      ExpressionAttributeValues: { ":k": TRANSFER_PARTITION },
    });
  }

  async getTransfer(transferId: string): Promise<TransferRecord | undefined> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: keys.xfer(transferId), ConsistentRead: true }),
    );
    if (!r.Item) return undefined;
    return { transferId, status: r.Item.status, key: r.Item.jobKey, newId: r.Item.newId };
  }

  /**
   * Create a job received from a peer together with its transfer record. Fails with
   * ConflictError when the transfer is already known (created before, or aborted): the caller
   * re-reads it and answers from it, so a duplicate or late FORWARD never makes a second job.
   */
  async createInbound(job: JobRecord, transferId: string): Promise<void> {
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.table,
                Item: { ...keys.xfer(transferId), status: "created", jobKey: job.key, newId: job.id },
                ConditionExpression: "attribute_not_exists(pk)",
              },
            },
            {
              Put: {
                TableName: this.table,
                Item: newJobItem(job),
                ConditionExpression: "attribute_not_exists(pk)",
              },
            },
          ],
        }),
      );
    } catch (err) {
      throw storeFailure(err, `transfer ${transferId} already known`);
    }
  }

  /**
   * Abort a received transfer: leave a tombstone so a FORWARD that arrives later creates nothing,
   * and drop the job it made if that job is still waiting for the origin's commit (`job` as read,
   * guarded by its ver). ConflictError if the job changed meanwhile.
   */
  async abortInbound(transferId: string, job?: JobRecord): Promise<void> {
    const items: NonNullable<TransactWriteCommandInput["TransactItems"]> = [
      {
        Put: {
          TableName: this.table,
          Item: { ...keys.xfer(transferId), status: "aborted", jobKey: job?.key, newId: job?.id },
          ...(job ? {} : { ConditionExpression: "attribute_not_exists(pk)" }),
        },
      },
    ];
    if (job) {
      items.push({
        Delete: {
          TableName: this.table,
          Key: keys.job(job.key),
          ConditionExpression: "#ver = :ver AND #st = :t",
          ExpressionAttributeNames: { "#ver": "ver", "#st": "state" },
          ExpressionAttributeValues: { ":ver": job.ver, ":t": "T" },
        },
      });
    }
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (err) {
      throw storeFailure(err, `transfer ${transferId} changed concurrently`);
    }
  }

  async putPeerSeen(p: PeerSeen): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...keys.peer(p.short), ...p } }));
  }

  /**
   * Take a peer message, once: succeeds when no live record of this (peer, id) exists or the
   * record is this same delivery (SQS redelivering a message whose handler failed or was
   * killed); throws ConflictError when another delivery took it (a replay). `now` decides what
   * is live: TTL deletes expired items only eventually.
   */
  async claimPeerMessage(c: PeerMessageClaim, now: number): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            ...keys.peerMessage(c.peer, c.id),
            delivery: c.delivery,
            type: c.type,
            expiresAt: Math.ceil(c.until / 1000),
          },
          ConditionExpression: "attribute_not_exists(pk) OR delivery = :d OR expiresAt < :now",
          ExpressionAttributeValues: { ":d": c.delivery, ":now": Math.floor(now / 1000) },
        }),
      );
    } catch (err) {
      throw storeFailure(err, `message ${c.id} from ${c.peer} already taken`);
    }
  }

  async getPeersSeen(): Promise<PeerSeen[]> {
    const items = await this.queryItems({
      TableName: this.table,
      KeyConditionExpression: "pk = :p",
      ExpressionAttributeValues: { ":p": "PEER" },
      ConsistentRead: true,
    });
    return items.map((it) => ({ short: String(it.short), state: String(it.state), at: Number(it.at) }));
  }

  // ---------- projects: allocations and usage ----------

  async getProject(account: string): Promise<ProjectRecord | undefined> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: keys.project(account), ConsistentRead: true }),
    );
    return r.Item ? projectFrom(r.Item) : undefined;
  }

  async listProjects(): Promise<ProjectRecord[]> {
    const items = await this.queryItems({
      TableName: this.table,
      KeyConditionExpression: "pk = :p",
      ExpressionAttributeValues: { ":p": "PROJ" },
      ConsistentRead: true,
    });
    return items.map(projectFrom);
  }

  /** Set (core-hours) or clear (undefined) a project's allocation; usage counters are kept. */
  async setAllocation(account: string, coreHours: number | undefined): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: keys.project(account),
        UpdateExpression: coreHours === undefined ? "REMOVE granted" : "SET granted = :g",
        ExpressionAttributeValues: coreHours === undefined ? undefined : { ":g": coreHours },
      }),
    );
  }

  /** Add usage outside a job transaction (usage reported by a peer is guarded by its own job write). */
  async chargeUsage(charge: UsageCharge): Promise<void> {
    await this.doc.send(new UpdateCommand(chargeUpdate(this.table, charge)));
  }

  // ---------- accounting ----------

  async putAcct(rec: AcctRecord): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: acctItem(rec) }));
  }

  /**
   * Writes an audit line to the day's trail and, for a job, next to the job (outside the job
   * item: a refusal changes nothing about the job itself, not even its version).
   */
  async putAudit(rec: AuditRecord): Promise<void> {
    const id = randomUUID().slice(0, 8);
    const item = { ...rec };
    const puts = [{ PutRequest: { Item: { ...keys.audit(rec.time, id), ...item } } }];
    if (rec.jobKey)
      puts.push({ PutRequest: { Item: { ...keys.jobAudit(rec.jobKey, rec.time, id), ...item } } });
    await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.table]: puts } }));
  }

  async listAudit(day: string): Promise<AuditRecord[]> {
    const r = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: "pk = :p",
        ExpressionAttributeValues: { ":p": `AUDIT#${day}` },
      }),
    );
    return (r.Items ?? []).map(auditOf);
  }

  /** The audit lines about one job, oldest first. */
  async jobAudit(key: string): Promise<AuditRecord[]> {
    const r = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: "pk = :p AND begins_with(sk, :l)",
        ExpressionAttributeValues: { ":p": `JOB#${key}`, ":l": "L#" },
      }),
    );
    return (r.Items ?? []).map(auditOf);
  }

  async listAcct(day: string): Promise<AcctRecord[]> {
    const r = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: "pk = :p",
        ExpressionAttributeValues: { ":p": `ACCT#${day}` },
      }),
    );
    return (r.Items ?? []).map((it) => ({ time: it.time, jobId: it.jobId, type: it.type, data: it.data }));
  }
}

/**
 * The parent side of a new dependency edge: mark it as having dependents, but only while it is
 * unfinished; otherwise its end-of-job release may already have run and would miss the edge.
 *
 * It bumps `ver` like every other job write: the job's end (obituary, qdel, jobLost, JOB_END)
 * decides from a read of the job whether to release dependents (`hasDeps`) and writes on
 * `ver = <read>`. Without the bump, an end that read the parent before this edge landed still
 * wins its write and never looks for the edge: the child stays held forever (issue 10). With
 * it, that end fails its condition, re-reads (mutateJob), and sees `hasDeps`.
 */
export function markParentHasDeps(table: string, parentKey: string) {
  return {
    TableName: table,
    Key: keys.job(parentKey),
    UpdateExpression: "SET hasDeps = :t, #ver = #ver + :one",
    // A moved job (M) still counts as unfinished until its end comes back from the peer.
    ConditionExpression:
      "attribute_exists(pk) AND NOT (#st IN (:f, :x)) AND NOT (#st = :m AND attribute_exists(obittime))",
    ExpressionAttributeNames: { "#st": "state", "#ver": "ver" },
    ExpressionAttributeValues: { ":t": true, ":one": 1, ":f": "F", ":x": "X", ":m": "M" },
  };
}

/** ADD to a project's counters: core-seconds `cs_<where>` and walltime seconds `ws_<where>`. */
export function chargeUpdate(table: string, c: UsageCharge): UpdateCommandInput {
  return {
    TableName: table,
    Key: keys.project(c.account),
    UpdateExpression: "ADD #cs :cs, #ws :ws",
    ExpressionAttributeNames: { "#cs": `cs_${c.where}`, "#ws": `ws_${c.where}` },
    ExpressionAttributeValues: { ":cs": c.coreSeconds, ":ws": c.walltime },
  };
}

function projectFrom(it: Record<string, unknown>): ProjectRecord {
  const p: ProjectRecord = { account: String(it.sk), coreSeconds: {}, walltime: {} };
  if (typeof it.granted === "number") p.granted = it.granted;
  for (const [k, v] of Object.entries(it)) {
    if (k.startsWith("cs_")) p.coreSeconds[k.slice(3)] = Number(v);
    if (k.startsWith("ws_")) p.walltime[k.slice(3)] = Number(v);
  }
  return p;
}

function objKey(kind: ServerObject["kind"], name: string) {
  switch (kind) {
    case "server":
      return keys.server();
    case "queue":
      return keys.queue(name);
    case "node":
      return keys.node(name);
    case "sched":
      return keys.sched(name);
  }
}

function auditOf(it: Record<string, unknown>): AuditRecord {
  const { pk: _pk, sk: _sk, ...rest } = it;
  return rest as unknown as AuditRecord;
}

function acctItem(rec: AcctRecord): Record<string, unknown> {
  return { ...keys.acct(rec.time, rec.jobId, rec.type), ...rec };
}
