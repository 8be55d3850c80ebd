/**
 * Whether a site has anything for its periodic tick to watch (issue 14: an idle site does no
 * periodic work). The tick's sweeps only ever act on jobs: running ones whose MOM may be lost
 * (sweepRunning), jobs in transit or whose end a peer has not acknowledged (sweepTransfers),
 * deferred and dependent jobs (releaseDeferred, repairStranded) and queued ones (the cycles it
 * triggers). A site with no job in any of those states has nothing to sweep until a job comes,
 * by the API or from a peer.
 */
import type { SiteContext } from "./context.js";
import { nodePower } from "./objects.js";
import type { ServerObject } from "./records.js";
import { loadServerState } from "./server-state.js";

/**
 * true when some job of the site is not finished, a transfer step is outstanding, or a pool node
 * is powered on (its idle power-off, or its boot timeout, is the tick's to trigger)
 */
export async function siteHasWork(ctx: SiteContext): Promise<boolean> {
  if ((await ctx.store.queryTransfers()).length > 0) return true;
  const st = await loadServerState(ctx);
  if (ctx.pools?.size && [...st.nodes.values()].some((n) => (nodePower(n)?.state ?? "sleep") !== "sleep"))
    return true;
  for (const queue of st.queues.keys()) {
    // active jobs (queued, held, waiting, running, exiting, in transit) of the queue; one is enough
    if ((await ctx.store.listJobs(queue, false, { limit: 1 })).length > 0) return true;
  }
  return false;
}

/** The queues among `queues` that hold a queued job (one ready-index read of one item each). */
export async function queuesWithQueued(
  ctx: SiteContext,
  queues: Iterable<ServerObject>,
): Promise<ServerObject[]> {
  const out: ServerObject[] = [];
  for (const q of queues) if ((await ctx.store.queryReady(q.name, 1)).length > 0) out.push(q);
  return out;
}
