/**
 * Data access for one site's table, named by verb (getJob, createJob, updateJob, ...).
 * Request parameters are built by pure functions (buildJobUpdate) so they are testable with no
 * network; every job change is conditional on the job's `ver`.
 */
import { ConditionalCheckFailedException, TransactionCanceledException } from "@aws-sdk/client-dynamodb";
import {
  BatchGetCommand,
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
import { ConflictError } from "../errors.js";
import { type IndexAttrs, indexAttrs, type JobRecord } from "../server/job.js";
import { keys, LIST_INDEX, READY_INDEX, RUN_INDEX } from "./table.js";

export type AttrValue = string | number | boolean;

export interface ServerObject {
  kind: "server" | "queue" | "node" | "sched";
  name: string;
  attrs: Record<string, AttrValue>;
  ver: number;
}

export interface MomBeat {
  momId: string;
  jobs: { jobId: string; runCount: number }[];
  at: number;
}

export interface EdgeRecord {
  parentKey: string;
  childId: string;
  /** the child's site when it is at a peer (short name) */
  site?: string;
  /** the child's dependency type on the parent: after, afterok, afternotok, afterany */
  type: string;
}

export interface AcctRecord {
  time: number;
  jobId: string;
  /** PBS accounting record type: Q S E D R ... */
  type: string;
  data: Record<string, string | number>;
}

const INDEX_FIELDS: (keyof IndexAttrs)[] = ["rdy", "rdySk", "run", "runSk", "lst", "lstSk"];
const NEVER_PATCH = new Set(["pk", "sk", "id", "key", "seq", "ver", ...INDEX_FIELDS]);

/**
 * UpdateItem input that moves `before` to `after`: SETs changed fields, REMOVEs cleared ones,
 * keeps the sparse index attributes in step with the state, bumps `ver`, and succeeds only if
 * nobody changed the job since `before` was read.
 */
export function buildJobUpdate(table: string, before: JobRecord, after: JobRecord): UpdateCommandInput {
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

export function stripItem(item: Record<string, unknown>): JobRecord {
  const { pk: _pk, sk: _sk, rdy: _r, rdySk: _rs, run: _u, runSk: _us, lst: _l, lstSk: _ls, ...rest } = item;
  return rest as unknown as JobRecord;
}

function isConditionFailure(err: unknown): boolean {
  return (
    err instanceof ConditionalCheckFailedException ||
    err instanceof TransactionCanceledException ||
    (err as { name?: string })?.name === "ConditionalCheckFailedException" ||
    (err as { name?: string })?.name === "TransactionCanceledException"
  );
}

export class SiteStore {
  constructor(
    readonly doc: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  // ---------- jobs ----------

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

  /** Create a job (fails if the key exists), optionally with edges under its parents in the same transaction. */
  async createJob(
    job: JobRecord,
    edges: EdgeRecord[] = [],
    acct?: AcctRecord,
    updates: { before: JobRecord; after: JobRecord }[] = [],
  ): Promise<void> {
    const put = {
      TableName: this.table,
      Item: jobItem(job),
      ConditionExpression: "attribute_not_exists(pk)",
    };
    if (edges.length === 0 && !acct && updates.length === 0) {
      try {
        await this.doc.send(new PutCommand(put));
      } catch (err) {
        if (isConditionFailure(err)) throw new ConflictError(`job ${job.id} already exists`);
        throw err;
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
      await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (err) {
      if (isConditionFailure(err))
        throw new ConflictError(`job ${job.id}: a parent changed while submitting`);
      throw err;
    }
  }

  /** Conditional update from `before` to `after`; returns `after` with the new ver. Throws ConflictError on a lost race. */
  async updateJob(before: JobRecord, after: JobRecord, acct?: AcctRecord): Promise<JobRecord> {
    const input = buildJobUpdate(this.table, before, after);
    try {
      if (acct) {
        await this.doc.send(
          new TransactWriteCommand({
            TransactItems: [
              { Update: input as never },
              { Put: { TableName: this.table, Item: acctItem(acct) } },
            ],
          }),
        );
      } else {
        await this.doc.send(new UpdateCommand(input));
      }
    } catch (err) {
      if (isConditionFailure(err)) throw new ConflictError(`job ${before.id} changed concurrently`);
      throw err;
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
        Put: { TableName: this.table, Item: jobItem(c), ConditionExpression: "attribute_not_exists(pk)" },
      });
    }
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (err) {
      if (isConditionFailure(err)) throw new ConflictError("jobs changed concurrently");
      throw err;
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
      if (isConditionFailure(err)) throw new ConflictError(`job ${e.parentKey} has finished`);
      throw err;
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

  private async queryAll(input: QueryCommandInput, limit = Number.POSITIVE_INFINITY): Promise<JobRecord[]> {
    const out: JobRecord[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const r = await this.doc.send(new QueryCommand({ ...input, ExclusiveStartKey: start }));
      for (const it of r.Items ?? []) out.push(stripItem(it));
      start = r.LastEvaluatedKey;
    } while (start && out.length < limit);
    return out;
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
      if (isConditionFailure(err)) {
        throw new ConflictError(
          expectVer === undefined
            ? `${obj.kind} ${obj.name} already exists`
            : `${obj.kind} ${obj.name} changed concurrently`,
        );
      }
      throw err;
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
      if (isConditionFailure(err)) throw new ConflictError(`${kind} ${name} changed concurrently`);
      throw err;
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
          out.set(it.momId, { momId: it.momId, jobs: it.jobs ?? [], at: it.at });
        }
        req = r.UnprocessedKeys as typeof req;
      }
    }
    return out;
  }

  // ---------- accounting ----------

  async putAcct(rec: AcctRecord): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: acctItem(rec) }));
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
 */
function markParentHasDeps(table: string, parentKey: string) {
  return {
    TableName: table,
    Key: keys.job(parentKey),
    UpdateExpression: "SET hasDeps = :t",
    ConditionExpression: "attribute_exists(pk) AND NOT (#st IN (:f, :x, :m))",
    ExpressionAttributeNames: { "#st": "state" },
    ExpressionAttributeValues: { ":t": true, ":f": "F", ":x": "X", ":m": "M" },
  };
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

function acctItem(rec: AcctRecord): Record<string, unknown> {
  return { ...keys.acct(rec.time, rec.jobId, rec.type), ...rec };
}
