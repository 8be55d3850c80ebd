/**
 * Stat samples in DynamoDB: one small item per minute (`pk = STAT`, `sk = <minute>`) carrying
 * `expiresAt` (epoch seconds) for the table's TTL; readers ask for a time range, so stale items
 * are never read either way.
 */
import { PutCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { StatSample } from "../server/records.js";

const KEEP_S = 2 * 24 * 3600;
const pad = (n: number) => String(n).padStart(15, "0");

interface Table {
  doc: import("@aws-sdk/lib-dynamodb").DynamoDBDocumentClient;
  table: string;
}

export async function putStatSample(store: Table, s: StatSample): Promise<void> {
  await store.doc.send(
    new PutCommand({
      TableName: store.table,
      Item: { pk: "STAT", sk: pad(s.t), ...s, expiresAt: Math.floor(s.t / 1000) + KEEP_S },
    }),
  );
}

export async function getStatSamples(store: Table, since: number): Promise<StatSample[]> {
  const out: StatSample[] = [];
  let start: Record<string, unknown> | undefined;
  do {
    const r = await store.doc.send(
      new QueryCommand({
        TableName: store.table,
        KeyConditionExpression: "pk = :p AND sk >= :s",
        ExpressionAttributeValues: { ":p": "STAT", ":s": pad(since) },
        ExclusiveStartKey: start,
      }),
    );
    for (const it of r.Items ?? []) {
      out.push({
        t: Number(it.t),
        queued: Number(it.queued ?? 0),
        running: Number(it.running ?? 0),
        held: Number(it.held ?? 0),
        movedIn: (it.movedIn as Record<string, number>) ?? {},
      });
    }
    start = r.LastEvaluatedKey;
  } while (start);
  return out;
}
