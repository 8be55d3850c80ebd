/** Build what the MOM needs from a job that the scheduler just placed (pure). */
import type { JobRunSpec } from "../ports/index.js";
import type { JobRecord } from "./job.js";

export function buildRunSpec(job: JobRecord, killDelay: number): JobRunSpec {
  const alloc = job.alloc ?? [];
  const first = job.sel[0];
  const perRank = Math.max(1, first?.ncpus ?? 1);
  const nodefile: string[] = [];
  for (const a of alloc) {
    const ranks = Math.max(1, Math.round(a.ncpus / perRank)) * Math.max(1, first?.mpiprocs ?? 1);
    for (let i = 0; i < ranks; i++) nodefile.push(a.node);
  }
  const join = job.join;
  return {
    jobId: job.id,
    seq: job.key.replace(/\[.*$/, ""),
    runCount: job.runCount,
    name: job.name,
    queue: job.queue,
    owner: job.owner,
    user: job.user,
    script: job.script,
    workdir: job.submitDir,
    env: job.env,
    walltime: job.walltime,
    killDelay,
    stdoutPath: job.outPath,
    stderrPath: join === "oe" ? null : job.errPath,
    joinEo: join === "eo" ? true : undefined,
    nodefile,
    ncpus: first?.ncpus ?? 1,
    mem: first?.mem ?? 0,
    ngpus: first?.ngpus ?? 0,
    arrayIndex: job.arrayIndex !== undefined ? String(job.arrayIndex) : undefined,
    momId: job.momId ?? "",
    execHost: job.execHost?.split("/")[0] ?? alloc[0]?.node ?? "",
  };
}
