/**
 * An array's count of its subjobs' ends: apart from job-end.ts so that the peer protocol (a
 * moved subjob's JOB_END, peers/run-step.ts) and qdel (ops.ts) count without importing the end
 * path, which imports them (an import cycle).
 */
import type { SiteContext } from "./context.js";
import { endFields, isFinished, type JobRecord } from "./job.js";
import { mailIfMarked, markMail } from "./mail.js";
import { sendEvents } from "./messages.js";
import { retryConflicts } from "./retry.js";

/**
 * Count a finished subjob on its parent; the last one finishes the array. Also run by the
 * repair sweep for a subjob whose end was written but not counted (a crash in between).
 */
export async function subjobEnded(ctx: SiteContext, sub: JobRecord): Promise<void> {
  const parentKey = sub.parentKey as string;
  const now = ctx.clock.now();
  // The subjob's own `doneCounted` flag makes this idempotent: the parent is counted once.
  if (sub.extra?.counted === "1") return;
  await retryConflicts(`array ${parentKey}`, 10, async () => {
    const [parent, cur] = await Promise.all([ctx.store.getJob(parentKey), ctx.store.getJob(sub.key)]);
    if (!parent?.array || !cur || cur.extra?.counted === "1") return;
    // a subjob handed to a peer (M) has ended only once its JOB_END is recorded (obittime)
    if (!isFinished(cur.state) || (cur.state === "M" && cur.obittime === undefined)) return;
    const a = parent.array;
    const failed = (cur.exitStatus ?? 0) !== 0;
    const array = {
      ...a,
      running: Math.max(0, a.running - 1),
      done: a.done + 1,
      failed: a.failed + (failed ? 1 : 0),
    };
    let after: JobRecord = { ...parent, array, mtime: now };
    if (array.done >= a.indices.length) {
      after = endFields(
        after,
        now,
        array.failed ? 1 : 0,
        `Array job finished: ${array.done} subjobs, ${array.failed} failed`,
        "Array job finished",
      );
      after.state = "F";
      // -m e of an array: its end, marked in the write that counts its last subjob
      after = markMail(ctx, after, "e");
    }
    // both conditional on their versions: a lost race (another subjob counted) reads again
    await ctx.store.transactJobs([
      { before: parent, after },
      { before: cur, after: { ...cur, extra: { ...(cur.extra ?? {}), counted: "1" } } },
    ]);
    if (after.state === "F") await mailIfMarked(ctx, parent, after, "e", `Exit_status=${after.exitStatus}`);
    if (after.state === "F" && after.hasDeps) await sendEvents(ctx, [{ type: "ended", jobKey: parent.key }]);
  });
}
