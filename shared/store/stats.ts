/**
 * Job counts over time for the dashboard's charts, without scanning jobs to draw them: the sweeper
 * tick counts the site's active jobs (the `list` index's active partitions, which hold only
 * unfinished jobs) and keeps one small item per minute (`pk = STAT`, `sk = <minute>`), rewritten
 * while the minute lasts only when a count changes. Items carry `expiresAt` (epoch seconds) for a
 * DynamoDB TTL; the reader asks for a time range, so stale items are never read either way.
 */
import { PutCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { JobRecord } from "../server/job.js";
import type { SiteStore } from "./site-store.js";

export interface StatSample {
  /** start of the minute, epoch ms */
  t: number;
  queued: number;
  running: number;
  held: number;
  /** active jobs here that came from another site, by origin site */
  movedIn: Record<string, number>;
}

const MINUTE = 60_000;
const KEEP_S = 2 * 24 * 3600;
const pad = (n: number) => String(n).padStart(15, "0");
const lastWritten = new WeakMap<SiteStore, string>();

export function sampleOf(jobs: JobRecord[], now: number): StatSample {
  const s: StatSample = { t: Math.floor(now / MINUTE) * MINUTE, queued: 0, running: 0, held: 0, movedIn: {} };
  for (const j of jobs) {
    if (j.state === "Q" || j.state === "W" || j.state === "T") s.queued++;
    else if (j.state === "R" || j.state === "E" || j.state === "B") s.running++;
    else if (j.state === "H") s.held++;
    const origin = j.extra?.origin_job;
    if (origin) {
      const site = origin.slice(origin.indexOf(".") + 1);
      s.movedIn[site] = (s.movedIn[site] ?? 0) + 1;
    }
  }
  return s;
}

/** Record this minute's counts (skipped when nothing changed since this process last wrote). */
export async function putStatSample(store: SiteStore, s: StatSample): Promise<boolean> {
  const text = JSON.stringify(s);
  if (lastWritten.get(store) === text) return false;
  await store.doc.send(
    new PutCommand({
      TableName: store.table,
      Item: { pk: "STAT", sk: pad(s.t), ...s, expiresAt: Math.floor(s.t / 1000) + KEEP_S },
    }),
  );
  lastWritten.set(store, text);
  return true;
}

export async function getStatSamples(store: SiteStore, since: number): Promise<StatSample[]> {
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
