/**
 * The outbox: every transfer step still unanswered is sent again, and transfers past their
 * deadline are timed out. Runs on the sweeper tick. A crash between a write and its send, or a
 * lost message, only delays: the job stays in the "~transfer" index while a step is outstanding,
 * and every handler is idempotent, so re-sending is safe. What is due is the machines' word
 * (originDue, the receiver's tick); when is this module's.
 */
import { IllegalTransitionError } from "../errors.js";
import { findPeer, type SiteContext } from "../server/context.js";
import { sendToPeer } from "../server/messages.js";
import type { EndResult } from "../server/end-result.js";
import type { JobRecord } from "../server/job.js";
import { forwardOf, originDue, originStep } from "./origin-machine.js";
import { pacingOf } from "./pacing.js";
import { receiverStep } from "./receiver-machine.js";
import { NONE, perform, stepJob } from "./run-step.js";

/** Allowed clock difference between sites when judging a transfer's deadline. */
export const CLOCK_MARGIN_MS = 5_000;

/**
 * Re-send every transfer step still unanswered, and time out transfers past their deadline.
 * Cheap when nothing is in flight (one query of an empty index key).
 */
export async function sweepTransfers(ctx: SiteContext): Promise<EndResult> {
  const res: EndResult = { partitions: [], ended: [] };
  const now = ctx.clock.now();
  const resends = pacingOf(ctx).resends;
  const jobs = await ctx.store.queryTransfers();
  // Forget resend counts of jobs no longer pending.
  const pendingKeys = new Set(jobs.map((j) => j.key));
  for (const k of resends.keys()) if (!pendingKeys.has(k)) resends.delete(k);
  // The index carries mtime and the transfer fields: read whole records only for what is due
  // (a resend due, or past its deadline), so a burst in flight costs one query per tick, not a
  // read per job. Resends back off (x2 each, up to 64x): when a peer's inbox is backed up,
  // re-sending every interval would only add to the pile (measured: 14.8 -> see README).
  const resendDue = (j: JobRecord) => {
    if (now - j.mtime < ctx.settings.transferResendMs) return false;
    const r = resends.get(j.key);
    return !r || now - r.at >= ctx.settings.transferResendMs * 2 ** Math.min(r.n, 6);
  };
  const due = jobs.filter(
    (j) =>
      resendDue(j) || (j.state === "T" && j.xfer !== undefined && now > j.xfer.deadline + CLOCK_MARGIN_MS),
  );
  if (!due.length) return res;
  const full = await ctx.store.getJobs(due.map((j) => j.key));
  for (const job of full.values()) {
    const stale = resendDue(job);
    if (stale) resends.set(job.key, { n: (resends.get(job.key)?.n ?? 0) + 1, at: now });
    try {
      const r = await sweepOne(ctx, job, now, stale);
      res.partitions.push(...r.partitions);
    } catch (err) {
      // a bug (a write the job state table forbids) must be seen, not logged away as one job's
      // trouble: it fails the sweep, and the sweeper's errors are alarmed
      if (err instanceof IllegalTransitionError) throw err;
      ctx.log.warn(`transfer sweep of ${job.id}: ${(err as Error).message}`);
    }
  }
  return res;
}

/** What the sweep does for one job it read: time out, or resend (from either side). */
async function sweepOne(ctx: SiteContext, job: JobRecord, now: number, stale: boolean): Promise<EndResult> {
  if (job.state === "T" && job.xfer) {
    const xfer = job.xfer;
    const peer = findPeer(ctx, xfer.peer);
    const what = originDue(job, { now, marginMs: CLOCK_MARGIN_MS, peerKnown: !!peer, resendDue: stale });
    if (what === "timeout") {
      // On a fresh read: an ACCEPT may have settled the transfer since this sweep's read.
      const name = { short: xfer.peer, server: peer?.server ?? xfer.peer };
      const { step } = await stepJob(ctx, job.key, (cur) =>
        originStep(cur, { kind: "timeout", now, peer: name, transferId: xfer.id, peerKnown: !!peer }),
      );
      return perform(ctx, peer, xfer.peer, step);
    }
    if (what === "resend" && peer) await sendToPeer(ctx, peer, forwardOf(job));
    return NONE;
  }
  if (!stale) return NONE;
  // A received copy: still waiting for COMMIT (ask again), or ended and not yet acknowledged.
  const peer = findPeer(ctx, job.inbound?.from);
  return perform(ctx, peer, job.inbound?.from ?? "", receiverStep({ job }, { kind: "tick" }));
}
