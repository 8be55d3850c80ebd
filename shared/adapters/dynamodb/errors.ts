/**
 * What a failed DynamoDB write means, in the domain's terms. Only a failed condition is a
 * conflict (someone else changed the item: re-read and decide again). Everything else used to
 * be taken for one too, so an item over the size limit made `mutateJob` retry a request that
 * could never succeed and report "changing too fast" (issue 10). Now:
 *
 * - ConditionalCheckFailed (alone, or as a transaction's cancellation reason) -> ConflictError
 * - item over 400 KB, other ValidationException / ValidationError  -> StoreError, 413/400, final
 * - throttling, TransactionConflict, 5xx from the service            -> StoreError, 503, retryable
 * - anything else                                                    -> unchanged (a 500)
 */
import { ConflictError, PBS_EXIT, StoreError } from "../../errors.js";

/** DynamoDB's own limit on one item (attribute names and values), in bytes. */
export const DYNAMO_ITEM_LIMIT = 400 * 1024;

interface SdkError {
  name?: string;
  message?: string;
  CancellationReasons?: { Code?: string; Message?: string }[];
  $metadata?: { httpStatusCode?: number };
  $retryable?: unknown;
}

const THROTTLED = new Set([
  "ThrottlingException",
  "ProvisionedThroughputExceededException",
  "RequestLimitExceeded",
  "TransactionConflictException",
  "TransactionInProgressException",
  "InternalServerError",
  "ServiceUnavailable",
]);
const THROTTLED_REASONS = new Set([
  "TransactionConflict",
  "ProvisionedThroughputExceeded",
  "ThrottlingError",
]);

function tooLarge(text: string | undefined): boolean {
  return /item size|size has exceeded|exceeds the maximum|too large/i.test(text ?? "");
}

/**
 * The domain error for a failed store request. `conflict` is the message of the ConflictError
 * a failed condition becomes; `what` names the request in the other messages.
 */
export function classifyStoreError(err: unknown, conflict: string, what = "the request"): Error {
  const e = (err ?? {}) as SdkError;
  if (e.name === "ConditionalCheckFailedException") return new ConflictError(conflict);
  if (e.name === "TransactionCanceledException") {
    const codes = (e.CancellationReasons ?? []).map((r) => r.Code ?? "None");
    const msgs = (e.CancellationReasons ?? []).map((r) => r.Message ?? "");
    // A validation error fails the transaction whatever the other items did: report it first.
    const invalid = codes.findIndex(
      (c) => c === "ValidationError" || c === "ItemCollectionSizeLimitExceeded",
    );
    if (invalid >= 0) return validation(err, `${msgs[invalid]} ${e.message ?? ""}`, what);
    if (codes.includes("ConditionalCheckFailed")) return new ConflictError(conflict);
    if (codes.some((c) => THROTTLED_REASONS.has(c))) return busy(err, what);
    // No reasons at all (an emulator, an old SDK): the message still tells a conflict apart.
    if (codes.length === 0 && /ConditionalCheckFailed/.test(e.message ?? ""))
      return new ConflictError(conflict);
    if (codes.length === 0 && /TransactionConflict|Throttl/.test(e.message ?? "")) return busy(err, what);
    return err as Error;
  }
  if (e.name === "ValidationException") return validation(err, e.message, what);
  if (e.name && THROTTLED.has(e.name)) return busy(err, what);
  if ((e.$metadata?.httpStatusCode ?? 0) >= 500 && e.$retryable) return busy(err, what);
  return err as Error;
}

function validation(err: unknown, text: string | undefined, what: string): StoreError {
  if (tooLarge(text))
    return new StoreError(
      "JobTooLarge",
      `${what} refused: the job would exceed the largest record the store can hold (${DYNAMO_ITEM_LIMIT / 1024} KB); make its variables, script or attributes smaller`,
      { status: 413, retryable: false, exitCode: PBS_EXIT.BADATVAL, cause: err },
    );
  return new StoreError("StoreValidation", `${what} refused by the store: ${(text ?? "").trim()}`, {
    status: 400,
    retryable: false,
    exitCode: PBS_EXIT.BADATVAL,
    cause: err,
  });
}

function busy(err: unknown, what: string): StoreError {
  return new StoreError("StoreBusy", `${what} failed: the store is busy (throttled); try again`, {
    status: 503,
    retryable: true,
    cause: err,
  });
}

/** How many times a retryable store failure is tried in all, and the first backoff (doubled each time). */
export const STORE_ATTEMPTS = 4;
export const STORE_BACKOFF_MS = 25;

/**
 * Send a write, sending it again (with jittered exponential backoff) while it fails for a
 * retryable reason: a throttled or conflicting transaction was not applied, so this is safe
 * even for a conditional write. Any other failure (and the last retryable one) is thrown as
 * the SDK raised it, for the caller to classify with its own messages.
 */
export async function retryBusy<T>(send: () => Promise<T>, attempts = STORE_ATTEMPTS): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await send();
    } catch (err) {
      const c = classifyStoreError(err, "");
      if (!(c instanceof StoreError && c.retryable) || i >= attempts) throw err;
      await new Promise((r) => setTimeout(r, STORE_BACKOFF_MS * 2 ** (i - 1) * (0.5 + Math.random())));
    }
  }
}
