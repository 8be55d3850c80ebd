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
import { nodePartition, nodePower, partitions, queuePartition } from "./objects.js";
import { powerDue } from "../scheduler/power.js";
import { repairDue, repairStranded } from "./repair.js";
import { leasePassDue, renewScriptLeases } from "./script-lease.js";
import { queuesWithQueued, siteHasWork } from "./idle.js";
import { loadServerState } from "./server-state.js";

/**
 * Run the tick's sweeps; resolves with the partitions that want a cycle: those with a queued
 * job (the tick is the safety net for a lost cycle trigger) and those a sweep touched. A
 * partition with nothing queued gets no cycle from the tick (idle is idle, issue 14): its cycle
 * would only offer its room to the peers it pulls from, and a peer with jobs waiting asks for
 * that itself (BACKLOG, re-sent by each of its cycles while they wait).
 */
export async function sweepTick(ctx: SiteContext): Promise<Set<string>> {
  const st = await loadServerState(ctx);
  const parts = partitions(st);
  const touched = new Set<string>();
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
  if (leasePassDue(ctx)) {
    // the scripts of jobs active for weeks keep a lease past their history (script-lease.ts)
    try {
      const r = await renewScriptLeases(ctx);
      if (r.renewed) ctx.log.info(`sweeper: ${r.renewed} script lease(s) renewed (${r.read} read)`);
    } catch (err) {
      ctx.log.warn(`sweeper: script leases: ${(err as Error).message}`);
    }
  }
  // pool nodes idle past idleOff or past their boot timeout: only their partition's cycle powers
  // them off (shared/server/node-power.ts)
  const now = ctx.clock.now();
  for (const n of st.nodes.values()) {
    const p = nodePower(n);
    if (p && powerDue(now, p, ctx.pools?.get(p.pool))) touched.add(nodePartition(n));
  }
  // after the sweeps: a job they requeued (lost MOM) or released is queued now
  for (const q of await queuesWithQueued(ctx, st.queues.values())) touched.add(queuePartition(q));
  return touched;
}

/**
 * The sweeper's whole tick. A site with no active job and no transfer step outstanding has
 * nothing for the sweeps to look at (see siteHasWork): its tick only tells its peers it is
 * alive, and says it was idle, so the local runtime backs its tick off (idle is idle, issue 14).
 * Anything that makes work (a submit, a peer's job) is seen by the next tick.
 */
export async function siteTick(ctx: SiteContext): Promise<{ touched: Set<string>; hasWork: boolean }> {
  if (!(await siteHasWork(ctx))) {
    if (ctx.peers?.size) await sendHeartbeats(ctx);
    return { touched: new Set(), hasWork: false };
  }
  return { touched: await sweepTick(ctx), hasWork: true };
}
