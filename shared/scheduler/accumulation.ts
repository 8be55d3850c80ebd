/**
 * PP-337 job_accumulation_time: a scheduler waits this many seconds before its cycle, so a burst
 * of submissions is scheduled together rather than one cycle per job.
 */
import type { SiteContext } from "../server/context.js";
import { loadServerState } from "../server/server-state.js";
import { schedFor } from "../server/objects.js";
import { type CycleOptions, runCycle } from "./cycle.js";

/**
 * The scheduler function's time limit (its Lambda timeout, infra/aws/constructs/scheduler.ts):
 * one accumulation wait and the cycle after it must fit in it. Short, because the scheduler
 * queue's visibility is 6x this, and a cycle killed mid-way holds its partition's FIFO group
 * that long (shared/adapters/sqs/queue-defs.ts); a cycle takes milliseconds to a few seconds.
 */
export const SCHEDULER_TIMEOUT_S = 10;

/** The longest wait honoured: half the scheduler's timeout, the other half is for the cycle. */
export const MAX_ACCUMULATION_S = SCHEDULER_TIMEOUT_S / 2;

/** The partition's scheduler's job_accumulation_time in milliseconds (0: none), capped. */
export async function accumulationMs(ctx: SiteContext, partition: string): Promise<number> {
  const st = await loadServerState(ctx);
  const acc = Number(st.scheds.get(schedFor(st, partition))?.attrs.job_accumulation_time ?? 0);
  return acc > 0 ? Math.min(acc, MAX_ACCUMULATION_S) * 1000 : 0;
}

/**
 * Wait out the partition's accumulation time, then run one cycle. The caller holds the
 * partition's trigger group (the scheduler FIFO queue's message group) meanwhile, so triggers
 * sent during the wait queue up and are answered by the next cycle as one batch.
 */
export async function runAccumulatedCycle(
  ctx: SiteContext,
  partition: string,
  opts: CycleOptions = {},
): Promise<void> {
  const ms = await accumulationMs(ctx, partition);
  if (ms > 0) await ctx.clock.sleep(ms);
  await runCycle(ctx, partition, opts);
}
