/**
 * One scheduler cycle for one partition, with I/O: read the partition's nodes, running jobs and
 * the top of each queue's ready index (never the whole queue), ask the pure planner what to
 * start, then claim each job with a conditional write and hand it to the executor.
 *
 * Concurrency: the caller guarantees one cycle per partition at a time (the scheduler FIFO
 * queue's message group is the partition). Even so, every claim is conditional on the job's
 * version, so a qdel/qhold racing with the cycle wins or loses cleanly and a job is never
 * started twice.
 */
import { mailIfMarked, markMail } from "../server/mail.js";
import { runComment } from "../pbs/time.js";
import type { SiteContext } from "../server/context.js";
import { queuesWithQueued } from "../server/idle.js";
import { sendEvents, triggerCycles } from "../server/messages.js";
import { loadServerState } from "../server/server-state.js";
import { isFinished, type JobRecord, withTrace } from "../server/job.js";
import { jobLost, requeueFields, startRecord } from "../server/job-end.js";
import { groupPutAcct, groupWrite } from "../server/group-commit.js";
import { retryConflicts } from "../server/retry.js";
import {
  federationState,
  nodeInfo,
  nodePartition,
  nodePower,
  queueInfo,
  queuePartition,
  schedFor,
  type ServerState,
  serverBool,
  serverNum,
} from "../server/objects.js";
import { buildRunSpec } from "../server/run-spec.js";
import { cyclePower } from "../server/node-power.js";
import { instantiateSubjob } from "../server/subjobs.js";
import { ConflictError, StoreError } from "../errors.js";
import { DispatchError } from "../ports/index.js";
import { formatExecHost, formatExecVnode } from "./format.js";
import { toCandidate, toRunning } from "./inputs.js";
import { prefixSize, prefixSuffices } from "./lookahead.js";
import { planCycle } from "./plan.js";
import type { Allocation, CandidateJob, Decision, NodeInfo, RunningJob } from "./types.js";
import { sendBacklog, sendOffers } from "../peers/offers.js";
import { reportState } from "../peers/receiver.js";

export interface CycleReport {
  sched: string;
  partition: string;
  startedAt: number;
  durationMs: number;
  considered: number;
  started: number;
  running: number;
  /** the first waiting job and why */
  topWaiting?: { jobId: string; reason: string };
  /** offers of the room left sent to peers */
  offers?: number;
}

const lastReports = new Map<string, CycleReport>();

/** Most jobs whose "Not Running" comment a cycle refreshes: comments cost a write each. */
const COMMENT_UPDATES_PER_CYCLE = 3;

export interface CycleOptions {
  /**
   * Offer the room this cycle leaves to the peers even within the offer interval: a peer said
   * its jobs wait (BACKLOG, answered by this cycle). Its BACKLOG is paced at its end, so these
   * offers are too: at most one per offerIntervalMs per peer that asks.
   */
  offerNow?: boolean;
}

