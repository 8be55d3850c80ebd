/** What the pure planner reads of a stored job: a candidate to start, or a job holding resources. */
import type { JobRecord } from "../server/job.js";
import type { CandidateJob, RunningJob } from "./types.js";

export function toCandidate(
  j: Pick<JobRecord, "ver" | "queue" | "owner" | "priority" | "qtime" | "seq" | "sel" | "walltime">,
  id: string,
): CandidateJob {
  return {
    id,
    ver: j.ver,
    queue: j.queue,
    owner: j.owner,
    priority: j.priority,
    qtime: j.qtime,
    seq: j.seq,
    select: j.sel,
    walltime: j.walltime,
  };
}

/** `startedAt` stands in for a start time the record lacks. */
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
