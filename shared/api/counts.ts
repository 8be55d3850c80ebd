/**
 * Active-job counts for `qstat -B` (GET /v1/server), `qstat -Q` (GET /v1/queues), the dashboard's
 * overview and the sweeper's chart sample: each queue's active jobs read from the `list` index
 * (`A#<queue>`, ~90 B an entry), oldest first, up to JOB_COUNT_CAP. A count that reached the cap
 * is a lower bound and says so: `total_jobs = 1000+`, `Queued:996+`, as the overview's "1000+".
 *
 * Why capped reads and not exact counters. Exact counts at any depth need either every entry
 * read (1,000,000 queued: ~90 MB, ~11,500 read units and seconds of paging per `qstat -Q`, per
 * view and per 15 s sample: bench/scale.ts measured the unbounded reads growing with the queue)
 * or counters kept with the jobs' writes: an ADD per state change (submit, claim, end) on a
 * per-queue item, which inside the jobs' transactions costs 2 WRU each (≈ 6 WRU, $3.8 per
 * million jobs against the $10 target of issue 14 point 2) and makes that item a point every
 * transaction of the queue conflicts on (TransactionConflict at a few hundred jobs/s), and
 * outside them drifts at every crash between the two writes. `Select: COUNT` does not help:
 * DynamoDB bills a counted Query by the bytes it reads, as if it returned them. So: bounded
 * reads, the same cost at 1,000 queued as at 1,000,000, with honest lower bounds past the cap.
 */
import { formatStateCount } from "../pbs/states.js";
import type { JobState } from "../pbs/types.js";
import type { SiteContext } from "../server/context.js";
import type { ListedJob } from "../server/records.js";

/**
 * Most active jobs of one queue a count reads (the oldest). 1,000 entries are ~90 KB, one Query
 * page, 11.5 read units (bench/scale.ts); "1000+" still fits qstat's five-character columns.
 */
export const JOB_COUNT_CAP = 1000;

/** One queue's active jobs as counted: the oldest JOB_COUNT_CAP at most. */
export interface ActiveJobs {
  jobs: ListedJob[];
  /** the queue holds more than `jobs`: every count of it is a lower bound */
  capped: boolean;
}

/** Each queue's active jobs, up to the cap (one bounded Query per queue, in parallel). */
export async function activeJobsCapped(
  ctx: SiteContext,
  queues: Iterable<string>,
): Promise<Map<string, ActiveJobs>> {
  const names = [...queues];
  const read = await Promise.all(
    // one more than the cap: a queue that returns it is known to hold more
    names.map((q) => ctx.store.listJobs(q, false, { limit: JOB_COUNT_CAP + 1 })),
  );
  return new Map(
    names.map((q, i) => {
      const capped = read[i].length > JOB_COUNT_CAP;
      return [q, { jobs: capped ? read[i].slice(0, JOB_COUNT_CAP) : read[i], capped }];
    }),
  );
}

/** Several queues' counts as one (the server's): capped if any of them is. */
export function mergeActive(parts: Iterable<ActiveJobs>): ActiveJobs {
  const out: ActiveJobs = { jobs: [], capped: false };
  for (const p of parts) {
    out.jobs.push(...p.jobs);
    out.capped ||= p.capped;
  }
  return out;
}

/** PBS's `total_jobs`: a number, or `<n>+` when the count stopped at the cap. */
export function totalJobs(a: ActiveJobs): number | string {
  return a.capped ? `${a.jobs.length}+` : a.jobs.length;
}

/**
 * PBS's `state_count`; past the cap every count is a lower bound (`Queued:996+ Running:4+`):
 * the jobs not read may be in any state.
 */
export function stateCountOf(a: ActiveJobs): string {
  const s = formatStateCount(a.jobs.map((j) => j.state as JobState));
  return a.capped ? s.replace(/:(\d+)/g, ":$1+") : s;
}
