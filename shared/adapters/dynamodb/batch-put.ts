/**
 * Plain, unconditional Puts of items whose key says what they are (a new job's script, an
 * accounting record: writing one twice writes the same bytes), sent in BatchWriteItem, 25 a
 * request, instead of one PutItem each.
 *
 * Why: DynamoDB bills BatchWriteItem per item, exactly as the PutItems it replaces (no
 * transaction: a transactional item bills twice), while DynamoDB Local spends its CPU per
 * request: a 500-job burst wrote two accounting records per job in PutItems of their own
 * (issue 14). Only unconditional puts may go here: BatchWriteItem takes no condition, so a job's
 * write (conditional on its ver) never does.
 *
 * DynamoDB may leave items unprocessed (throttling) without failing the request: they are sent
 * again with jittered backoff (as retryBusy does for a whole request) up to STORE_ATTEMPTS times.
 * What is still unprocessed then, and every item of a request refused whole (one item too large,
 * busy after retries), is put one by one, so only an item that fails alone reports an error.
 */
import { BatchWriteCommand, type DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { retryBusy, STORE_ATTEMPTS, STORE_BACKOFF_MS } from "./errors.js";

/** BatchWriteItem's own limit on the requests of one call. */
export const BATCH_WRITE_MAX = 25;

type Item = Record<string, unknown>;
const keyOf = (it: Item) => `${String(it.pk)}\u0000${String(it.sk)}`;

/**
 * Put `items` (each with its pk and sk) into `table`. Result i is the error of item i (the
 * SDK's error as `classify(err, i)` types it, its single put having failed), or undefined when it
 * landed. Never throws.
 *
 * An item named twice (one key, as when a redelivered message rebuilds the same record beside
 * its first copy) is sent once, the later copy: DynamoDB refuses a BatchWriteItem naming a key
 * twice (ValidationException; DynamoDB Local lets it pass, so no local test sees it). Both
 * callers get that one put's outcome.
 */
export async function batchPut(
  doc: DynamoDBDocumentClient,
  table: string,
  items: Item[],
  classify: (err: unknown, i: number) => Error,
): Promise<(Error | undefined)[]> {
  const out: (Error | undefined)[] = new Array(items.length).fill(undefined);
  const single = async (i: number) => {
    try {
      await retryBusy(() => doc.send(new PutCommand({ TableName: table, Item: items[i] })));
    } catch (err) {
      out[i] = classify(err, i);
    }
  };
  if (items.length === 1) {
    await single(0);
    return out;
  }
  // the index of the copy sent for each key, and the items sharing it
  const sent = new Map<string, number>();
  const sharers = new Map<number, number[]>();
  for (const [i, it] of items.entries()) sent.set(keyOf(it), i);
  for (const [i, it] of items.entries()) {
    const s = sent.get(keyOf(it)) as number;
    sharers.set(s, [...(sharers.get(s) ?? []), i]);
  }
  const uniq = [...sharers.keys()].sort((a, b) => a - b);
  const chunks: number[][] = [];
  for (let i = 0; i < uniq.length; i += BATCH_WRITE_MAX) chunks.push(uniq.slice(i, i + BATCH_WRITE_MAX));
  await Promise.all(
    chunks.map(async (chunk) => {
      let left = chunk;
      try {
        for (let attempt = 1; left.length > 0 && attempt <= STORE_ATTEMPTS; attempt++) {
          if (attempt > 1)
            await new Promise((r) =>
              setTimeout(r, STORE_BACKOFF_MS * 2 ** (attempt - 2) * (0.5 + Math.random())),
            );
          const req = left.map((i) => ({ PutRequest: { Item: items[i] } }));
          const r = await retryBusy(() =>
            doc.send(new BatchWriteCommand({ RequestItems: { [table]: req } })),
          );
          const unprocessed = new Set(
            (r.UnprocessedItems?.[table] ?? []).map((w) => keyOf(w.PutRequest?.Item ?? {})),
          );
          left = left.filter((i) => unprocessed.has(keyOf(items[i])));
        }
      } catch {
        // refused whole: each item alone below, so only a bad one fails
      }
      await Promise.all(left.map(single));
    }),
  );
  for (const [s, all] of sharers) for (const i of all) out[i] = out[s];
  return out;
}
