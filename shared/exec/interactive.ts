/**
 * An interactive run (qsub -I): wait until the submitter attaches to the run's session
 * (session.ts), then start the job through the ordinary runner (run-job.ts startJob, the same
 * user switch, environment, walltime, kill and accounting), with the session as its terminal.
 *
 * Until qsub attaches the run counts as running (the heartbeat lists it: the job is R, which is
 * what qsub waits for); a kill then (qdel, shutdown) ends it at once, and so does the attach
 * deadline, which frees the node when qsub went away before its job started.
 */
import type { JobRunSpec, KillReason } from "../ports/index.js";
import {
  EXIT_FAILED,
  jobAccount,
  type JobResult,
  type RunningJob,
  type StartJobOptions,
  startJob,
} from "./run-job.js";
import { listenForSession, sessionSocketPath } from "./session.js";

/** How long a started interactive job waits for its qsub; PBS's qsub is attached at start. */
export const ATTACH_TIMEOUT_MS = 120_000;

export function startInteractive(
  spec: JobRunSpec,
  opts: StartJobOptions & { attachTimeoutMs?: number },
): RunningJob {
  const clock = opts.clock ?? Date.now;
  const keyHash = spec.interactive?.keyHash ?? "";
  const who = jobAccount(spec, opts.runAsOwner === true, opts.jobUser);
  const listener = listenForSession({
    socketPath: sessionSocketPath(opts.tmpRoot, spec.jobId, spec.runCount),
    keyHash,
    owner: who.account,
  });
  const since = clock();
  let real: RunningJob | undefined;
  let ended: ((r: JobResult) => void) | undefined;
  const early = new Promise<JobResult>((resolve) => {
    ended = resolve;
  });
  const endEarly = (comment: string, killedFor?: KillReason) => {
    const now = clock();
    const r: JobResult = {
      jobId: spec.jobId,
      runCount: spec.runCount,
      exitStatus: EXIT_FAILED,
      startedAt: since,
      endedAt: now,
      resourcesUsed: { walltime: Math.floor((now - since) / 1000), cput: 0, mem: 0, ncpus: spec.ncpus },
      comment,
    };
    if (killedFor) r.killedFor = killedFor;
    ended?.(r);
  };
  const deadline = setTimeout(() => {
    listener.close();
    endEarly(
      `job failed: qsub did not attach to the interactive session within ${Math.round((opts.attachTimeoutMs ?? ATTACH_TIMEOUT_MS) / 1000)} s`,
    );
  }, opts.attachTimeoutMs ?? ATTACH_TIMEOUT_MS);
  deadline.unref();

  const result = listener.accepted.then(
    (session) => {
      clearTimeout(deadline);
      real = startJob(spec, { ...opts, session });
      return real.result;
    },
    async (e: Error) => {
      clearTimeout(deadline);
      // killed or timed out while waiting: that end is already decided
      if (!ended) return early;
      endEarly(`job failed: ${e.message}`);
      return early;
    },
  );
  // whichever comes first: the real run's end, or an end before qsub attached
  const settled = Promise.race([result, early]);

  return {
    get pid() {
      return real?.pid ?? 0;
    },
    result: settled,
    kill(reason: KillReason) {
      if (real) return real.kill(reason);
      clearTimeout(deadline);
      endEarly(`job killed before qsub attached (${reason})`, reason);
      listener.close();
    },
    signal(sig: NodeJS.Signals) {
      real?.signal(sig);
    },
    usage() {
      return real?.usage?.() ?? { walltime: Math.floor((clock() - since) / 1000), cput: 0, mem: 0 };
    },
  };
}
