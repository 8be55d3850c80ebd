/**
 * qorder job1 job2: the two jobs trade places in the order the scheduler considers them (PBS
 * swaps their queue rank; jobs in different queues also trade queues). Both must wait (queued,
 * held or waiting), both at this server, and the user must own both (or be an operator or
 * manager). The swap is one transaction over both jobs, guarded by both versions.
 */
import { InvalidStateError, NotFoundError } from "../errors.js";
import type { SiteContext } from "./context.js";
import { type JobRecord, withTrace } from "./job.js";
import { triggerCycles } from "./messages.js";
import { keyOfId } from "./mutate.js";
import { type Actor, mayActOn, refuseSubjob } from "./ops.js";
import { retryConflicts } from "./retry.js";

const WAITING = new Set(["Q", "H", "W"]);

export async function orderJobs(ctx: SiteContext, id1: string, id2: string, actor: Actor): Promise<void> {
  // PBS orders whole jobs and arrays, never one subjob
  refuseSubjob(ctx, id1);
  refuseSubjob(ctx, id2);
  const [a0, b0] = await Promise.all([
    ctx.store.getJob(keyOfId(id1, ctx.site.short)),
    ctx.store.getJob(keyOfId(id2, ctx.site.short)),
  ]);
  if (!a0) throw new NotFoundError(`Unknown Job Id ${id1}`);
  if (!b0) throw new NotFoundError(`Unknown Job Id ${id2}`);
  if (a0.key === b0.key) return;
  const partitions = new Set([a0.partition, b0.partition]);
  await retryConflicts(`qorder ${a0.key} ${b0.key}`, 8, async () => {
    const [a, b] = await Promise.all([ctx.store.getJob(a0.key), ctx.store.getJob(b0.key)]);
    if (!a) throw new NotFoundError(`Unknown Job Id ${id1}`);
    if (!b) throw new NotFoundError(`Unknown Job Id ${id2}`);
    for (const j of [a, b]) {
      mayActOn(actor, j);
      if (!WAITING.has(j.state)) throw new InvalidStateError(`Request invalid for state of job ${j.id}`);
    }
    const now = ctx.clock.now();
    const swapped = (j: JobRecord, other: JobRecord): JobRecord => ({
      ...j,
      qrank: other.qrank ?? other.qtime,
      queue: other.queue,
      partition: other.partition,
      env: other.queue === j.queue ? j.env : { ...j.env, PBS_O_QUEUE: other.queue },
      mtime: now,
      hist: withTrace(j.hist, {
        time: now,
        source: "S",
        message: `Job order swapped with ${other.id} by ${actor.user}`,
      }),
    });
    await ctx.store.transactJobs([
      { before: a, after: swapped(a, b) },
      { before: b, after: swapped(b, a) },
    ]);
  });
  await triggerCycles(ctx, [...partitions], "qorder");
}
