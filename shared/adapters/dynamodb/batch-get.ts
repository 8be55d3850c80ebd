/**
 * Items by key in BatchGetItem: the keys cut into requests of BATCH_GET_MAX (its limit), and
 * the keys DynamoDB left unprocessed (it may return part of a request without failing it, under
 * throttling or past its 16 MB answer) asked again until none is left. One loop for every
 * reader of the site table (job records, a job and its edge, accounting checks, MOM beats,
 * script leases) instead of a copy of it in each.
 *
 * Missing keys are simply absent from the result; the order of the result is DynamoDB's. A key
 * given twice is asked once: DynamoDB refuses a request that repeats a key (ValidationException).
 */
import {
  BatchGetCommand,
  type BatchGetCommandOutput,
  type DynamoDBDocumentClient,
  type NativeAttributeValue,
} from "@aws-sdk/lib-dynamodb";

/** BatchGetItem's own limit on the keys of one call. */
export const BATCH_GET_MAX = 100;

/** an item as the document client gives it (its attributes untyped, as every reader had them) */
type Item = Record<string, NativeAttributeValue>;

export async function batchGet(
  doc: DynamoDBDocumentClient,
  table: string,
  keys: Item[],
  opts: { consistent?: boolean; projection?: string } = {},
): Promise<Item[]> {
  const out: Item[] = [];
  const wanted = [...new Map(keys.map((k) => [`${k.pk}\u0000${k.sk}`, k])).values()];
  for (let i = 0; i < wanted.length; i += BATCH_GET_MAX) {
    let left: Item[] | undefined = wanted.slice(i, i + BATCH_GET_MAX);
    while (left?.length) {
      const r: BatchGetCommandOutput = await doc.send(
        new BatchGetCommand({
          RequestItems: {
            [table]: {
              Keys: left,
              ...(opts.consistent !== undefined && { ConsistentRead: opts.consistent }),
              ...(opts.projection && { ProjectionExpression: opts.projection }),
            },
          },
        }),
      );
      out.push(...(r.Responses?.[table] ?? []));
      left = r.UnprocessedKeys?.[table]?.Keys;
    }
  }
  return out;
}
