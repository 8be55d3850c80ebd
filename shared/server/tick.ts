/**
 * The periodic tick's work, before its cycle trigger: check running jobs against their MOMs,
 * re-send unanswered transfer steps, repair half-finished job ends (at a slower cadence). The
 * sweeper entry then asks the partitions it returns for a cycle.
 */
import { sweepTransfers } from "../peers/outbox.js";
import { sendHeartbeats } from "../peers/peer-health.js";
import { releaseCascade } from "./cascade.js";
import { releaseDeferred } from "./deferred.js";
import type { SiteContext } from "./context.js";
import { sweepRunning } from "./job-end.js";
import { partitions } from "./objects.js";
import { repairDue, repairStranded } from "./repair.js";
import { loadServerState } from "./server-state.js";

/** Run the tick's sweeps; resolves with the partitions that want a cycle (all of them). */
export async function sweepTick(ctx: SiteContext): Promise<Set<string>> {
  const st = await loadServerState(ctx);
  const parts = partitions(st);
  const touched = new Set<string>(parts);
  for (const p of parts) {
    const r = await sweepRunning(ctx, p);
    await releaseCascade(ctx, r.ended, touched);
  }
  try {
    for (const p of await releaseDeferred(ctx)) touched.add(p);
  } catch (err) {
    ctx.log.warn(`sweeper: deferred jobs: ${(err as Error).message}`);
  }
  if (ctx.peers?.size) {
    // Peer transfers: re-send unanswered steps, time out stale ones (the transfer outbox).
    const t = await sweepTransfers(ctx);
    for (const p of t.partitions) touched.add(p);
    await sendHeartbeats(ctx);
  }
  if (repairDue(ctx)) {
    // Half-finished follow-ups of job ends (dependents never released, subjobs never
    // counted): at the first tick of a process, then every repairIntervalMs.
    try {
      const r = await repairStranded(ctx);
      for (const p of r.partitions) touched.add(p);
      await releaseCascade(ctx, r.ended, touched);
    } catch (err) {
      ctx.log.warn(`sweeper: repair: ${(err as Error).message}`);
    }
  }
  return touched;
}
