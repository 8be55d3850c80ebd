/**
 * `qsub -W block=true`: wait for the job to end, then exit with its exit status, as PBS's qsub
 * does (qsub.c block(): `exit(exitval)`; a job that ended without running, e.g. deleted, makes
 * qsub print `qsub: <jobid> <message>` and exit 3).
 *
 * PBS's server calls back to a port qsub listens on. Here the client polls the job (history
 * included) with a backoff instead: the API is a Lambda behind API Gateway (no callbacks to a
 * submit host, and a long-poll would bill the wait and hit the gateway's 30 s limit), and a
 * poll survives a server restart by itself: a refused connection or a 5xx is retried, only a
 * definite answer ("Unknown Job Id") ends the wait. A job that moved to a peer is read at its
 * origin, which records the end (Exit_status, obittime) when the peer's JOB_END arrives.
 *
 * Ctrl-C (SIGINT, SIGHUP, SIGQUIT, SIGTERM) does what PBS's does (qsub.c blockint/bailout):
 * `qsub: wait for job <id> interrupted by signal N`, `Job <id> is being deleted`, the job is
 * deleted, exit 2.
 */
import type { JobView } from "../../shared/api/views.js";
import { MetaqueueError } from "../../shared/errors.js";
import type { ServerEntry } from "./config.js";
import type { BlockDeps, Ctx } from "./context.js";

export type { BlockDeps };

/** First and longest pause between polls (ms): quick for short jobs, light for long ones. */
export const BLOCK_POLL_FIRST_MS = 250;
export const BLOCK_POLL_MAX_MS = 5_000;

/** Signals a blocking qsub answers by deleting its job; their numbers for the message. */
const SIGNALS: Array<[NodeJS.Signals, number]> = [
  ["SIGHUP", 1],
  ["SIGINT", 2],
  ["SIGQUIT", 3],
  ["SIGTERM", 15],
];

/** What ends the wait: the job's exit code for qsub, or a message and 3. */
export type BlockOutcome = { exitCode: number; message?: string };

/**
 * The outcome once a job has ended, else undefined. Ended = it has an end time (obittime; a
 * moved job's origin record gets one from the peer's JOB_END) or is finished (F) without one.
 */
export function blockOutcome(view: JobView): BlockOutcome | undefined {
  const a = view.attributes;
  const state = String(a.job_state ?? "");
  if (a.obittime === undefined && state !== "F") return undefined;
  const status = a.Exit_status;
  if (typeof status === "number") return { exitCode: status & 0xff };
  // never ran (deleted while queued or held): PBS sends the deletion's message instead
  const comment = typeof a.comment === "string" && a.comment !== "" ? a.comment : "Job ended without running";
  return { exitCode: 3, message: comment };
}

/** Whether an error while polling is worth another try (server down, restarting, overloaded). */
function transient(e: unknown): boolean {
  if (!(e instanceof MetaqueueError)) return true;
  return e.code === "ConnectionRefused" || e.code === "BadResponse" || e.status >= 500 || e.status === 429;
}

export const processBlockDeps: BlockDeps = {
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  onSignal: (handler) => {
    const pairs = SIGNALS.map(([name, n]) => [name, () => handler(n)] as const);
    for (const [name, h] of pairs) process.on(name, h);
    return () => {
      for (const [name, h] of pairs) process.off(name, h);
    };
  },
};

/** Waits for `jobId` at `server` to end; returns qsub's exit code. */
export function waitForJob(
  ctx: Ctx,
  server: ServerEntry,
  jobId: string,
  deps: BlockDeps = ctx.deps.block ?? processBlockDeps,
): Promise<number> {
  return pollJob(ctx, server, jobId, { maxPauseMs: BLOCK_POLL_MAX_MS, deps }, (view) => {
    const out = blockOutcome(view);
    if (!out) return undefined;
    if (out.message !== undefined) {
      ctx.err(`${jobId} ${out.message}`);
      return 3;
    }
    return out.exitCode;
  });
}

/**
 * Poll the job (history included), with a doubling pause, until `decide` returns an answer.
 * A signal (Ctrl-C...) ends the wait at once as PBS's qsub bailout does: the job is deleted
 * and the answer is 2. Errors that a retry may clear (server restarting) are retried; a
 * definite one ("Unknown Job Id") is thrown.
 */
export async function pollJob<T>(
  ctx: Ctx,
  server: ServerEntry,
  jobId: string,
  opts: { maxPauseMs: number; deps?: BlockDeps },
  decide: (view: JobView) => T | undefined,
): Promise<T | 2> {
  const deps = opts.deps ?? ctx.deps.block ?? processBlockDeps;
  let interrupted: number | undefined;
  let wake: (() => void) | undefined;
  const off = deps.onSignal((sig) => {
    interrupted = sig;
    wake?.();
  });
  try {
    let pause = BLOCK_POLL_FIRST_MS;
    for (;;) {
      if (interrupted !== undefined) return await bailout(ctx, server, jobId, interrupted);
      try {
        const answer = decide(await ctx.api.getJob(server, jobId, true));
        if (answer !== undefined) return answer;
      } catch (e) {
        if (!transient(e)) throw e;
      }
      await Promise.race([deps.sleep(pause), new Promise<void>((r) => (wake = r))]);
      pause = Math.min(pause * 2, opts.maxPauseMs);
    }
  } finally {
    off();
  }
}

async function bailout(ctx: Ctx, server: ServerEntry, jobId: string, sig: number): Promise<2> {
  ctx.err(`wait for job ${jobId} interrupted by signal ${sig}`);
  ctx.out(`Job ${jobId} is being deleted\n`);
  try {
    await ctx.api.deleteJob(server, jobId);
  } catch (e) {
    ctx.fail(e);
  }
  return 2;
}
