/**
 * qdel's options beyond a plain delete (ops.ts deleteJob), as OpenPBS req_delete.c does them:
 *
 * - `-x`: a finished job's history record is removed (with its subjobs' records for an
 *   array); a job that has not finished is deleted as without -x (its record stays as history
 *   until a later `qdel -x`). A subjob's history cannot be removed alone (PBSE_NOHISTARRAYSUBJOB
 *   in PBS; here PBSE_BADSTATE with that reason).
 * - `-W force`: a running job ends at once, without waiting for its MOM's obituary, when a
 *   manager asks or when its MOM cannot be told; otherwise it is a plain delete. (Apart from
 *   ops.ts because ending a run goes through job-end.ts, which the peer protocol reaches
 *   from ops.ts's importers.)
 */
import { InvalidStateError } from "../errors.js";
import type { SiteContext } from "./context.js";
import { isFinished, type JobRecord } from "./job.js";
import { jobLost } from "./job-end.js";
import { sendEvents, triggerCycles } from "./messages.js";
import { keyOfId } from "./mutate.js";
import { type Actor, type Deleted, deleteJob, mayActOn } from "./ops.js";

export interface QdelOptions {
  /** -x */
  history?: boolean;
  /** -W force */
  force?: boolean;
  /** no abort mail for this delete (qdel -W suppress_email=N: the jobs past the first N) */
  nomail?: boolean;
}

/** A record that is history: finished here, or moved with its end recorded (obittime). */
function isHistory(job: JobRecord): boolean {
  return isFinished(job.state) && (job.state !== "M" || job.obittime !== undefined);
}

export async function deleteJobWith(
  ctx: SiteContext,
  id: string,
  actor: Actor,
  opts: QdelOptions,
): Promise<Deleted> {
  if (opts.history) {
    const job = await ctx.store.getJob(keyOfId(id, ctx.site.short));
    if (job && isHistory(job)) {
      mayActOn(actor, job);
      await purgeHistory(ctx, job);
      return { jobId: id };
    }
  }
  const how = { nomail: opts.nomail };
  if (!opts.force) return deleteJob(ctx, id, actor, how);
  let momUnreachable = false;
  const out: Deleted = await deleteJob(ctx, id, actor, how).catch(async (err) => {
    // the delete was recorded (delReq) before the MOM was asked: a kill that failed is what
    // force is for
    const cur = await ctx.store.getJob(keyOfId(id, ctx.site.short));
    if (!cur?.delReq) throw err;
    momUnreachable = true;
    return { jobId: id };
  });
  if (out.movedTo) return out;
  const cur = await ctx.store.getJob(keyOfId(id, ctx.site.short));
  if (cur?.delReq && (cur.state === "R" || cur.state === "E") && (actor.manager || momUnreachable)) {
    const end = await jobLost(ctx, cur, `Delete forced by ${actor.user}`);
    if (end.ended.length)
      await sendEvents(
        ctx,
        end.ended.map((k) => ({ type: "ended" as const, jobKey: k })),
      );
    if (end.partitions.length) await triggerCycles(ctx, end.partitions, "qdel-force");
  }
  return out;
}

async function purgeHistory(ctx: SiteContext, job: JobRecord): Promise<void> {
  if (job.parentKey !== undefined)
    throw new InvalidStateError(
      `Request invalid for state of job ${job.id}: the history of a finished subjob goes with its array's`,
    );
  if (job.array) for (const sub of await ctx.store.finishedSubjobs(job)) await ctx.store.purgeJob(sub);
  await ctx.store.purgeJob(job);
}
