/** Build what the MOM needs from a job that the scheduler just placed (pure). */
import { parseUmask } from "../pbs/job-start.js";
import type { Chunk } from "../pbs/types.js";
import type { JobRunSpec } from "../ports/index.js";
import type { JobRecord } from "./job.js";
import { seqOfId } from "./mutate.js";

/** The select's chunk instances in select order (chunk, then instance): the order of `alloc`. */
function instances(sel: readonly Chunk[]): Chunk[] {
  return sel.flatMap((c) => Array.from({ length: Math.max(0, c.count) }, () => c));
}

/** A chunk's `ompthreads`, if it asked for a whole number of them. */
function ompthreads(c: Chunk | undefined): number | undefined {
  const v = c?.other?.ompthreads;
  return v !== undefined && /^\d+$/.test(v) ? Number(v) : undefined;
}

/**
 * The MOM's view of the placement, as a PBS MOM derives it from `exec_vnode` and the select:
 * - PBS_NODEFILE: one line per MPI rank, `mpiprocs` lines for each chunk (allocations are one
 *   per chunk instance, in select order, so chunk i ran on alloc[i].node);
 * - NCPUS and OMP_NUM_THREADS: the first chunk's `ompthreads`, else its `ncpus` (PBS sets both
 *   from the first rank's thread count).
 */
export function buildRunSpec(
  job: JobRecord,
  killDelay: number,
  start: "home-login" | "workdir" = "home-login",
): JobRunSpec {
  const alloc = job.alloc ?? [];
  const chunks = instances(job.sel);
  const first = job.sel[0];
  const nodefile: string[] = [];
  alloc.forEach((a, i) => {
    const ranks = Math.max(0, (chunks[i] ?? first)?.mpiprocs ?? 1);
    for (let r = 0; r < ranks; r++) nodefile.push(a.node);
  });
  const join = job.join;
  return {
    jobId: job.id,
    // the ID's number, not the key's: a job received from a peer keeps its origin's name.o103
    seq: seqOfId(job.id),
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
    threads: ompthreads(first) ?? first?.ncpus ?? 1,
    mem: first?.mem ?? 0,
    ngpus: first?.ngpus ?? 0,
    arrayIndex: job.arrayIndex !== undefined ? String(job.arrayIndex) : undefined,
    ...(job.extra?.Shell_Path_List ? { shellPaths: job.extra.Shell_Path_List } : {}),
    ...(job.extra?.umask !== undefined ? { umask: parseUmask(job.extra.umask) } : {}),
    ...(job.extra?.stagein ? { stagein: job.extra.stagein } : {}),
    ...(job.extra?.stageout ? { stageout: job.extra.stageout } : {}),
    start,
    ...(job.interactive ? { interactive: { keyHash: job.interactive.keyHash } } : {}),
    momId: job.momId ?? "",
    execHost: job.execHost?.split("/")[0] ?? alloc[0]?.node ?? "",
  };
}
