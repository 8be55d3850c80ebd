/**
 * qsig [-s signal] job: the signal goes to the running job's processes through its MOM (the
 * executor port). Only a running job (R) can be signalled, by its owner or an operator or
 * manager. PBS's `suspend`/`resume` (job state S) are refused with PBS's "No support" error:
 * a suspended job keeps its nodes but must not count as running for the scheduler, which the
 * run index does not model yet.
 */
import { InvalidStateError, NotFoundError, RejectedError } from "../errors.js";
import { parseSignal } from "../pbs/signal.js";
import type { SiteContext } from "./context.js";
import { isFinished, type JobRecord, withTrace } from "./job.js";
import { keyOfId, mutateJob } from "./mutate.js";
import { type Actor, mayActOn } from "./ops.js";

/** qsig. Returns the job as read (its owner: the API's audit of a privileged qsig reads nothing more). */
export async function signalJob(
  ctx: SiteContext,
  id: string,
  actor: Actor,
  signal = "SIGTERM",
): Promise<JobRecord> {
  const sig = parseSignal(signal);
  const job = await ctx.store.getJob(keyOfId(id, ctx.site.short));
  if (!job) throw new NotFoundError(`Unknown Job Id ${id}`);
  mayActOn(actor, job);
  if (sig.kind !== "signal")
    throw new RejectedError(
      "NotSupported",
      `No support for requested service: qsig -s ${sig.kind} (suspended jobs, state S, are not supported) ${job.id}`,
    );
  if (isFinished(job.state)) throw new InvalidStateError(`Job has finished ${job.id}`, "HISTJOBID");
  if (job.state !== "R" || !job.momId)
    throw new InvalidStateError(`Request invalid for state of job ${job.id}`);
  await ctx.executor.signal({ jobId: job.id, momId: job.momId, runCount: job.runCount }, sig.name);
  // the trace says who signalled it (tracejob), as PBS's server log does
  const now = ctx.clock.now();
  // from the job as read above: a rerun or end since then fails the guarded write on `ver`, and
  // the retry's fresh read skips a run that is no longer this one
  await mutateJob(ctx, job, (cur) =>
    cur.runCount !== job.runCount
      ? { kind: "skip" }
      : {
          kind: "write",
          after: {
            ...cur,
            mtime: now,
            hist: withTrace(cur.hist, {
              time: now,
              source: "S",
              message: `Signal ${sig.name} sent by ${actor.user}`,
            }),
          },
        },
  );
  return job;
}
