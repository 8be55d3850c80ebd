/**
 * The dependency cascade after job ends: releasing a job's dependents can end some of them (an
 * afterok child of a failed parent is deleted), and their ends release their own dependents.
 * Every entry that ends jobs (events, the peer inbox, the sweeper's tick and repair) follows it
 * to the end, so it lives with the job ends rather than in each handler.
 */
import type { SiteContext } from "./context.js";
import { releaseDependents } from "./job-end.js";

/**
 * Release the dependents of `ended` (job keys), then of the jobs that release ended, and so on.
 * Adds every partition whose jobs changed to `touched`, for the caller's cycle trigger.
 * Depth-capped at 1000: a dependency chain is a DAG by construction (submit refuses cycles), so
 * the cap only bounds a corrupt table's damage to one batch.
 */
export async function releaseCascade(ctx: SiteContext, ended: string[], touched: Set<string>): Promise<void> {
  let next = ended;
  for (let depth = 0; next.length && depth < 1000; depth++) {
    // one level at a time, concurrently: a dependent shared by two parents is safe because
    // applyDependencyOutcome is idempotent (a child that no longer lists a parent is left alone)
    const results = await Promise.all(next.map((k) => releaseDependents(ctx, k)));
    next = [];
    for (const r of results) {
      for (const p of r.partitions) touched.add(p);
      next.push(...r.ended);
    }
  }
}