export async function runCycle(
  ctx: SiteContext,
  partition: string,
  opts: CycleOptions = {},
): Promise<CycleReport> {
  const startedAt = ctx.clock.now();
  const st = await loadServerState(ctx);
  const sched = schedFor(st, partition);
  const report: CycleReport = {
    sched,
    partition,
    startedAt,
    durationMs: 0,
    considered: 0,
    started: 0,
    running: 0,
  };
  const schedObj = st.scheds.get(sched);
  // Scheduling off, or a site marked down: it runs nothing, and its queued jobs wait for peers to
  // pull them. Peers offer room only when asked (idle is idle): say that jobs wait here.
  if (
    !serverBool(st, "scheduling", true) ||
    schedObj?.attrs.scheduling === false ||
    federationState(st) === "down"
  ) {
    await backlogOfQueued(ctx, st, partition).catch((err) =>
      ctx.log.warn(`backlog from ${partition}: ${(err as Error).message}`),
    );
    return report;
  }

  const queues = [...st.queues.values()].filter((q) => queuePartition(q) === partition);
  const nodes = [...st.nodes.values()].filter((n) => nodePartition(n) === partition).map(nodeInfo);
  const poweredOn = poweredOnAt(st);
  const runningJobs = await ctx.store.queryRunning(partition);
  const running: RunningJob[] = runningJobs.map((j) => toRunning(j, startedAt));
  const readable = queues.filter((q) => queueInfo(q).started);
  const readAndPlan = async (limit: number) => {
    const readyLists = await Promise.all(readable.map((q) => ctx.store.queryReady(q.name, limit)));
    const byId = new Map<string, JobRecord>();
    const candidates: CandidateJob[] = [];
    for (const j of readyLists.flat()) {
      if (j.array) {
        // An array parent stands for its next subjobs, each a candidate of its own.
        const room = j.array.max ? Math.max(0, j.array.max - j.array.running) : Number.POSITIVE_INFINITY;
        const n = Math.min(j.array.indices.length - j.array.next, room, 99);
        for (let i = 0; i < n; i++) {
          const idx = j.array.indices[j.array.next + i];
          const cid = `${j.key}[${idx}]`;
          byId.set(cid, j);
          candidates.push(toCandidate(j, cid));
        }
      } else {
        byId.set(j.key, j);
        candidates.push(toCandidate(j, j.key));
      }
    }
    const plan = planCycle({
      now: startedAt,
      nodes,
      running,
      candidates,
      queues: queues.map(queueInfo),
      serverMaxRun: serverNum(st, "max_run"),
      backfill: serverBool(st, "backfill", true),
      backfillDepth: serverNum(st, "backfill_depth") ?? 1,
    });
    const cut = new Set(readable.filter((_, i) => readyLists[i].length >= limit).map((q) => q.name));
    return { byId, candidates, plan, cut };
  };
  // A prefix of each queue first (lookahead.ts): a full partition examines only a few candidates.
  // Pool nodes are powered on for the demand of every waiting candidate, so a partition with
  // pool nodes always reads them all.
  const max = ctx.settings.cycleCandidates;
  const prefix = ctx.pools?.size ? max : prefixSize(nodes, running, max);
  let read = await readAndPlan(prefix);
  if (prefix < max && !prefixSuffices(read.plan, read.candidates, queues.map(queueInfo), read.cut))
    read = await readAndPlan(max);
  const { byId, candidates, plan } = read;
  report.considered = candidates.length;
  report.running = running.length;

  // Group subjob decisions by their array parent: one transaction per parent.
  const plain: Decision[] = [];
  const arrays = new Map<string, Decision[]>();
  for (const d of plan.start) {
    const j = byId.get(d.jobId);
    if (!j) continue;
    if (j.array) arrays.set(j.key, [...(arrays.get(j.key) ?? []), d]);
    else plain.push(d);
  }
  // The ready index projects only what planning needs; claims and comments rewrite the job, so
  // read the full records of just the jobs this cycle touches (one batch read), and drop any
  // that changed since the index was read.
  const waiting = Object.entries(plan.waiting).slice(0, COMMENT_UPDATES_PER_CYCLE * 3);
  const touchKeys = new Set<string>();
  for (const d of plan.start) touchKeys.add((byId.get(d.jobId) as JobRecord).key);
  for (const [cid] of waiting) if (byId.get(cid)) touchKeys.add((byId.get(cid) as JobRecord).key);
  const full = touchKeys.size ? await ctx.store.getJobs([...touchKeys]) : new Map<string, JobRecord>();
  for (const [id, j] of byId) {
    const f = full.get(j.key);
    if (f && f.ver === j.ver) byId.set(id, f);
    else if (touchKeys.has(j.key)) byId.delete(id);
  }
  // Tell users why jobs wait (PBS comment), for the first few only: each comment is a write.
  // They are other jobs than the ones starting, so they go beside the claims (and share their
  // group commit) instead of after the dispatches, where they held the partition's next cycle.
  if (waiting.length)
    report.topWaiting = { jobId: byId.get(waiting[0][0])?.id ?? waiting[0][0], reason: waiting[0][1] };
  const comments: Promise<unknown>[] = [];
  for (const [cid, reason] of waiting) {
    if (comments.length >= COMMENT_UPDATES_PER_CYCLE) break;
    const j = byId.get(cid);
    if (!j || j.array || j.comment === reason) continue;
    comments.push(
      groupWrite(ctx.store, { before: j, after: { ...j, comment: reason } }).catch((err) => {
        if (!(err instanceof ConflictError)) throw err;
      }),
    );
  }
  // Each job goes to its MOM as soon as its claim lands (a dispatch that fails puts it back in
  // the queue); its S record is written beside the dispatch, not before it: the job holds its
  // cpus from the claim, so every round trip between claim and MOM is a slot held for nothing.
  const startedJobs: JobRecord[] = [];
  const dispatches: Promise<void>[] = [];
  const records: Promise<void>[] = [];
  const started = (jobs: JobRecord[]) => {
    startedJobs.push(...jobs);
    for (const j of jobs) dispatches.push(dispatch(ctx, j));
  };
  const claims = [
    ...plain.map(async (d) => {
      const before = byId.get(d.jobId);
      if (!before) return;
      const job = await claim(ctx, before, d, startedAt, poweredOn, records);
      if (job) started([job]);
    }),
    ...[...arrays.values()].map(async (ds) => {
      const parent = byId.get(ds[0].jobId);
      if (!parent) return;
      started(await claimSubjobs(ctx, parent, ds, startedAt, poweredOn));
    }),
  ];
  // Everything begun is awaited before the cycle ends or fails (a Lambda may be frozen as soon as
  // it returns), a claim that throws included: the jobs claimed beside it are still dispatched.
  const failures: unknown[] = [];
  const settle = (ps: Promise<unknown>[]) =>
    Promise.all(ps.map((p) => p.catch((err: unknown) => void failures.push(err))));
  await settle(claims);
  await settle([...dispatches, ...records, ...comments]);
  report.started = startedJobs.length;
  if (failures.length) throw failures[0];
  // Pool nodes: power on for jobs short of nodes, off when idle past idleOff (node-power.ts says
  // why only this cycle may power its partition's nodes off).
  await cyclePower(ctx, {
    now: startedAt,
    nodes,
    objects: [...st.nodes.values()].filter((n) => nodePartition(n) === partition),
    busy: [...running.map((r) => r.alloc), ...plan.start.map((d) => d.alloc)],
    candidates,
    waiting: plan.waiting,
  }).catch((err) => ctx.log.warn(`power in ${partition}: ${(err as Error).message}`));
  // A job received from a peer is listed live at its origin, under its ID: say it started.
  await Promise.all(startedJobs.filter((j) => j.inbound).map((j) => reportState(ctx, j)));
  const withAfterDeps = startedJobs.filter((j) => j.hasDeps);
  if (withAfterDeps.length)
    await sendEvents(
      ctx,
      withAfterDeps.map((j) => ({ type: "started", jobKey: j.key })),
    );

  // Jobs of ours wait: say so to the peers (one that pulls from us may have room now).
  if (ctx.peers?.size && Object.keys(plan.waiting).length > 0) {
    const waitingJobs = Object.keys(plan.waiting)
      .map((cid) => byId.get(cid))
      .filter((j): j is JobRecord => j !== undefined);
    // the job that became eligible last (queued, released, back from a peer that refused it)
    // tells sendBacklog whether one held back by its interval must still go
    const newest = Math.max(...waitingJobs.map((j) => Math.max(j.qtime, j.etime ?? 0)));
    await sendBacklog(
      ctx,
      waitingJobs.map((j) => j.queue),
      newest,
    ).catch((err) => ctx.log.warn(`backlog from ${partition}: ${(err as Error).message}`));
  }
  // Room left and nothing of ours waiting for it: offer it to the peers we pull from.
  if (ctx.peers?.size && Object.keys(plan.waiting).length === 0) {
    const free = freeAfter(nodes, [...running.map((r) => r.alloc), ...plan.start.map((d) => d.alloc)]);
    report.offers = await sendOffers(ctx, partition, free, { paced: !opts.offerNow }).catch((err) => {
      ctx.log.warn(`offers from ${partition}: ${(err as Error).message}`);
      return 0;
    });
  }
  report.durationMs = ctx.clock.now() - startedAt;
  ctx.metrics?.ms("CycleDuration", report.durationMs, { partition });
  // site-wide too: an alarm cannot name partitions that are only known at run time
  ctx.metrics?.ms("CycleDuration", report.durationMs);
  ctx.metrics?.count("JobsStarted", report.started, { partition });
  ctx.metrics?.count("JobsRunning", report.running + report.started, { partition });
  ctx.metrics?.count("JobsConsidered", report.considered, { partition });
  // The report is for people (dashboard, why is my job waiting): write it when it says
  // something new or has gone stale, not on every idle cycle.
  const last = lastReports.get(`${ctx.site.short}/${sched}`);
  if (
    !last ||
    report.started > 0 ||
    last.topWaiting?.reason !== report.topWaiting?.reason ||
    startedAt - last.startedAt > 10_000
  ) {
    lastReports.set(`${ctx.site.short}/${sched}`, report);
    await ctx.store.putCycleReport(sched, { ...report });
  }
  return report;
}

