/** What the pure planner reads of a stored job: a candidate to start, or a job holding resources. */
import { placementOf } from "../pbs/resources.js";
import type { JobRecord } from "../server/job.js";
import type { CandidateJob, RunningJob } from "./types.js";

/**
 * `rl` (Resource_List) carries the job's `place`; a reader that lacks it (the offer picker)
 * plans with the `free` arrangement.
 */
export function toCandidate(
  j: Pick<JobRecord, "ver" | "queue" | "owner" | "priority" | "qtime" | "seq" | "sel" | "walltime"> &
    Partial<Pick<JobRecord, "rl" | "execAt" | "qrank" | "notBefore">>,
  id: string,
): CandidateJob {
  return {
    id,
    ver: j.ver,
    queue: j.queue,
    owner: j.owner,
    priority: j.priority,
    // qorder's swap (qrank) stands in for qtime in the queue's order
    qtime: j.qrank ?? j.qtime,
    seq: j.seq,
    select: j.sel,
    place: placementOf(j.rl?.place),
    walltime: j.walltime,
    ...(j.execAt !== undefined ? { execAt: j.execAt } : {}),
    ...(j.notBefore !== undefined ? { notBefore: j.notBefore } : {}),
  };
}

/**
 * `startedAt` stands in for a start time the record lacks. Exclusive holds travel in `alloc`
 * (Allocation.excl), so the run index needs nothing more.
 */
export function toRunning(
  j: Pick<JobRecord, "key" | "queue" | "owner" | "alloc" | "stime" | "walltime">,
  startedAt: number,
): RunningJob {
  return {
    id: j.key,
    queue: j.queue,
    owner: j.owner,
    alloc: j.alloc ?? [],
    startedAt: j.stime ?? startedAt,
    walltime: j.walltime,
  };
}
