/**
 * What the dashboard shows about one site (GET /v1/overview): its health, queues with state
 * counts, nodes with used/available resources and the scheduler's last cycle per sched. Reads
 * server objects (cached), the active jobs (list index, active partitions only), the running jobs
 * of each partition and the cycle reports: never the finished history.
 */
import type { SiteContext } from "../server/context.js";
import { loadServerState } from "../server/server-state.js";
import { federationState, nodeInfo, partitions } from "../server/objects.js";
import { peerHealth } from "../peers/peer-health.js";
import type { StatSample } from "../server/records.js";
import { recordStatSample, sampleOf } from "../server/stats.js";
import { type ActiveJobs, activeJobsCapped, JOB_COUNT_CAP, mergeActive } from "./counts.js";

export type PeerHealthState = "connected" | "disconnected" | "draining" | "down" | "unknown";

export interface SiteSummary {
  short: string;
  server: string;
  /** the site's API (and dashboard) base URL, when this site knows it */
  apiUrl?: string;
  self: boolean;
  state: PeerHealthState;
  /** epoch ms of the last message seen from the peer, when known */
  lastSeen?: number;
}

export interface QueueSummary {
  name: string;
  enabled: boolean;
  started: boolean;
  counts: Record<string, number>;
  total: number;
  /**
   * More than OVERVIEW_COUNT_CAP active jobs: counts and total are of the oldest
   * OVERVIEW_COUNT_CAP only (the page shows "1000+").
   */
  capped?: boolean;
}

/**
 * Most active jobs of one queue the overview reads to count (the oldest): JOB_COUNT_CAP, as
 * qstat -B/-Q and the charts' sample (counts.ts says why capped reads, not counters). Without a
 * cap a view read the whole queue from the list index: a million queued is ~90 MB and ~11,500
 * read units a view (bench/scale.ts: 11.5 for 1,000 entries).
 */
export const OVERVIEW_COUNT_CAP = JOB_COUNT_CAP;

export interface Usage {
  used: number;
  available: number;
}

export interface NodeSummary {
  name: string;
  state: string;
  partition: string;
  ncpus: Usage;
  /** bytes */
  mem: Usage;
  ngpus: Usage;
  jobs: string[];
}

export interface CycleSummary {
  sched: string;
  partition?: string;
  startedAt?: number;
  durationMs?: number;
  started?: number;
  considered?: number;
  topWaiting?: { jobId: string; reason: string };
}

export interface Overview {
  site: SiteSummary;
  scheduling: boolean;
  queues: QueueSummary[];
  nodes: NodeSummary[];
  cycles: CycleSummary[];
  /** epoch ms when this answer was made */
  at: number;
}

/** This site and its peers, with each peer's health from its heartbeats (shared/peers). */
export async function federation(ctx: SiteContext): Promise<SiteSummary[]> {
  const [st, seen] = await Promise.all([loadServerState(ctx), ctx.store.getPeersSeen()]);
  const self = federationState(st);
  const out: SiteSummary[] = [
    {
      short: ctx.site.short,
      server: ctx.site.server,
      self: true,
      state: self === "active" ? "connected" : self,
    },
  ];
  const now = ctx.clock.now();
  for (const p of ctx.peers?.values() ?? []) {
    const s = seen.find((x) => x.short === p.short);
    out.push({
      short: p.short,
      server: p.server,
      apiUrl: p.apiUrl,
      self: false,
      state: peerHealth(s, now, ctx.settings.peerStaleMs),
      lastSeen: s?.at,
    });
  }
  return out;
}

export async function buildOverview(ctx: SiteContext): Promise<Overview> {
  const st = await loadServerState(ctx);
  const [active, running, reports] = await Promise.all([
    activeJobsCapped(ctx, st.queues.keys()),
    Promise.all(partitions(st).map((p) => ctx.store.queryRunning(p))).then((x) => x.flat()),
    ctx.store.getCycleReports(),
  ]);
  const queues: QueueSummary[] = [...st.queues.values()].map((q) => {
    const { jobs: mine, capped } = active.get(q.name) as ActiveJobs;
    const counts: Record<string, number> = {};
    for (const j of mine) counts[j.state] = (counts[j.state] ?? 0) + 1;
    return {
      name: q.name,
      enabled: q.attrs.enabled !== false,
      started: q.attrs.started !== false,
      counts,
      total: mine.length,
      ...(capped ? { capped } : {}),
    };
  });
  const nodes: NodeSummary[] = [...st.nodes.values()].map((n) => {
    const info = nodeInfo(n);
    const used = { ncpus: 0, mem: 0, ngpus: 0 };
    const jobs = new Set<string>();
    for (const j of running) {
      for (const a of j.alloc ?? []) {
        if (a.node !== n.name) continue;
        used.ncpus += a.ncpus;
        used.mem += a.mem;
        used.ngpus += a.ngpus;
        jobs.add(j.id);
      }
    }
    let held = false;
    for (const j of running) held ||= (j.alloc ?? []).some((a) => a.node === n.name && a.excl !== undefined);
    let state: string = info.state;
    if (state === "free" && held) state = "job-exclusive";
    else if (state === "free" && info.available.ncpus > 0 && used.ncpus >= info.available.ncpus)
      state = "job-busy";
    return {
      name: n.name,
      state,
      partition: info.partition ?? "default",
      ncpus: { used: used.ncpus, available: info.available.ncpus },
      mem: { used: used.mem, available: info.available.mem },
      ngpus: { used: used.ngpus, available: info.available.ngpus },
      jobs: [...jobs],
    };
  });
  const cycles: CycleSummary[] = reports.map((r) => ({
    sched: String(r.sk),
    partition: r.partition as string | undefined,
    startedAt: r.startedAt as number | undefined,
    durationMs: r.durationMs as number | undefined,
    started: r.started as number | undefined,
    considered: r.considered as number | undefined,
    topWaiting: r.topWaiting as CycleSummary["topWaiting"],
  }));
  return {
    site: (await federation(ctx))[0],
    scheduling: st.server.attrs.scheduling !== false,
    queues,
    nodes,
    cycles,
    at: ctx.clock.now(),
  };
}

/** Fewest ms between two samples by one process: a tick is seconds, a chart point a minute. */
export const SAMPLE_EVERY_MS = 15_000;
const lastSampled = new WeakMap<object, number>();

/**
 * The sweeper tick's sample for the charts: reads the active jobs (up to JOB_COUNT_CAP a queue,
 * the sample then `capped`: its counts are lower bounds) at most every SAMPLE_EVERY_MS, writes
 * the minute's item only when its counts changed.
 */
export async function sampleSite(ctx: SiteContext): Promise<StatSample | undefined> {
  const now = ctx.clock.now();
  if (now - (lastSampled.get(ctx.store) ?? 0) < SAMPLE_EVERY_MS) return undefined;
  lastSampled.set(ctx.store, now);
  const st = await loadServerState(ctx);
  const active = mergeActive((await activeJobsCapped(ctx, st.queues.keys())).values());
  const s = sampleOf(active.jobs, ctx.clock.now(), active.capped);
  await recordStatSample(ctx.store, s);
  return s;
}

export async function statsSince(ctx: SiteContext, since: number): Promise<StatSample[]> {
  return ctx.store.getStatSamples(since);
}
