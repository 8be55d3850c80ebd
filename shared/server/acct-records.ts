/**
 * The PBS accounting records of a job's steps, built from the job alone: the step that writes
 * one (submit, claim, end) and the repair that rebuilds a lost one (job-end.ts settleEnd) get
 * the same record, key and content.
 */
import type { JobRecord } from "./job.js";
import type { AcctRecord } from "./records.js";

/** A PBS accounting record of `job` (Q, S, E, D, ...) with the usual fields. */
export function acct(
  job: JobRecord,
  type: string,
  time: number,
  extra: Record<string, string | number> = {},
): AcctRecord {
  const data: Record<string, string | number> = {
    user: job.user,
    queue: job.queue,
    jobname: job.name,
    ctime: Math.floor(job.ctime / 1000),
    qtime: Math.floor(job.qtime / 1000),
    ...extra,
  };
  if (job.account) data.account = job.account;
  if (job.stime) data.start = Math.floor(job.stime / 1000);
  if (job.execHost) data.exec_host = job.execHost;
  for (const [k, v] of Object.entries(job.rl)) data[`Resource_List.${k}`] = v;
  return { time, jobId: job.id, type, data };
}

/**
 * The Q record submit writes (submit.ts), from the job: rebuilt the same by settleEnd's repair.
 */
export function queuedRecord(job: JobRecord): AcctRecord {
  return { time: job.ctime, jobId: job.id, type: "Q", data: { queue: job.queue, user: job.user } };
}

/** The S record a claim writes (scheduler/cycle.ts), from the started job (or from it later). */
export function startRecord(job: JobRecord): AcctRecord {
  return acct(job, "S", job.stime ?? job.mtime, { etime: Math.floor((job.etime ?? job.qtime) / 1000) });
}
