/**
 * Project allocations and usage, by site. Usage is charged where the project lives (its home
 * site): jobs that ran here under counter `<this site>`, jobs that moved and ran at a peer under
 * counter `<peer>` when their JOB_END came back. Work this site ran for a peer's projects is
 * counted apart, under `for_<peer>`, and is never charged to an allocation here.
 */
import { RejectedError } from "../errors.js";
import type { SiteContext } from "../server/context.js";
import type { ProjectRecord } from "../server/records.js";

export interface UsageRow {
  project: string;
  /** where the work ran */
  ranAt: string;
  /** set for work run here for a peer's project (ranAt is then this site) */
  forPeer?: string;
  walltimeSeconds: number;
  coreSeconds: number;
}

export interface AllocationRow {
  project: string;
  site: string;
  unit: "core-hours";
  granted?: number;
  /** core-hours charged to the project here (all sites it ran at) */
  used: number;
}

export interface AccountingReport {
  site: string;
  allocations: AllocationRow[];
  usage: UsageRow[];
}

/** Core-seconds charged to the project's allocation (excludes work run for peers). */
export function chargedCoreSeconds(p: ProjectRecord): number {
  let sum = 0;
  for (const [k, v] of Object.entries(p.coreSeconds)) if (!k.startsWith("for_")) sum += v;
  return sum;
}

/** The report rows for some projects (pure). */
export function accountingReport(site: string, projects: ProjectRecord[]): AccountingReport {
  const allocations: AllocationRow[] = [];
  const usage: UsageRow[] = [];
  for (const p of [...projects].sort((a, b) => a.account.localeCompare(b.account))) {
    const charged = chargedCoreSeconds(p);
    if (p.granted !== undefined || charged > 0)
      allocations.push({
        project: p.account,
        site,
        unit: "core-hours",
        granted: p.granted,
        used: charged / 3600,
      });
    for (const k of Object.keys(p.coreSeconds).sort()) {
      const peer = k.startsWith("for_") ? k.slice(4) : undefined;
      usage.push({
        project: p.account,
        ranAt: peer ? site : k,
        forPeer: peer,
        walltimeSeconds: p.walltime[k] ?? 0,
        coreSeconds: p.coreSeconds[k] ?? 0,
      });
    }
  }
  return { site, allocations, usage };
}

/** Refuse a submission charged to a project whose allocation here is used up. */
export async function checkAllocation(ctx: SiteContext, account: string | undefined): Promise<void> {
  if (!account) return;
  const p = await ctx.store.getProject(account);
  if (p?.granted === undefined) return;
  const used = chargedCoreSeconds(p) / 3600;
  if (used >= p.granted) {
    throw new RejectedError(
      "AllocationExhausted",
      `Job rejected: the allocation of project ${account} at ${ctx.site.short} is exhausted (${used.toFixed(2)} of ${p.granted} core-hours used)`,
      403,
    );
  }
}
