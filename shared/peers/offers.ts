/**
 * Offers: a site with room after a cycle OFFERs it to the peers it pulls from, and the peer
 * hands over (forwards, by the origin's machine) what fits there and would not start at home;
 * a site with jobs waiting tells its peers (BACKLOG) so one with room offers now rather than at
 * its next tick. How often is paced per process (pacing.ts).
 */
import { randomUUID } from "node:crypto";
import { planCycle } from "../scheduler/plan.js";
import { toCandidate, toRunning } from "../scheduler/inputs.js";
import type { NodeInfo, QueueInfo, RunningJob } from "../scheduler/types.js";
import type { PeerInfo, SiteContext } from "../server/context.js";
import { sendToPeer, sendToPeerBatch } from "../server/messages.js";
import { loadServerState } from "../server/server-state.js";
import type { EndResult } from "../server/end-result.js";
import type { JobRecord } from "../server/job.js";
import { federationState, nodeInfo, nodePartition, queueInfo, queuePartition } from "../server/objects.js";
import { subjobRef } from "../server/subjobs.js";
import { markInTransit, pinnedReason } from "./origin.js";
import { forwardSubjobs } from "./subjob-transit.js";
import { pacingOf } from "./pacing.js";
import { NONE } from "./run-step.js";
import { type Msg, sendsOf } from "./step.js";

/** OFFER: a peer has room. Hand over what fits and could not start here now, oldest first. */
export async function onOffer(ctx: SiteContext, peer: PeerInfo, m: Msg<"OFFER">): Promise<EndResult> {
  const st = await loadServerState(ctx);
  const fed = federationState(st);
  const q = st.queues.get(m.queue);
  if (!q) return NONE;
  const partition = queuePartition(q);
  const queuePinned = q.attrs.pinned === true;
  const ready = await ctx.store.queryReady(q.name, ctx.settings.cycleCandidates);
  const offerable = ready.filter((j) => !j.refusedBy?.includes(peer.short));
  if (!offerable.length) return NONE;
  const running = fed === "down" ? [] : await ctx.store.queryRunning(partition);
  const picked = pickForOffer({
    now: ctx.clock.now(),
    ready: offerable,
    localNodes:
      fed === "down"
        ? []
        : [...st.nodes.values()].filter((n) => nodePartition(n) === partition).map(nodeInfo),
    running: running.map((j) => toRunning(j, 0)),
    queue: queueInfo(q),
    offered: m.nodes,
    maxJobs: m.maxJobs,
  });
  if (!picked.length) return NONE;
  // Picked subjobs (`12[3]`: an index its array has not started) go by their parent, one
  // transaction per array (subjob-transit.ts); every other pick is a job of its own.
  // A subjob with a record of its own (back from a refused transfer) is in the ready index
  // under its key: it goes as the job it is.
  const records = new Set(offerable.map((j) => j.key));
  const plain: string[] = [];
  const subjobs = new Map<string, number[]>();
  for (const k of picked) {
    const ref = records.has(k) ? undefined : subjobRef(k);
    if (ref?.part.kind === "subjob")
      subjobs.set(ref.parentKey, [...(subjobs.get(ref.parentKey) ?? []), ref.part.index]);
    else plain.push(k);
  }
  const full = await ctx.store.getJobs([...plain, ...subjobs.keys()]);
  const why = `pulled by ${peer.server}`;
  const marked = await Promise.all(
    plain.map((k) => {
      const job = full.get(k);
      if (!job || pinnedReason(job, queuePinned) || job.refusedBy?.includes(peer.short)) return undefined;
      return markInTransit(ctx, job, peer, m.into, why);
    }),
  );
  const handed = await Promise.all(
    [...subjobs].map(([key, indices]) => {
      const parent = full.get(key);
      if (!parent) return [];
      return forwardSubjobs(ctx, parent, indices, peer, m.into, why, queuePinned);
    }),
  );
  const steps = [...marked.filter((s) => s !== undefined), ...handed.flat()];
  // one SendMessageBatch per ten FORWARDs; a FORWARD lost here is re-sent by the sweep
  const forwards = steps.flatMap((step) => sendsOf(step));
  if (steps.length) ctx.metrics?.count("TransfersStarted", steps.length, { peer: peer.short });
  await sendToPeerBatch(ctx, peer, forwards);
  ctx.log.info(`offer from ${peer.short}: ${forwards.length} job(s) of ${m.queue} handed over`);
  return NONE;
}

