/**
 * Node power decisions for one partition (issue 12): pure and deterministic, as plan.ts.
 *
 * A pool node is `sleep` (powered off: no MOM), `provisioning` (powered on, its MOM not yet
 * said hello) or `up` (its MOM said hello; the node takes work as its admin state says). A node
 * without a pool is always up and never appears here.
 *
 * - Power on: the jobs the planner left waiting for resources (not for limits, not never-run),
 *   in scheduling order, are placed on what the powered-on and provisioning nodes have left
 *   after the running jobs and those started this cycle. A job that does not fit there gets
 *   sleeping nodes added one at a time, largest first (ncpus, ngpus, mem, then name), until it
 *   fits; only the added nodes its placement uses are powered on (greedy fewest), and what it
 *   takes is counted as taken for the jobs after it. A job that fits nowhere wakes nothing.
 *   Provisioning nodes count as capacity that is coming: no node is powered on again, nor another
 *   one, for a job they will hold. Per pool at most `startsPerMinute` nodes are powered on in any
 *   60 s (nodes whose last power-on is younger count); a job needing more gets the first ones
 *   now and the others in a later minute.
 * - Power off: an up node with no job (running, started this cycle, or counted for a waiting
 *   job above) is idle from the first cycle that sees it so (`markIdle`), and powered off once
 *   idle `idleOffMs`; a node given work again loses its idle mark (`markBusy`).
 * - Boot timeout: a node provisioning for `bootTimeoutMs` goes back to sleep (`bootTimedOut`).
 *   A node whose power-on failed is not woken again for one more `bootTimeoutMs`: a job that
 *   needs just that node would otherwise wake it at once, every cycle, in a loop of failed starts
 *   that hides the failure (the node would look `provisioning` nearly all the time).
 */
import type { Chunk, Placement } from "../pbs/types.js";
import { type NodeSlot, placeSelect, type Res } from "./placement.js";
import type { Allocation, NodeInfo } from "./types.js";

export type PowerState = "sleep" | "provisioning" | "up";

export interface PoolPolicy {
  name: string;
  idleOffMs: number;
  bootTimeoutMs: number;
  startsPerMinute: number;
}

/** A pool node's power record (node attributes pool, power_state, power_since, ...). */
export interface PowerInfo {
  pool: string;
  state: PowerState;
  /** epoch ms the node entered `state` */
  since: number;
  /** epoch ms of its last power-on (the rate limit counts these) */
  poweredOnAt?: number;
  /** epoch ms since which an up node has had no job; absent = busy, or not seen idle yet */
  idleSince?: number;
  /** epoch ms its last power-on failed (start refused, or boot timeout); cleared by its hello */
  bootFailedAt?: number;
}

export interface PowerInput {
  now: number;
  /** the partition's nodes as the planner saw them (sleeping ones in state `sleep`) */
  nodes: readonly NodeInfo[];
  /** pool nodes' power records, by node name */
  power: ReadonlyMap<string, PowerInfo>;
  pools: ReadonlyMap<string, PoolPolicy>;
  /** allocations of running jobs and of jobs started this cycle */
  busy: readonly (readonly Allocation[])[];
  /** jobs waiting for resources, in scheduling order */
  waiting: readonly { select: Chunk[]; place?: Placement }[];
}

export interface PowerPlan {
  powerOn: string[];
  powerOff: string[];
  markIdle: string[];
  markBusy: string[];
  bootTimedOut: string[];
}

const MINUTE_MS = 60_000;

