/**
 * Jobs as items of the site table, built exactly as the DynamoDB adapter builds them: the record
 * plus the sparse index attributes of its state (`indexAttrs`), and a change applied as the same
 * field-by-field patch (set what changed, remove what was cleared, never the keys or `ver`, keep
 * the index attributes in step). Applying the patch rather than storing `after` matters: a caller
 * whose `before` differs from the stored item in a field it did not change keeps the stored value,
 * on DynamoDB and here alike. (DynamoDB packs the cold fields in one attribute, job-pack.ts, and
 * rewrites them together from `after` when one changes: the same result whenever `before` is the
 * item stored at `before.ver`, which the condition on `ver` requires of every whole record.)
 */
import { checkCreatedIn, checkTransition } from "../../pbs/states.js";
import type { JobRecord } from "../../server/job.js";
import { INDEX_FIELDS, indexAttrs } from "../dynamodb/indexes.js";
import { jobItem, NEVER_PATCH } from "../dynamodb/items.js";
import type { EdgeRecord } from "../../server/records.js";
import { scriptKey } from "../dynamodb/job-script.js";
import { keys } from "../dynamodb/table.js";
import type { Item, WriteOp } from "./table.js";

/**
 * The item a job is stored as, and the job an item holds: the DynamoDB adapter's own functions,
 * so both adapters shape items identically.
 */
export { jobItem, stripItem as jobOf } from "../dynamodb/items.js";

/**
 * Creating `job` if its key is free; the state table is checked here, before anything is written.
 * Without its script, which goes to an item of its own (scriptOp), as on DynamoDB.
 */
export function createJobOp(job: JobRecord): WriteOp {
  checkCreatedIn(job.id, job.state);
  const { script: _script, ...item } = jobItem(job);
  return { key: keys.job(job.key), cond: (cur) => cur === undefined, next: () => item };
}

/**
 * A new job's script item (`JOB#<key>/B`, as dynamodb/job-script.ts stores it, uncompressed):
 * the script and its lease (`expiresAt` = the record's scriptUntil, the TTL attribute; `gt`, when it
 * was granted), so the
 * TTL deletes it when the lease ends, and the lease pass sees and renews it here as there.
 */
export function scriptOp(job: JobRecord): WriteOp {
  const item: Item = { script: job.script };
  if (job.scriptUntil !== undefined) item.expiresAt = job.scriptUntil;
  if (job.scriptGranted !== undefined) item.gt = job.scriptGranted;
  return { key: scriptKey(job.key), next: () => item };
}

/** A job item's record with its script from the script item (an inline one wins; none: ""). */
export function withStoredScript(job: JobRecord, scriptItem: Item | undefined): JobRecord {
  if (typeof job.script === "string") return job;
  return { ...job, script: typeof scriptItem?.script === "string" ? scriptItem.script : "" };
}

/** A record read without its script (JobReadOptions). */
export function withoutScript(job: JobRecord): JobRecord {
  const { script: _script, ...rest } = job;
  return rest as JobRecord;
}

/**
 * Moving a job from `before` to `after` if its stored ver is `before.ver`, bumping it. The state
 * table is checked when the op is built, so a forbidden transition throws before any write.
 */
export function updateJobOp(before: JobRecord, after: JobRecord): WriteOp {
  checkTransition(before.id, before.state, after.state);
  return {
    key: keys.job(before.key),
    cond: (cur) => cur !== undefined && cur.ver === before.ver,
    next: (cur) => (cur === undefined ? undefined : patchJob(cur, before, after)),
  };
}

function patchJob(cur: Item, before: JobRecord, after: JobRecord): Item {
  const next: Item = { ...cur };
  const b = before as unknown as Item;
  const a = after as unknown as Item;
  for (const field of new Set([...Object.keys(b), ...Object.keys(a)])) {
    if (NEVER_PATCH.has(field)) continue;
    const va = a[field];
    // as the DynamoDB adapter (items.ts): a record read from an index has no script to write
    if (field === "script" && (va === undefined || b[field] === undefined)) continue;
    if (va === undefined) {
      if (b[field] !== undefined) delete next[field];
    } else if (JSON.stringify(va) !== JSON.stringify(b[field])) next[field] = va;
  }
  const ib = indexAttrs(before);
  const ia = indexAttrs(after);
  for (const f of INDEX_FIELDS) {
    if (ia[f] === undefined) {
      if (ib[f] !== undefined) delete next[f];
    } else if (ia[f] !== ib[f]) next[f] = ia[f];
  }
  next.ver = (cur.ver as number) + 1;
  return next;
}

/**
 * The parent side of a new dependency edge: hasDeps and a ver bump, only while the parent exists
 * and is unfinished (a moved job counts as unfinished until its end comes back). Why the bump:
 * see markParentHasDeps in the DynamoDB adapter (an end that read the parent before the edge
 * must lose its write and re-read).
 */
export function markParentOp(parentKey: string): WriteOp {
  return {
    key: keys.job(parentKey),
    cond: (cur) =>
      cur !== undefined &&
      !(cur.state === "F" || cur.state === "X") &&
      !(cur.state === "M" && cur.obittime !== undefined),
    next: (cur) => (cur === undefined ? undefined : { ...cur, hasDeps: true, ver: (cur.ver as number) + 1 }),
  };
}

/** An edge item; `site` is written only by addEdge (createJob's edges are local), as on DynamoDB. */
export function putEdgeOp(e: EdgeRecord, withSite: boolean): WriteOp {
  const item: Item = { childId: e.childId, type: e.type };
  if (withSite) item.site = e.site;
  return { key: keys.edge(e.parentKey, e.childId), next: () => item };
}

export function edgeOf(parentKey: string, it: Item): EdgeRecord {
  return {
    parentKey,
    childId: it.childId as string,
    type: it.type as string,
    site: it.site as string | undefined,
  };
}