export interface OfferPickInput {
  now: number;
  /** ready jobs of the offered queue, in ready-index order (an array stands for its unstarted subjobs) */
  ready: (Pick<
    JobRecord,
    "key" | "ver" | "queue" | "owner" | "priority" | "qtime" | "seq" | "sel" | "walltime"
  > &
    Partial<Pick<JobRecord, "array">>)[];
  localNodes: NodeInfo[];
  running: RunningJob[];
  queue: QueueInfo;
  offered: { ncpus: number; mem: number; ngpus: number }[];
  maxJobs: number;
}

/**
 * Which jobs to hand over for an offer (pure): those that would NOT start here in this cycle
 * and that fit the offered room, in the scheduler's order (priority, then age), at most maxJobs.
 * An array stands for its next unstarted subjobs, each a candidate `12[3]` (as in the cycle,
 * within its slot limit): those that would start here stay, the others may go.
 */
export function pickForOffer(inp: OfferPickInput): string[] {
  const candidates = inp.ready.flatMap((j) => {
    const a = j.array;
    if (!a) return [toCandidate(j, j.key)];
    const room = a.max ? Math.max(0, a.max - a.running) : Number.POSITIVE_INFINITY;
    const n = Math.min(a.indices.length - a.next, room, 99);
    return a.indices.slice(a.next, a.next + n).map((idx) => toCandidate(j, `${j.key}[${idx}]`));
  });
  const queues = [{ ...inp.queue, started: true }];
  const local = inp.localNodes.length
    ? planCycle({
        now: inp.now,
        nodes: inp.localNodes,
        running: inp.running,
        candidates,
        queues,
        backfill: false,
        backfillDepth: 0,
      })
    : { start: [] };
  const startsHere = new Set(local.start.map((d) => d.jobId));
  const rest = candidates.filter((c) => !startsHere.has(c.id));
  const remote = planCycle({
    now: inp.now,
    nodes: inp.offered.map((n, i) => ({ name: `offer${i}`, state: "free", available: { ...n } })),
    running: [],
    candidates: rest,
    queues: [{ name: inp.queue.name, priority: 0, started: true }],
    backfill: false,
    backfillDepth: 0,
  });
  return remote.start.slice(0, inp.maxJobs).map((d) => d.jobId);
}

/**
 * After a cycle that left room: offer it to the peers we pull from, into the queues of this
 * partition. At most one offer per directive per offerIntervalMs (per process), unless the cycle
 * answers a peer's BACKLOG (`paced: false`): every cycle that leaves room would offer it, and
 * offers of one room in quick succession hand over nothing more, but the one answering a peer
 * that has jobs waiting must go out, or they wait for the next tick (a minute on AWS) — the
 * interval held it back when the room's previous offer (a job had just ended) was under
 * offerIntervalMs old (bench/transfer.ts: the transfer latency's p99).
 */
export async function sendOffers(
  ctx: SiteContext,
  partition: string,
  free: { ncpus: number; mem: number; ngpus: number }[],
  opts: { paced?: boolean } = {},
): Promise<number> {
  const paced = opts.paced ?? true;
  if (!ctx.peers?.size) return 0;
  const room = free.filter((n) => n.ncpus > 0);
  if (!room.length) return 0;
  const st = await loadServerState(ctx);
  if (federationState(st) !== "active") return 0;
  // The directives of this partition whose offer is due (no I/O for the ones throttled).
  const now = ctx.clock.now();
  const { lastOffer } = pacingOf(ctx);
  const due = [...ctx.peers.values()].flatMap((peer) =>
    (peer.pull ?? [])
      .filter((d) => {
        const into = st.queues.get(d.into);
        if (!into || queuePartition(into) !== partition) return false;
        return !paced || now - (lastOffer.get(offerKey(peer, d)) ?? 0) >= ctx.settings.offerIntervalMs;
      })
      .map((d) => ({ peer, d })),
  );
  if (!due.length) return 0;
  // Jobs already accepted here and not yet committed will take some of this room: offer again
  // once they are queued (and this cycle's successor has placed them), not twice for one room.
  const pendingIn = (await ctx.store.queryTransfers()).filter(
    (j) => j.state === "T" && j.inbound && j.partition === partition,
  );
  if (pendingIn.length) return 0;
  for (const { peer, d } of due) {
    lastOffer.set(offerKey(peer, d), now);
    await sendToPeer(ctx, peer, {
      type: "OFFER",
      offerId: randomUUID(),
      queue: d.queue,
      into: d.into,
      nodes: room.slice(0, 256),
      maxJobs: Math.min(
        500,
        room.reduce((s, n) => s + n.ncpus, 0),
      ),
    });
  }
  return due.length;
}