/**
 * Free resources per usable node once `allocs` are taken (what an OFFER carries). A node a job
 * holds exclusively has no room to offer, whatever its free cpus.
 */
export function freeAfter(
  nodes: NodeInfo[],
  allocs: Allocation[][],
): { ncpus: number; mem: number; ngpus: number }[] {
  const used = new Map<string, { ncpus: number; mem: number; ngpus: number }>();
  const held = new Set<string>();
  for (const a of allocs.flat()) {
    if (a.excl) held.add(a.node);
    const u = used.get(a.node) ?? { ncpus: 0, mem: 0, ngpus: 0 };
    u.ncpus += a.ncpus;
    u.mem += a.mem;
    u.ngpus += a.ngpus;
    used.set(a.node, u);
  }
  return nodes
    .filter((n) => n.state === "free" && !held.has(n.name))
    .map((n) => {
      const u = used.get(n.name) ?? { ncpus: 0, mem: 0, ngpus: 0 };
      return {
        ncpus: Math.max(0, n.available.ncpus - u.ncpus),
        mem: Math.max(0, n.available.mem - u.mem),
        ngpus: Math.max(0, n.available.ngpus - u.ngpus),
      };
    })
    .filter((f) => f.ncpus > 0);
}

/**
 * The power-on time (`power_on_at`) of each pool node: a long-lived node MOM's id derives from
 * it (shared/adapters/executor/ecs-nodes.ts nodeMomId), so a claim names the MOM of the node's
 * current power-on, never one of an earlier power-on that may still hold a connection.
 */
