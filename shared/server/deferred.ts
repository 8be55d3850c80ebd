/**
 * Deferred jobs (qsub -a): a job whose Execution_Time is ahead waits in state W, and the
 * sweeper's tick moves it to Q once that time has come. The sweeper, not a timer per job:
 * Lambda has no timers that outlive an invocation, the tick already runs every site's periodic
 * work, and one query of the wait index (which holds only waiting jobs) finds every W job, so
 * no job is polled on its own. A job starts at most one tick after its time, as PBS's own
 * server may start it a scheduling cycle late.
 */
import type { SiteContext } from "./context.js";
import { withTrace } from "./job.js";
import { mutateJob } from "./mutate.js";

/** Queue the W jobs whose Execution_Time has come; returns the partitions that want a cycle. */
export async function releaseDeferred(ctx: SiteContext): Promise<string[]> {
  const now = ctx.clock.now();
  const due = (await ctx.store.queryWaiting()).filter(
    (j) => j.state === "W" && (j.execAt === undefined || j.execAt <= now),
  );
  const parts = new Set<string>();
  for (const w of due) {
    const { after } = await mutateJob(
      ctx,
      w.key,
      (cur) => {
        // re-decided on the fresh job: a qalter -a or qhold since the index read wins
        if (cur.state !== "W" || (cur.execAt !== undefined && cur.execAt > now)) return { kind: "skip" };
        return {
          kind: "write",
          after: {
            ...cur,
            state: "Q",
            etime: now,
            mtime: now,
            hist: withTrace(cur.hist, {
              time: now,
              source: "S",
              message: "Execution_Time reached: job queued",
            }),
          },
        };
      },
      { missingOk: true },
    );
    if (after?.state === "Q") parts.add(after.partition);
  }
  return [...parts];
}
