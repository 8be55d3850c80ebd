/**
 * Job counts over time for the dashboard's charts, without scanning jobs to draw them: the sweeper
 * tick counts the site's active jobs and keeps one small record per minute
 * (ServerObjectStore.putStatSample), rewritten while the minute lasts only when a count changes.
 */
import type { SiteStore } from "../ports/store.js";
import type { JobRecord } from "./job.js";
import type { StatSample } from "./records.js";

const MINUTE = 60_000;
const lastWritten = new WeakMap<SiteStore, string>();

/**
 * Counts of the jobs listed (list-index entries: state and, for a job received from a peer, its
 * origin's ID; `extra.origin_job` is what a record rendered for a peer carries). `capped`: the
 * jobs are only the oldest of a deeper queue (shared/api/counts.ts), the counts lower bounds.
 */
export function sampleOf(
  jobs: (Pick<JobRecord, "state"> & Partial<Pick<JobRecord, "inbound" | "extra">>)[],
  now: number,
  capped = false,
): StatSample {
  const s: StatSample = {
    t: Math.floor(now / MINUTE) * MINUTE,
    queued: 0,
    running: 0,
    held: 0,
    movedIn: {},
    ...(capped ? { capped } : {}),
  };
  for (const j of jobs) {
    if (j.state === "Q" || j.state === "W" || j.state === "T") s.queued++;
    else if (j.state === "R" || j.state === "E" || j.state === "B") s.running++;
    else if (j.state === "H") s.held++;
    const origin = j.inbound?.originId ?? j.extra?.origin_job;
    if (origin) {
      const site = origin.slice(origin.indexOf(".") + 1);
      s.movedIn[site] = (s.movedIn[site] ?? 0) + 1;
    }
  }
  return s;
}

/** Record this minute's counts (skipped when nothing changed since this process last wrote). */
export async function recordStatSample(store: SiteStore, s: StatSample): Promise<boolean> {
  const text = JSON.stringify(s);
  if (lastWritten.get(store) === text) return false;
  await store.putStatSample(s);
  lastWritten.set(store, text);
  return true;
}