export function poweredOnAt(st: Pick<ServerState, "nodes">): Map<string, number> {
  const at = new Map<string, number>();
  for (const n of st.nodes.values()) {
    const p = nodePower(n)?.poweredOnAt;
    if (p !== undefined) at.set(n.name, p);
  }
  return at;
}

function runFields(
  ctx: SiteContext,
  job: JobRecord,
  d: Decision,
  now: number,
  poweredOn: ReadonlyMap<string, number>,
): Partial<JobRecord> {
  const execHost = formatExecHost(d.alloc);
  const runCount = job.runCount + 1;
  const node = d.alloc[0]?.node ?? "";
  const execVnode = formatExecVnode(d.alloc);
  return {
    state: "R",
    stime: now,
    mtime: now,
    alloc: d.alloc,
    execHost,
    execVnode,
    runCount,
    momId: ctx.executor.momIdFor(node, job.key, runCount, poweredOn.get(node)),
    comment: runComment(now, execVnode),
    hist: withTrace(job.hist, { time: now, source: "L", message: `Job run on ${execVnode}` }),
  };
}

/**
 * Claim one job for the run `d` decided (a conditional write from Q to R). Its S record follows
 * the claim; with `records`, the put is left there for the caller to await (the cycle, after its
 * dispatches), else it is awaited here.
 */
