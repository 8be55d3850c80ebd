/**
 * A MOM's signed `norun` (shared/exec/refusal.ts): it was pushed a kill or a signal for a run it
 * does not hold. Why an answer recorded on the job, and not an error returned to qsig: the push
 * resolves once the gateway took the message (on AWS the MOM's answer reaches another Lambda,
 * shared/server/mom-channel.ts), so by the time the MOM answers, qsig has exited. The outcome is
 * written to the job's trace (tracejob shows it) and counted.
 *
 * What follows is not decided here: a run its MOM does not hold is a lost run, and the
 * sweeper's lost-run check (job-end.ts sweepRunning: the MOM's beats do not list it) requeues or
 * ends it, as a qdel asked for (delReq) when that is what was pushed. Ending it here instead
 * would race an obituary on its way from an earlier MOM of the node, which the sweeper's check
 * (after dispatchGraceMs, against genuine beats) does not.
 *
 * Idempotent: the trace line names the request's time (`askedAt`), and a line already there is
 * not written again, so a redelivered answer changes nothing.
 */
import type { NoRunReport } from "../ports/channel.js";
import { nodeOfMomId } from "../auth/mom-report.js";
import type { SiteContext } from "./context.js";
import type { EndResult } from "./end-result.js";
import { withTrace } from "./job.js";
import { keyOfId, mutateJob } from "./mutate.js";

export async function handleNoRun(ctx: SiteContext, r: NoRunReport): Promise<EndResult> {
  const asked = r.asked === "kill" ? "kill" : `signal ${r.asked}`;
  const when = r.askedAt !== undefined ? ` (asked at ${new Date(r.askedAt).toISOString()})` : "";
  const message = `MOM ${r.momId} does not hold run ${r.runCount}: ${asked} not delivered${when}`;
  const now = ctx.clock.now();
  let recorded = false;
  await mutateJob(
    ctx,
    keyOfId(r.jobId, ctx.site.short),
    (cur) => {
      // about this run, from its MOM or a later MOM of its node; anything else is stale
      if (cur.runCount !== r.runCount || !(cur.state === "R" || cur.state === "E")) return { kind: "skip" };
      if (cur.momId !== r.momId && nodeOfMomId(r.momId) !== cur.alloc?.[0]?.node) return { kind: "skip" };
      if (cur.hist.some((h) => h.message === message)) return { kind: "skip" };
      recorded = true;
      return {
        kind: "write",
        after: { ...cur, mtime: now, hist: withTrace(cur.hist, { time: now, source: "M", message }) },
      };
    },
    { missingOk: true },
  );
  if (recorded) {
    ctx.metrics?.count("MomNoSuchRun", 1, { asked: r.asked === "kill" ? "kill" : "signal" });
    ctx.log.warn(`${r.jobId}: ${message}`);
  }
  return { partitions: [], ended: [] };
}
