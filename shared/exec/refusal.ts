/**
 * What a node's MOM answers, on its push channel, about a push it cannot act on (issue 12):
 *
 * - a run it refuses (never started): a signed obituary with `refused` set and PBS's exit code
 *   (JOB_EXEC_FAILUID for a user with no account on the node, else JOB_EXEC_RETRY), which the
 *   server turns into a requeue with the MOM's reason, and a hold after too many
 *   (shared/server/job-end.ts), never into a qrerun;
 * - a kill or signal for a run it does not hold: a signed `norun` report, which the server
 *   records on the job (shared/server/mom-norun.ts). A run that ended here and whose obituary
 *   is on its way is not "no such run": its obituary answers.
 *
 * The local MOM (infra/mom/local.ts) and the ECS node MOM (infra/mom/ecs-node.ts) share these,
 * so both answer alike.
 */
import type { MomPush, NoRunReport } from "../ports/channel.js";
import type { JobRunSpec, Obituary, RunRefusal } from "../ports/index.js";

export type { NoRunReport };
import { jobAccount } from "./run-job.js";

/** PBS JOB_EXEC_RETRY: the job could not be started, try again */
export const JOB_EXEC_RETRY = -3;
/** PBS JOB_EXEC_FAILUID: invalid uid/gid for the job (the server requeues it, as for a retry) */
export const JOB_EXEC_FAILUID = -10;

/** A run the MOM will not start, and why. */
export class RunRefusedError extends Error {
  constructor(
    readonly reason: RunRefusal,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * Checks a node MOM makes before it starts a pushed run (throws RunRefusedError): the job's
 * account must exist here, as PBS's MOM checks the password entry before it starts anything.
 */
export function checkRunnable(spec: JobRunSpec, opts: { runAsOwner?: boolean; jobUser?: string }): void {
  const who = jobAccount(spec, opts.runAsOwner === true, opts.jobUser);
  if (who.refused) throw new RunRefusedError("user", who.refused.replace(/^job failed: /, ""));
}

/**
 * What an error out of `Mom.run` (or the entry's own preparation) means for a pushed run:
 * undefined for a run pushed to another MOM (not this MOM's to report: the sweeper finds it
 * unreported), else the refusal to answer with.
 */
export function refusalOf(err: unknown): RunRefusedError | undefined {
  if (err instanceof RunRefusedError) return err;
  const code = (err as { code?: string } | null)?.code;
  if (code === "WrongMom") return undefined;
  const message = err instanceof Error ? err.message : String(err);
  return new RunRefusedError(code === "MomShuttingDown" ? "closing" : "spec", message, { cause: err });
}

/** The signed-to-be obituary of a refused run: exit JOB_EXEC_FAILUID or JOB_EXEC_RETRY, no usage. */
export function refusalObituary(
  spec: JobRunSpec,
  momId: string,
  refusal: RunRefusedError,
  now: number,
): Obituary {
  return {
    type: "obit",
    jobId: spec.jobId,
    runCount: spec.runCount,
    momId,
    exitStatus: refusal.reason === "user" ? JOB_EXEC_FAILUID : JOB_EXEC_RETRY,
    startedAt: now,
    endedAt: now,
    resourcesUsed: { walltime: 0, cput: 0, mem: 0, ncpus: spec.ncpus },
    comment: `MOM ${momId} refused the run (${refusal.reason}): ${refusal.message}`,
    refused: refusal.reason,
  };
}

/** The `norun` answer to a kill or signal of a run this MOM does not hold (the push's `at` echoed). */
export function noRunReport(m: Extract<MomPush, { type: "kill" | "signal" }>, momId: string): NoRunReport {
  return {
    type: "norun",
    jobId: m.jobId,
    runCount: m.runCount,
    momId,
    asked: m.type === "kill" ? "kill" : m.signal,
    askedAt: m.at,
  };
}