export async function claim(
  ctx: SiteContext,
  before: JobRecord,
  d: Decision,
  now: number,
  poweredOn: ReadonlyMap<string, number> = new Map(),
  records?: Promise<void>[],
): Promise<JobRecord | undefined> {
  let fields: Partial<JobRecord>;
  try {
    fields = runFields(ctx, before, d, now, poweredOn);
  } catch (err) {
    // No MOM serves the chosen node (down, or not started yet): leave the job queued, say why.
    const comment = `Not Running: ${(err as Error).message}`;
    if (before.comment !== comment)
      await ctx.store.updateJob(before, { ...before, comment }).catch(() => undefined);
    return undefined;
  }
  try {
    // -m b: marked in the claim, the one write that starts this run (mailed after dispatch)
    const after = markMail(ctx, { ...before, ...fields }, "b");
    // The claims of one cycle run concurrently and so share transactions (group commit); each is
    // still conditional on its own ver, and one that lost its race fails alone (below).
    const started = await groupWrite(ctx.store, { before, after });
    // The S record after the claim, a plain put (a transactional item bills twice, issue 14),
    // with the cycle's other S records in one BatchWriteItem (group-commit.ts).
    // Only a claim that landed writes it; a crash (or a failed put) is repaired at the job's end
    // (job-end.ts settleEnd rebuilds it from the job, as here).
    // Best effort: the run is claimed, so it must be dispatched whatever happens to its record.
    const record = groupPutAcct(ctx.store, startRecord(started)).catch((err) =>
      ctx.log.warn(`S record of ${started.id} left for its end: ${(err as Error).message}`),
    );
    if (records) records.push(record);
    else await record;
    return started;
  } catch (err) {
    if (err instanceof ConflictError) return undefined; // changed since we read it: next cycle decides again
    // A job the store can no longer grow (stored before submit checked sizes): leave it queued
    // and say so, rather than fail the whole cycle on it.
    if (err instanceof StoreError && !err.retryable) {
      ctx.log.warn(`cannot start ${before.id}: ${err.message}`);
      return undefined;
    }
    throw err;
  }
}

/** What one DynamoDB transaction may carry (4 MB), less a margin for the parent and the keys. */
const TRANSACTION_BYTES = 3.5 * 1024 * 1024;
async function claimSubjobs(
  ctx: SiteContext,
  parent: JobRecord,
  ds: Decision[],
  now: number,
  poweredOn: ReadonlyMap<string, number>,
): Promise<JobRecord[]> {
  const arr = parent.array;
  if (!arr) return [];
  // One transaction holds at most 4 MB: each subjob carries its parent's script and variables,
  // so a large array starts fewer subjobs per cycle (the next cycle starts the rest).
  const perSub = ctx.store.jobItemBytes(parent) + 1024;
  ds = ds.slice(0, Math.max(1, Math.floor((TRANSACTION_BYTES - perSub) / perSub)));
  const subs: JobRecord[] = ds.map((d, i) => {
    const sub = instantiateSubjob(parent, arr.indices[arr.next + i], now);
    return { ...sub, ...runFields(ctx, sub, d, now, poweredOn) } as JobRecord;
  });
  const after: JobRecord = {
    ...parent,
    state: "B",
    stime: parent.stime ?? now,
    mtime: now,
    array: { ...arr, next: arr.next + subs.length, running: arr.running + subs.length },
    hist: parent.stime
      ? parent.hist
      : withTrace(parent.hist, { time: now, source: "L", message: "Array job begun" }),
  };
  // -m b of an array: its begin, marked in the write that starts its first subjobs
  const marked = parent.stime ? after : markMail(ctx, after, "b");
  try {
    await ctx.store.transactJobs([{ before: parent, after: marked }], subs);
    await mailIfMarked(ctx, parent, marked, "b");
    return subs;
  } catch (err) {
    if (err instanceof ConflictError) return [];
    throw err;
  }
}

