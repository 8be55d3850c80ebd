/**
 * A job's script lives in an item of its own, `JOB#<key>/B`, written once when the job is
 * created and never again (issue 14: cost). The job item (`JOB#<key>/A`) changes at every state
 * change, and DynamoDB bills a write by the size of the whole item (and again for each index
 * projecting it): a 2 KB script carried in it was rewritten at every transition. Kept apart, a
 * write costs what the changing part weighs.
 *
 * Reads stay whole: a job read (GetItem became a Query of `A`..`B`, one request, billed on the
 * two items' summed size; BatchGetItem asks both keys) returns the record with its script, so
 * callers and the in-memory adapter see no difference. A caller that only changes the job's
 * state (an obituary's end, qdel) asks without it (JobReadOptions `script: false`): the `A`
 * item alone (GetItem; BatchGetItem of `A` keys, which bills each item apart, rounded up to
 * 4 KB: one read unit a job instead of two). An item written before the split carries
 * its script inline and reads as it did. "B" sorts right after "A" and before the edges (`D#`)
 * and audit lines (`L#`), so the range holds nothing else.
 *
 * Expiry (issue 12, 14): the B item is written with a lease, the table's TTL attribute
 * (`expiresAt`) set to the record's `scriptUntil` (history.ts: submit + job_history_duration +
 * SiteSettings.scriptLeaseMarginDays), and nothing touches it when the job ends. The sweeper
 * renews the leases of jobs still active near their end (shared/server/script-lease.ts, reading
 * scriptLeases below: the active list-index partition oldest first, and their B items), so a job
 * held or queued for months keeps its script. Why this and not the alternatives, measured:
 * - an UpdateItem of B per ended job (what was here): one request and 1 WRU more per job end,
 *   a fifth of the throughput on DynamoDB Local (writes 5.56 -> 6.54 per job), on the end path;
 * - B in the transaction that ends the job: a transactional write bills each item twice (the job
 *   item's 2 WRU become 4, B's 1 becomes 2) and turns the plain end write into a transaction;
 * - the lease: no request at the end, one renewal (1 WRU) per job still active a lease after its
 *   submit, which is rare; the price is storage: a finished job's script outlives its job by up
 *   to the margin (1 KB for 30 days ~ $0.25e-6 on AWS, below the 1 WRU it saves).
 * Safety rests on one invariant: an active job's lease ends later than now + history + the
 * pass's notice (script-lease.ts), so when the job ends, its script outlives its history. A
 * renewal only ever extends a lease (conditional), so replays, races of two passes and a renewal
 * of a job that just ended are harmless: at worst a script lives longer. A SIGKILL between the
 * B Put and the job's write (create) leaves a script no job points at, which its lease removes.
 */
import { brotliCompressSync, brotliDecompressSync, constants } from "node:zlib";
import type { JobRecord } from "../../server/job.js";
import { keys } from "./table.js";

/**
 * Scripts from this size on are stored compressed (`sz`, brotli) when that is smaller: DynamoDB
 * bills a write per started KB, and a typical 2 KB job script (text, comments, repeated
 * directives) compresses to well under 1 KB: 1 WRU at submit instead of 2, and less storage for
 * as long as the job stays in history. Below it the item is one KB either way.
 */
const COMPRESS_FROM = 768;
/**
 * ... and up to this size: a larger script stays text, so a job over DynamoDB's 400 KB item limit
 * is refused as it always was (JobTooLarge), the same in both adapters, whatever it compresses to.
 */
const COMPRESS_UP_TO = 300 * 1024;

/**
 * Brotli's quality for scripts. Its default (11) spends 1.6-13 ms of a submit's CPU on a 1-13 KB
 * script (40 shell scripts of /usr/bin, measured 2026-12-03: 2.5 ms for the cost bench's 2 KB
 * one); 5 takes 0.07-1 ms (20-40x less) for ~7% more billed KB (96 KB units where 11 gave 90),
 * and the same 156 B for the cost bench's script. A submit pays the CPU in its Lambda's
 * duration and in qsub's wait; the bytes are 1 WRU per started KB, once. Reading is the same
 * whatever the quality: a stored script of either inflates.
 */
const BROTLI_QUALITY = 5;

export const SCRIPT_SK = "B";

export const scriptKey = (key: string) => ({ pk: `JOB#${key}`, sk: SCRIPT_SK });

/**
 * The script item of a new job (plain Put: the key is new with the job, the value never changes),
 * with its lease when the record carries one (`scriptUntil`, the TTL attribute here, and
 * `scriptGranted` as `gt`).
 */
export function scriptPut(
  table: string,
  job: Pick<JobRecord, "key" | "script" | "scriptUntil" | "scriptGranted">,
) {
  return {
    TableName: table,
    Item: {
      ...scriptKey(job.key),
      ...scriptValue(job.script),
      ...(job.scriptUntil !== undefined && { expiresAt: job.scriptUntil }),
      // when the lease was granted: what lets the lease pass stop early (script-lease.ts)
      ...(job.scriptGranted !== undefined && { gt: job.scriptGranted }),
    },
  };
}

/**
 * A script's lease extended to `until`, marked renewed (`rn`). Conditional: on the item existing
 * (an UpdateItem would otherwise create a script-less B for a job whose script is inline, or
 * already gone) and on its lease ending before `until` (or it having none): a renewal never
 * shortens a lease, so it may be replayed or raced by another pass.
 */
export function scriptLeaseRenewal(table: string, key: string, until: number) {
  return {
    TableName: table,
    Key: scriptKey(key),
    UpdateExpression: "SET expiresAt = :t, rn = :rn",
    ConditionExpression: "attribute_exists(pk) AND (attribute_not_exists(expiresAt) OR expiresAt < :t)",
    ExpressionAttributeValues: { ":t": until, ":rn": true },
  };
}

/** The script as the B item holds it: compressed (`sz`) when that saves bytes, else as text. */
function scriptValue(script: string): { script: string } | { sz: Uint8Array } {
  const n = Buffer.byteLength(script);
  if (n < COMPRESS_FROM || n > COMPRESS_UP_TO) return { script };
  const sz = brotliCompressSync(script, {
    params: {
      [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT,
      [constants.BROTLI_PARAM_QUALITY]: BROTLI_QUALITY,
    },
  });
  return sz.byteLength < n ? { sz: new Uint8Array(sz) } : { script };
}

/** The job item's record with the script from its B item (an inline one, from before the split, wins). */
export function withScript(job: JobRecord, scriptItem: Record<string, unknown> | undefined): JobRecord {
  if (typeof job.script === "string") return job;
  const sz = scriptItem?.sz;
  if (sz instanceof Uint8Array) return { ...job, script: brotliDecompressSync(sz).toString("utf8") };
  return { ...job, script: typeof scriptItem?.script === "string" ? scriptItem.script : "" };
}

/** Query input for a job and its script item: one request, strongly consistent by default. */
export function jobWithScriptQuery(table: string, key: string, consistent = true) {
  return {
    TableName: table,
    KeyConditionExpression: "pk = :pk AND sk BETWEEN :a AND :b",
    ExpressionAttributeValues: { ":pk": keys.job(key).pk, ":a": keys.job(key).sk, ":b": SCRIPT_SK },
    ConsistentRead: consistent,
  };
}
