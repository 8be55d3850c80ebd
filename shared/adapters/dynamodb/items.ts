/**
 * The shapes jobs and ledger lines take as DynamoDB items, and the write requests built from
 * them, as pure functions (testable with no network). A job item is the record plus its key
 * (table.ts) and its sparse-index attributes (indexes.ts); every job update is one UpdateItem
 * built by buildJobUpdate, conditional on the job's `ver`, alone or inside a transaction, so the
 * state-table check and the index bookkeeping cannot be skipped by any write path.
 *
 * DynamoDB facts that shaped them: an UpdateItem SETs and REMOVEs named attributes (names go
 * through ExpressionAttributeNames because `state`, `user` and the like are reserved words);
 * a sparse index follows the item's attributes, so REMOVE is how a job leaves an index.
 */
import type { UpdateCommandInput } from "@aws-sdk/lib-dynamodb";
import { checkCreatedIn, checkTransition } from "../../pbs/states.js";
import type { JobRecord } from "../../server/job.js";
import type { AcctRecord, UsageCharge } from "../../server/records.js";
import { StoreError } from "../../errors.js";
import { INDEX_FIELDS, indexAttrs } from "./indexes.js";
import { itemSize } from "./item-size.js";
import { COLD_FIELDS, isWhole, PACKED, pack, packItem, unpackItem } from "./job-pack.js";
import { keys } from "./table.js";

/**
 * Fields a job update never writes: the keys, `ver` (bumped by the update itself), the index
 * attributes (recomputed from the state), and the script's lease (scriptUntil, scriptGranted),
 * which is the script item's (job-script.ts), never the job item's. The memory adapter patches by
 * the same set.
 */
export const NEVER_PATCH: ReadonlySet<string> = new Set([
  "pk",
  "sk",
  "id",
  "key",
  "seq",
  "ver",
  "scriptUntil",
  "scriptGranted",
  ...INDEX_FIELDS,
]);
const COLD = new Set<string>(COLD_FIELDS);

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
  // The cold fields live packed in `z` (job-pack.ts). A change to any of them rewrites `z` whole,
  // from `after`, and removes every inline copy (an item from before the packing, or a partial
  // write's, below): that is how an old item takes the new shape. Safe because the write is
  // conditional on `ver`: `before` is the stored item, so `after` holds every cold field it
  // should. From a partial record (an index row: no trace, so not all its cold fields) `z`
  // cannot be rebuilt: a changed cold field is then set inline, where it wins over `z` on read.
  const coldChanged = COLD_FIELDS.some((f) => JSON.stringify(a[f]) !== JSON.stringify(b[f]));
  const packWhole = coldChanged && isWhole(before) && isWhole(after);
  if (packWhole) {
    set(PACKED, pack(a));
    for (const f of COLD_FIELDS) remove(f);
  }
  for (const field of new Set([...Object.keys(b), ...Object.keys(a)])) {
    if (NEVER_PATCH.has(field)) continue;
    if (COLD.has(field) && (packWhole || !coldChanged)) continue;
    // a partial record never holds a cold field (no index projects one), so it never clears
    // one: clearing it inline would leave the value in `z` to come back on read
    if (COLD.has(field) && a[field] === undefined && b[field] !== undefined)
      throw new StoreError(
        "PartialColdClear",
        `job ${before.id}: ${field} cleared from a partial record (no trace): its packed copy would stay`,
        { status: 500, retryable: false },
      );
    const va = a[field];
    // The script lives in the job's B item (job-script.ts) and a record read from an index has
    // none: only a real change of it is written, inline (an inline script wins over the B item).
    if (field === "script" && (va === undefined || b[field] === undefined)) continue;
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
  // the script's lease goes with the script (job-script.ts scriptPut), not on the job item
  const { scriptUntil: _lease, scriptGranted: _granted, ...rec } = job;
  return { ...keys.job(job.key), ...rec, ...indexAttrs(job) };
}

/**
 * The item a job is created as in DynamoDB, once its state is checked against the states a job
 * may be created in (IllegalTransitionError otherwise): every create (createJob, transactJobs,
 * createInbound) builds its item here. Without the script: that goes to the job's B item
 * (job-script.ts scriptPut), written beside it, so that state changes do not rewrite it.
 */
export function newJobItem(job: JobRecord): Record<string, unknown> {
  checkCreatedIn(job.id, job.state);
  return storedJobItem(job);
}

/** The job item as this adapter stores it: no script (B item), its cold fields packed (`z`). */
export function storedJobItem(job: JobRecord): Record<string, unknown> {
  const { script: _script, ...item } = jobItem(job);
  return packItem(item);
}

/**
 * Bytes the job takes in the table (what createJob writes, its job and script items together):
 * submit checks it against a limit. The sum, not the larger item: the limit bounds the job as a
 * whole, whichever item its bytes are in.
 */
export function jobItemSize(job: JobRecord): number {
  return itemSize(jobItem(job));
}

/** The record a job item holds: index attributes dropped, packed fields (job-pack.ts) back inline. */
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
  } = unpackItem(item);
  return rest as unknown as JobRecord;
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

/**
 * One ADD of several charges to one project (their `where`s differ): a group commit's ends of
 * one project, summed by mergeCharges, since a transaction may not touch an item twice.
 */
export function chargesUpdate(table: string, cs: UsageCharge[]): UpdateCommandInput {
  if (cs.length === 1) return chargeUpdate(table, cs[0]);
  const names: Record<string, string> = {};
  const values: Record<string, number> = {};
  const adds = cs.map((c, i) => {
    names[`#cs${i}`] = `cs_${c.where}`;
    names[`#ws${i}`] = `ws_${c.where}`;
    values[`:cs${i}`] = c.coreSeconds;
    values[`:ws${i}`] = c.walltime;
    return `#cs${i} :cs${i}, #ws${i} :ws${i}`;
  });
  return {
    TableName: table,
    Key: keys.project(cs[0].account),
    UpdateExpression: `ADD ${adds.join(", ")}`,
    ExpressionAttributeNames: names,
    ExpressionAttributeValues: values,
  };
}

/** The item an accounting record is stored as (keyed by day, time, job and record type). */
export function acctItem(rec: AcctRecord): Record<string, unknown> {
  return { ...keys.acct(rec.time, rec.jobId, rec.type), ...rec };
}

/** The record a single accounting item holds, its TTL with it (readers leave expired ones out: history.ts). */
export function acctOf(it: Record<string, unknown>): AcctRecord {
  return {
    time: it.time as number,
    jobId: it.jobId as string,
    type: it.type as string,
    data: it.data as AcctRecord["data"],
    ...(typeof it.expiresAt === "number" && { expiresAt: it.expiresAt }),
  };
}