/** First back-off after a capacity or throttling refusal; it doubles with each one in a row. */
export const DISPATCH_BACKOFF_MS = 15_000;
/** The back-off's ceiling. */
export const DISPATCH_BACKOFF_MAX_MS = 5 * 60_000;

export async function dispatch(ctx: SiteContext, job: JobRecord): Promise<void> {
  try {
    await ctx.executor.dispatch(buildRunSpec(job, ctx.settings.killDelay, ctx.settings.jobStart));
    // `job` is what the claim wrote (only a successful claim is dispatched, once): its mark is
    // new, so no earlier state is needed to tell. A failed dispatch mails nothing; the next
    // run has its own mark.
    await mailIfMarked(ctx, undefined, job, "b");
  } catch (err) {
    const retry = err instanceof DispatchError ? err.retry : "now";
    ctx.log.warn(`dispatch of ${job.id} to ${job.momId} failed (retry ${retry}): ${(err as Error).message}`);
    ctx.metrics?.count("DispatchFailures", 1, { retry });
    await requeueAfterFailedDispatch(ctx, job, (err as Error).message, retry);
  }
}

/**
 * The MOM could not take the job: put it back so the next cycle can place it elsewhere; after
 * a capacity or throttling refusal, not before a back-off time; after a refusal that will not
 * change by itself, held (system hold) with the reason, as PBS holds a job it cannot start.
 */
async function requeueAfterFailedDispatch(
  ctx: SiteContext,
  job: JobRecord,
  why: string,
  retry: "never" | "later" | "now",
): Promise<void> {
  if (job.parentKey) {
    // A subjob lives outside the ready index (its parent stands for it there): it cannot go
    // back to Q, so it ends with the reason and is counted on its array, as a lost run is.
    await jobLost(ctx, job, `dispatch failed: ${why}`);
    return;
  }
  const now = ctx.clock.now();
  await retryConflicts(`job ${job.key}`, 5, async () => {
    const cur = await ctx.store.getJob(job.key);
    if (!cur || cur.runCount !== job.runCount || isFinished(cur.state) || cur.state !== "R") return;
    const fails = (cur.dispatchFails ?? 0) + 1;
    const backoff = Math.min(DISPATCH_BACKOFF_MAX_MS, DISPATCH_BACKOFF_MS * 2 ** (fails - 1));
    const queued = await ctx.store.updateJob(cur, {
      ...requeueFields(cur, now, `Job requeued: dispatch failed: ${why}`),
      comment: `Not Running: could not start on its MOM: ${why}`,
      ...(retry === "later" ? { notBefore: now + backoff, dispatchFails: fails } : {}),
    });
    if (retry === "never") {
      // A second write (R -> H is no transition of PBS's): a crash in between leaves the job
      // queued, and the next dispatch refuses it again.
      await ctx.store.updateJob(queued, {
        ...queued,
        state: "H",
        holds: queued.holds.includes("s") ? queued.holds : `${queued.holds}s`,
        comment: `Job held by the server: it cannot start: ${why}`,
        hist: withTrace(queued.hist, { time: now, source: "S", message: `Job held (system): ${why}` }),
      });
      return;
    }
    // now: the next cycle places it (elsewhere); later: the tick's cycle finds it due
    if (retry === "now") await triggerCycles(ctx, [cur.partition], "dispatch-failed");
  }).catch((err) => {
    // still losing races: leave it R; the sweeper ends or requeues a run its MOM never reported
    if (!(err instanceof ConflictError)) throw err;
  });
}

/** BACKLOG to the peers for the queues of `partition` that hold a queued job (none: nothing sent). */
async function backlogOfQueued(ctx: SiteContext, st: ServerState, partition: string): Promise<void> {
  if (!ctx.peers?.size) return;
  const mine = [...st.queues.values()].filter((q) => queuePartition(q) === partition);
  await sendBacklog(
    ctx,
    (await queuesWithQueued(ctx, mine)).map((q) => q.name),
  );
}
