/**
 * The MOM channel's `grant` request (issue 12 point 2): a MOM asks for fresh upload URLs for a
 * run's output (its dispatch carried the first ones; they expire). The MOMs' task roles have no
 * S3 right, so this answer is the only way a MOM gets to write output, and it is given only for
 * a run the job item says this MOM holds: the request is signed with the MOM's key (who asks),
 * and the job's momId and runCount must match it (what it may write). A wrong MOM (misdirected),
 * an earlier run (stale), a bad signature or body (forged) are refused, counted
 * (MomGrantsRefused) and answered with the reason, so the MOM stops asking for that run.
 *
 * What may be named: file names only (no path), at most four (stdout and stderr, as given and
 * as delivered: an -o naming a directory is delivered under the default name), all under the
 * job's own prefix; the API serves only the names the job was given or delivered, so a name
 * the MOM made up is never read by anyone.
 *
 * Read, not written: a grant changes no state, so a repeated or reordered request costs one
 * consistent read and an HMAC, and answers the same. The run check is a consistent read: a
 * requeue or a new run (runCount + 1) committed before the read refuses the old MOM; a grant
 * given just before one is bounded by its expiry, and its keys are this job's own prefix.
 */
import { countMomRefusal } from "../observability/metrics.js";
import { MomReportError, type MomRefusal, verifyReport } from "../auth/mom-report.js";
import type { MomPush } from "../ports/channel.js";
import type { SiteContext } from "./context.js";
import { keyOfId } from "./mutate.js";

/** Refused grants of this process by reason (tests; MomGrantsRefused on AWS). */
export const refusedGrants: Record<string, number> = {};

type GrantCtx = Pick<
  SiteContext,
  "store" | "site" | "momSecret" | "clock" | "settings" | "metrics" | "log" | "outputGrants"
>;

/** States in which a run still has output to write (E: its MOM reports the end after the upload). */
const WRITING = new Set(["R", "E"]);

function bodyOf(b: unknown): { jobId: string; runCount: number; names: string[] } | undefined {
  const o = b as { jobId?: unknown; runCount?: unknown; names?: unknown } | null;
  if (!o || typeof o.jobId !== "string" || !Number.isInteger(o.runCount) || !Array.isArray(o.names)) return;
  if (!o.names.every((n) => typeof n === "string")) return;
  return { jobId: o.jobId, runCount: o.runCount as number, names: o.names as string[] };
}

/** Answer a MOM's signed `grant` request: the grant, or why not (never throws for a bad request). */
export async function momGrant(ctx: GrantCtx, report: unknown): Promise<MomPush> {
  const asked = bodyOf((report as { body?: unknown } | null)?.body);
  const answer = { type: "grant" as const, jobId: asked?.jobId ?? "", runCount: asked?.runCount ?? -1 };
  const refuse = (reason: MomRefusal | "unavailable", message: string): MomPush => {
    refusedGrants[reason] = (refusedGrants[reason] ?? 0) + 1;
    countMomRefusal(ctx.metrics, "MomGrantsRefused", reason);
    ctx.log.warn(`mom channel: refused output grant (${reason}): ${message}`);
    return { ...answer, refused: reason };
  };
  try {
    if (!ctx.momSecret) throw new MomReportError("forged", "this site has no MOM secret");
    const env = verifyReport(ctx.momSecret, report, ctx.clock.now(), ctx.settings.momReportWindowMs, "grant");
    if (!asked) throw new MomReportError("forged", `grant request of ${env.momId} has no run`);
    // the run check needs the job item only, not its script (job-script.ts: a second item)
    const job = await ctx.store.getJob(keyOfId(asked.jobId, ctx.site.short), true, { script: false });
    if (!job || job.momId !== env.momId)
      throw new MomReportError("misdirected", `${env.momId} does not hold ${asked.jobId}`);
    if (job.runCount !== asked.runCount || !WRITING.has(job.state))
      throw new MomReportError(
        "stale",
        `${asked.jobId} run ${asked.runCount} of ${env.momId} is not running (run ${job.runCount}, state ${job.state})`,
      );
    if (!ctx.outputGrants) return refuse("unavailable", "this site keeps no output (no output bucket)");
    try {
      return { ...answer, grant: await ctx.outputGrants.grant(asked.jobId, asked.runCount, asked.names) };
    } catch (err) {
      // names that are no file name (a path, too many): the MOM's own doing
      if (err instanceof RangeError) throw new MomReportError("forged", err.message, { cause: err });
      throw err;
    }
  } catch (err) {
    if (!(err instanceof MomReportError)) throw err;
    return refuse(err.reason, err.message);
  }
}