function offerKey(peer: PeerInfo, d: { queue: string; into: string }): string {
  return `${peer.short}/${d.queue}/${d.into}`;
}

/**
 * After a cycle that left jobs waiting: tell the peers, so one that pulls from these queues and
 * has room offers it now rather than at its next tick. At most once per offerIntervalMs a peer.
 *
 * A BACKLOG held back by that interval for a job queued since the last one went is not dropped:
 * it goes with a delay (SQS DelaySeconds on the peer's inbox, whole seconds, so at least 1 s).
 * Why: the last BACKLOG's answer pulls the jobs waiting when it arrives, not a job queued just
 * after it (two qsubs 50 ms apart, the first moved). Dropped, that job's BACKLOG would wait for
 * this site's next tick (a minute on AWS) or the peer's next offer. `newestEligible` is when
 * the waiting job that became eligible last did (its qtime, or its etime when released from a
 * hold or back from a peer that refused it; undefined: not known, so it may be new): jobs all
 * eligible before the last BACKLOG were waiting when it went, and its answer or the next
 * undelayed one covers them, so a burst's cycles, once its submits are in, defer nothing. One
 * delayed BACKLOG a peer is in flight at a time, naming every queue the held-back ones named (a
 * later one with a queue it does not name goes too): at most about one more message a second a
 * peer, while jobs come in.
 */
export async function sendBacklog(
  ctx: SiteContext,
  queues: string[],
  newestEligible?: number,
): Promise<void> {
  if (!ctx.peers?.size || !queues.length) return;
  const now = ctx.clock.now();
  const { lastBacklog, deferredBacklog } = pacingOf(ctx);
  const named = [...new Set(queues)].slice(0, 64);
  for (const peer of ctx.peers.values()) {
    const k = peer.short;
    const last = lastBacklog.get(k) ?? 0;
    const wait = last + ctx.settings.offerIntervalMs - now;
    if (wait <= 0) {
      lastBacklog.set(k, now);
      await sendToPeer(ctx, peer, { type: "BACKLOG", queues: named });
      continue;
    }
    if (newestEligible !== undefined && newestEligible < last) continue;
    const pending = deferredBacklog.get(k);
    const inFlight = pending && pending.at > now ? pending.queues : new Set<string>();
    if (named.every((q) => inFlight.has(q))) continue;
    const delaySeconds = Math.max(1, Math.ceil(wait / 1000));
    const all = [...new Set([...inFlight, ...named])].slice(0, 64);
    deferredBacklog.set(k, { at: now + delaySeconds * 1000, queues: new Set(all) });
    await sendToPeer(ctx, peer, { type: "BACKLOG", queues: all }, { delaySeconds });
  }
}

/** BACKLOG: a peer has work waiting; if we pull from those queues, run a cycle (it offers room). */
export async function onBacklog(ctx: SiteContext, peer: PeerInfo, m: Msg<"BACKLOG">): Promise<EndResult> {
  const st = await loadServerState(ctx);
  if (federationState(st) !== "active") return NONE;
  const parts = (peer.pull ?? [])
    .filter((d) => m.queues.includes(d.queue))
    .map((d) => st.queues.get(d.into))
    .filter((q) => q !== undefined)
    .map((q) => queuePartition(q));
  const partitions = [...new Set(parts)];
  return { partitions, ended: [], offer: partitions };
}
