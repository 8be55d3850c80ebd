/**
 * A job's script lives in an item of its own, `JOB#<key>/B`, written once when the job is
 * created and never again (issue 14: cost). The job item (`JOB#<key>/A`) changes at every state
 * change, and DynamoDB bills a write by the size of the whole item (and again for each index
 * projecting it): a 2 KB script carried in it was rewritten at every transition. Kept apart, a
 * write costs what the changing part weighs.
 *
 * Reads stay whole: a job read (GetItem became a Query of `A`..`B`, one request, billed on the
 * two items' summed size; BatchGetItem asks both keys) returns the record with its script, so
 * callers and the in-memory adapter see no difference. An item written before the split carries
 * its script inline and reads as it did. "B" sorts right after "A" and before the edges (`D#`)
 * and audit lines (`L#`), so the range holds nothing else.
 *
 * Expiry (issue 12): the B item carries the job item's `expiresAt` (the table's TTL attribute),
 * so the TTL deletes a job's script with its job. A job is created active (no expiry) and gets
 * one once, when it is written finished (shared/server/history.ts): that write is followed by one
 * UpdateItem of B, SET expiresAt (1 WRU for a script item up to 1 KB: a compressed 2 KB script).
 * No cheaper way is safe: BatchWriteItem has no update (a Put would need the script, which an
 * index read does not carry), a transaction with the job's write bills both items twice, and a
 * B item given a bounded lifetime at submit would lose the script of a job queued longer than
 * the bound.
 */
import { brotliCompressSync, brotliDecompressSync, constants } from "node:zlib";
import { type DynamoDBDocumentClient, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { JobRecord } from "../../server/job.js";
import { retryBusy } from "./errors.js";
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

export const SCRIPT_SK = "B";

export const scriptKey = (key: string) => ({ pk: `JOB#${key}`, sk: SCRIPT_SK });

/** The script item of a new job (plain Put: the key is new with the job, the value never changes). */
export function scriptPut(table: string, job: Pick<JobRecord, "key" | "script">) {
  return { TableName: table, Item: { ...scriptKey(job.key), ...scriptValue(job.script) } };
}

/**
 * The B item's expiry set to the job's. Conditional on the item existing: an UpdateItem would
 * otherwise create a script-less B for a job whose script is inline (written before the split)
 * or already purged.
 */
export function scriptExpiryUpdate(table: string, key: string, expiresAt: number) {
  return {
    TableName: table,
    Key: scriptKey(key),
    UpdateExpression: "SET expiresAt = :t",
    ConditionExpression: "attribute_exists(pk)",
    ExpressionAttributeValues: { ":t": expiresAt },
  };
}

/** The script as the B item holds it: compressed (`sz`) when that saves bytes, else as text. */
function scriptValue(script: string): { script: string } | { sz: Uint8Array } {
  const n = Buffer.byteLength(script);
  if (n < COMPRESS_FROM || n > COMPRESS_UP_TO) return { script };
  const sz = brotliCompressSync(script, {
    params: { [constants.BROTLI_PARAM_MODE]: constants.BROTLI_MODE_TEXT },
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

type Change = { before?: JobRecord; after: JobRecord };

/**
 * The B items follow their jobs' expiry, after the jobs' writes (DynamoJobs). An expiry is set
 * only once the job's write landed: set before, a write that then lost its race would leave an
 * active job's script to the TTL. Failing here fails nothing: the job's end has landed, and a
 * script left without its expiry costs storage, not correctness (a failed condition: the job has
 * no B item, its script is inline). One UpdateItem per job that ends. None is ever taken back:
 * a finished job (F, X, M with its end back) has no transition out (shared/pbs/states.ts), so
 * no write makes a job with an expiry active again.
 */
export async function expireScripts(doc: DynamoDBDocumentClient, table: string, ws: Change[]): Promise<void> {
  await Promise.all(
    ws.map(({ before, after: { key, expiresAt } }) =>
      expiresAt === undefined || expiresAt === before?.expiresAt
        ? undefined
        : retryBusy(() => doc.send(new UpdateCommand(scriptExpiryUpdate(table, key, expiresAt)))).catch(
            () => undefined,
          ),
    ),
  );
}