export function planPower(input: PowerInput): PowerPlan {
  const { now, power, pools } = input;
  const out: PowerPlan = { powerOn: [], powerOff: [], markIdle: [], markBusy: [], bootTimedOut: [] };
  const nodes = [...input.nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const indexOf = new Map(nodes.map((n, i) => [n.name, i]));
  const hostOf = nodes.map((n) => n.name.split(".")[0].toLowerCase());
  const slots: NodeSlot[] = nodes.map((n, i) => ({
    name: n.name,
    host: hostOf[i],
    hostNodes: hostOf.flatMap((h, j) => (h === hostOf[i] ? [j] : [])),
    sharing: n.sharing,
  }));
  const free: Res[] = nodes.map((n) => ({ ...n.available, jobs: 0, excl: 0 }));
  const used = new Set<string>();
  const take = (alloc: readonly Allocation[]) => {
    for (const a of alloc) {
      const i = indexOf.get(a.node);
      if (i === undefined) continue;
      used.add(a.node);
      free[i].ncpus -= a.ncpus;
      free[i].mem -= a.mem;
      free[i].ngpus -= a.ngpus;
      free[i].jobs++;
      if (a.excl) free[i].excl++;
    }
  };
  for (const alloc of input.busy) take(alloc);

  const policyOf = (name: string) => {
    const p = power.get(name);
    return p ? pools.get(p.pool) : undefined;
  };
  // powered on, or coming: what waiting jobs are placed on before anything is woken
  const eligible = nodes.map(
    (n) => n.state === "free" || n.state === "job-busy" || n.state === "provisioning",
  );
  const sleepers = nodes
    .map((_n, i) => i)
    .filter((i) => {
      const pol = policyOf(nodes[i].name);
      const failedAt = power.get(nodes[i].name)?.bootFailedAt;
      return (
        nodes[i].state === "sleep" &&
        pol !== undefined &&
        (failedAt === undefined || now - failedAt >= pol.bootTimeoutMs)
      );
    })
    .sort((a, b) => {
      const x = nodes[a].available;
      const y = nodes[b].available;
      return y.ncpus - x.ncpus || y.ngpus - x.ngpus || y.mem - x.mem || a - b;
    });
  const startsLeft = new Map<string, number>();
  for (const p of pools.values()) {
    let recent = 0;
    for (const r of power.values())
      if (r.pool === p.name && r.poweredOnAt !== undefined && now - r.poweredOnAt < MINUTE_MS) recent++;
    startsLeft.set(p.name, Math.max(0, p.startsPerMinute - recent));
  }

  for (const job of input.waiting) {
    // nothing left to wake: later jobs only keep what is up busy, and only if they fit now, which
    // the planner would have seen (a job held back by a reservation is not in `waiting`)
    if (sleepers.every((i) => eligible[i])) break;
    let alloc = placeSelect(job.select, job.place, slots, free, eligible);
    if (!alloc) {
      const added: number[] = [];
      for (const i of sleepers) {
        if (eligible[i]) continue;
        eligible[i] = true;
        added.push(i);
        alloc = placeSelect(job.select, job.place, slots, free, eligible);
        if (alloc) break;
      }
      if (!alloc) {
        for (const i of added) eligible[i] = false;
        continue;
      }
      const placedOn = new Set(alloc.map((a) => a.node));
      for (const i of added) {
        const name = nodes[i].name;
        const pool = power.get(name)?.pool as string;
        const left = startsLeft.get(pool) ?? 0;
        if (placedOn.has(name) && left > 0) {
          out.powerOn.push(name);
          startsLeft.set(pool, left - 1);
        } else if (!placedOn.has(name)) eligible[i] = false;
        // a node the job needs but the rate limit holds back stays counted as taken for this
        // job, so the jobs after it do not wake others in its place; a later minute wakes it
      }
    }
    take(alloc);
  }

  for (const [name, p] of power) {
    const pol = pools.get(p.pool);
    if (!pol || !indexOf.has(name)) continue;
    if (p.state === "provisioning") {
      if (now - p.since >= pol.bootTimeoutMs) out.bootTimedOut.push(name);
      continue;
    }
    if (p.state !== "up") continue;
    if (used.has(name)) {
      if (p.idleSince !== undefined) out.markBusy.push(name);
      continue;
    }
    if (now - (p.idleSince ?? now) >= pol.idleOffMs) out.powerOff.push(name);
    else if (p.idleSince === undefined) out.markIdle.push(name);
  }
  return out;
}

/** Whether a pool node needs its partition's cycle now (the tick asks): boot timeout or idle past idleOff. */
export function powerDue(now: number, p: PowerInfo, pol: PoolPolicy | undefined): boolean {
  if (!pol) return false;
  if (p.state === "provisioning") return now - p.since >= pol.bootTimeoutMs;
  return p.state === "up" && p.idleSince !== undefined && now - p.idleSince >= pol.idleOffMs;
}
