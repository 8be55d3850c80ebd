/**
 * One PBS scheduler cycle for one partition: pure and deterministic (no clock, no randomness).
 *
 * Policy, in the terms of PBS `sched_config`:
 * - Candidates are sorted by queue priority (desc), job priority (desc), qtime (asc), seq (asc),
 *   then job id, and walked once (`strict_ordering`).
 * - A candidate in a missing or stopped queue, or over `serverMaxRun` / queue `maxRun` / queue
 *   `maxUserRun` (counting running jobs plus jobs started earlier in this cycle), waits with the
 *   PBS reason and takes no reservation.
 * - A candidate whose chunks cannot be placed even on the empty partition (every node, whatever
 *   its state) will never run: it waits with that reason and blocks nobody.
 * - Placement is PBS `place` (see {@link placeSelect}): `free` packs chunks best-fit, `pack` puts
 *   them all on one host, `scatter` one per host, `vscatter` one per vnode; `excl`/`exclhost`
 *   (the job's word or the node's `sharing`) take only idle nodes/hosts and keep every other job
 *   off them while they run. A job is placed whole (one allocation per chunk instance, in select
 *   order) or not at all. Exclusive holds live in the same timeline as cpus and memory (a count
 *   of jobs and of exclusive holds per node), so reservations and backfill honour them too.
 * - A candidate that fits now starts. With reservations in
 *   force it must also fit, on every node, alongside the reserved jobs at each reservation start
 *   that falls before its own end (`now + walltime`; no walltime = never ends). Placement is done
 *   on that combined profile, so a backfill job is steered off reserved nodes when it can be.
 * - The first candidate blocked by resources (not limits) is the top job:
 *   - `backfill` false: it waits, and every later candidate (past the queue and limit checks)
 *     waits with "Job would conflict with reservation or top job" (strict FIFO).
 *   - `backfill` true: up to `backfillDepth` blocked candidates, in order, get a reservation: the
 *     earliest time T (one of the moments a running job, a job started this cycle or an earlier
 *     reservation ends) at which the job fits for its whole walltime around all of those, and the
 *     nodes it would take (`reservations[].alloc`, PBS `estimated.exec_vnode`). A blocked job that
 *     fits now but not beside a reservation also qualifies (reason: conflict). Blocked candidates
 *     past the depth just wait.
 *     Jobs without walltime never end for this purpose. If no such T exists (a job that never ends
 *     holds what is needed), the reservation is reported without `estimatedStart` and constrains
 *     nothing: later jobs start whenever they fit now. `backfill` true with depth 0 = plain greedy.
 * - A candidate that could only fit with offline/down (or sleep/provisioning) nodes back (fits
 *   the whole complex but not the nodes taking work) waits with the insufficient-resources reason
 *   but is not a top job: we cannot know when the nodes return, so it must not stall the
 *   partition. Powering sleeping nodes on for it is decided apart (shared/scheduler/power.ts).
 * - Early exit: once no node taking work has a free cpu and no reservation can still be made,
 *   remaining candidates (whose chunks all ask for ncpus >= 1) skip placement and get the
 *   insufficient-ncpus reason with A: 0. Every examined candidate that does not start appears in
 *   `waiting`, including these. The result says so (`closed`, and after which candidate), so the
 *   cycle knows when the candidates it did not read could not have changed the plan.
 * - Candidates whose id is already running, or repeated in `candidates`, are ignored (no entry).
 * - Running jobs past their walltime are assumed to end 1 ms from now; running allocations on
 *   nodes not in `nodes` are ignored.
 */
import type { Chunk } from "../pbs/types.js";
import {
  insufficientMessage,
  insufficientReason,
  instanceCount,
  type NodeSlot,
  placeSelect,
  type Res,
} from "./placement.js";
import type { Allocation, CandidateJob, CycleInput, CycleResult, QueueInfo } from "./types.js";

export const REASON = {
  queueNotStarted: "Not Running: Queue not started",
  serverLimit: "Not Running: Server job limit has been reached",
  queueLimit: (queue: string) => `Not Running: Queue ${queue} job limit has been reached`,
  userQueueLimit: (queue: string) => `Not Running: User has reached queue ${queue} running job limit.`,
  neverRun: "Not Running: Job will never run with the resources currently configured in the complex",
  conflict: "Not Running: Job would conflict with reservation or top job",
  executionTime: "Not Running: Job Execution_Time has not been reached",
  backoff: "Not Running: backing off after the executor had no capacity",
} as const;

/** PBS sort order of candidates (see module comment). */
export function compareCandidates(
  queues: readonly QueueInfo[],
): (a: CandidateJob, b: CandidateJob) => number {
  const prio = new Map(queues.map((q) => [q.name, q.priority]));
  const qp = (j: CandidateJob) => prio.get(j.queue) ?? Number.NEGATIVE_INFINITY;
  return (a, b) => {
    const pa = qp(a);
    const pb = qp(b);
    if (pa !== pb) return pa > pb ? -1 : 1;
    if (a.priority !== b.priority) return b.priority - a.priority;
    if (a.qtime !== b.qtime) return a.qtime - b.qtime;
    if (a.seq !== b.seq) return a.seq - b.seq;
    return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
  };
}

interface Usage {
  /** per chunk on node i; `excl`: held exclusively (an exclhost chunk marks every vnode of its host) */
  alloc: { i: number; ncpus: number; mem: number; ngpus: number; excl: boolean }[];
  /** epoch ms, inclusive */
  start: number;
  /** epoch ms, exclusive; Infinity = never ends */
  end: number;
}

/**
 * Resource usage over time. Free resources only drop (and job and exclusive counts only rise)
 * when a usage starts, and every usage starts either before now (running), at now (started this
 * cycle) or at a reservation's start, so checking "now" and each reservation start is enough.
 * Free arrays at those points are cached and updated as usages are added.
 */
class Timeline {
  private readonly usages: Usage[] = [];
  private readonly points = new Map<number, Res[]>();

  constructor(private readonly capacity: readonly Res[]) {}

  add(u: Usage): void {
    this.usages.push(u);
    for (const [t, free] of this.points) {
      if (u.start <= t && t < u.end) subtract(free, u);
    }
  }

  /** Cache free resources at `t` from now on (call before adding usages that start at `t`). */
  mark(t: number): void {
    if (!this.points.has(t)) this.points.set(t, this.compute(t));
  }

  freeAt(t: number): Res[] {
    return this.points.get(t) ?? this.compute(t);
  }

  /**
   * Per node, the least free (and the most jobs and exclusive holds) over [start, end). The
   * result must not be modified.
   */
  profile(start: number, end: number): Res[] {
    const base = this.freeAt(start);
    let out: Res[] | undefined;
    for (const [t, free] of this.points) {
      if (t <= start || t >= end) continue;
      out ??= base.map((r) => ({ ...r }));
      for (let i = 0; i < out.length; i++) {
        const o = out[i];
        const f = free[i];
        if (f.ncpus < o.ncpus) o.ncpus = f.ncpus;
        if (f.mem < o.mem) o.mem = f.mem;
        if (f.ngpus < o.ngpus) o.ngpus = f.ngpus;
        if (f.jobs > o.jobs) o.jobs = f.jobs;
        if (f.excl > o.excl) o.excl = f.excl;
      }
    }
    return out ?? base;
  }

  /** Finite end times after `after`, ascending, without duplicates. */
  endsAfter(after: number): number[] {
    const ends = new Set<number>();
    for (const u of this.usages) if (u.end > after && Number.isFinite(u.end)) ends.add(u.end);
    return [...ends].sort((a, b) => a - b);
  }

  private compute(t: number): Res[] {
    const free = this.capacity.map((r) => ({ ...r }));
    for (const u of this.usages) if (u.start <= t && t < u.end) subtract(free, u);
    return free;
  }
}

function subtract(free: Res[], u: Usage): void {
  for (const a of u.alloc) {
    const f = free[a.i];
    f.ncpus -= a.ncpus;
    f.mem -= a.mem;
    f.ngpus -= a.ngpus;
    f.jobs += 1;
    if (a.excl) f.excl += 1;
  }
}

/** Seconds of walltime to an exclusive end in ms; always after `start`. */
function endOf(start: number, walltime: number | undefined): number {
  return walltime === undefined ? Number.POSITIVE_INFINITY : start + Math.max(walltime * 1000, 1);
}

function allCpusAsked(select: readonly Chunk[]): boolean {
  return select.every((c) => c.ncpus >= 1);
}

export function planCycle(input: CycleInput): CycleResult {
  const { now } = input;
  const nodeInfos = [...input.nodes].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  // vnodes per host (one array per host, shared by its vnodes): host arrangements, exclhost
  const siblings = new Map<string, number[]>();
  const hostOf = nodeInfos.map((n) => n.name.split(".")[0].toLowerCase());
  hostOf.forEach((h, i) => {
    const list = siblings.get(h);
    if (list) list.push(i);
    else siblings.set(h, [i]);
  });
  const slots: NodeSlot[] = nodeInfos.map((n, i) => ({
    name: n.name,
    host: hostOf[i],
    hostNodes: siblings.get(hostOf[i]) ?? [i],
    sharing: n.sharing,
  }));
  const indexOf = new Map<string, number>();
  nodeInfos.forEach((n, i) => {
    if (!indexOf.has(n.name)) indexOf.set(n.name, i);
  });
  const capacity: Res[] = nodeInfos.map((n) => ({
    ncpus: n.available.ncpus,
    mem: n.available.mem,
    ngpus: n.available.ngpus,
    jobs: 0,
    excl: 0,
  }));
  // a sleeping or provisioning pool node is part of the complex but takes no work until up
  const usable = nodeInfos.map((n) => n.state === "free" || n.state === "job-busy");
  const everyNode = nodeInfos.map(() => true);
  const totals: Res = { ncpus: 0, mem: 0, ngpus: 0, jobs: 0, excl: 0 };
  for (const c of capacity) {
    totals.ncpus += c.ncpus;
    totals.mem += c.mem;
    totals.ngpus += c.ngpus;
  }

  // Whether any node may be held exclusively or has a sharing rule: while not, placement skips
  // its per-node sharing checks (placeSelect's fast path). Only ever turns true.
  let exclusiveInPlay = nodeInfos.some((n) => n.sharing !== undefined && n.sharing !== "default_shared");
  const place = (job: CandidateJob, free: readonly Res[], eligible: readonly boolean[]) =>
    placeSelect(job.select, job.place, slots, free, eligible, exclusiveInPlay);
  const toUsage = (alloc: readonly Allocation[], start: number, end: number): Usage => ({
    alloc: alloc.flatMap((a) => {
      const i = indexOf.get(a.node);
      if (i === undefined) return [];
      if (a.excl) exclusiveInPlay = true;
      const own = { i, ncpus: a.ncpus, mem: a.mem, ngpus: a.ngpus, excl: a.excl !== undefined };
      if (a.excl !== "exclhost") return [own];
      // the other vnodes of the host are held too, though no chunk of the job is on them
      const others = slots[i].hostNodes.filter((j) => j !== i);
      return [own, ...others.map((j) => ({ i: j, ncpus: 0, mem: 0, ngpus: 0, excl: true }))];
    }),
    start,
    end,
  });

  const timeline = new Timeline(capacity);
  const queueRun = new Map<string, number>();
  const userRun = new Map<string, number>();
  const userKey = (queue: string, owner: string) => `${queue}\u0000${owner}`;
  const bump = (queue: string, owner: string) => {
    queueRun.set(queue, (queueRun.get(queue) ?? 0) + 1);
    const k = userKey(queue, owner);
    userRun.set(k, (userRun.get(k) ?? 0) + 1);
  };
  const seen = new Set<string>();
  for (const r of input.running) {
    const end =
      r.walltime === undefined
        ? Number.POSITIVE_INFINITY
        : Math.max(r.startedAt + r.walltime * 1000, now + 1);
    timeline.add(toUsage(r.alloc, Number.NEGATIVE_INFINITY, end));
    bump(r.queue, r.owner);
    seen.add(r.id);
  }
  let serverRun = input.running.length;
  timeline.mark(now);

  const queues = new Map(input.queues.map((q) => [q.name, q]));
  const candidates = [...input.candidates].sort(compareCandidates(input.queues));
  const depth = input.backfill ? Math.max(0, Math.floor(input.backfillDepth)) : 0;

  const result: CycleResult = { start: [], waiting: {}, reservations: [] };
  let stopped = false; // strict mode: the top job is blocked
  let noFreeCpus = false;
  const refreshNoFreeCpus = () => {
    const free = timeline.freeAt(now);
    noFreeCpus = free.every((f, i) => !usable[i] || f.ncpus < 1);
  };
  refreshNoFreeCpus();

  // When the walk closes (see CycleResult.closed): checked before each candidate, so `after` is
  // the last one examined while it was still open. Closing is monotone: cpus are only taken and
  // reservations only added during the walk.
  const isClosed = () => stopped || (noFreeCpus && (!input.backfill || result.reservations.length >= depth));
  let lastExamined: string | undefined;
  const markClosed = () => {
    if (!result.closed && isClosed())
      result.closed = lastExamined === undefined ? {} : { after: lastExamined };
  };

  for (const job of candidates) {
    markClosed();
    if (seen.has(job.id)) continue;
    seen.add(job.id);
    lastExamined = job.id;

    // -a: a job whose Execution_Time is ahead neither starts nor holds the partition back
    if (job.execAt !== undefined && job.execAt > now) {
      result.waiting[job.id] = REASON.executionTime;
      continue;
    }
    // backing off after a capacity refusal: it does not hold the partition back either
    if (job.notBefore !== undefined && job.notBefore > now) {
      result.waiting[job.id] = REASON.backoff;
      continue;
    }
    const queue = queues.get(job.queue);
    if (!queue?.started) {
      result.waiting[job.id] = REASON.queueNotStarted;
      continue;
    }
    if (input.serverMaxRun !== undefined && serverRun >= input.serverMaxRun) {
      result.waiting[job.id] = REASON.serverLimit;
      continue;
    }
    if (queue.maxRun !== undefined && (queueRun.get(queue.name) ?? 0) >= queue.maxRun) {
      result.waiting[job.id] = REASON.queueLimit(queue.name);
      continue;
    }
    if (
      queue.maxUserRun !== undefined &&
      (userRun.get(userKey(queue.name, job.owner)) ?? 0) >= queue.maxUserRun
    ) {
      result.waiting[job.id] = REASON.userQueueLimit(queue.name);
      continue;
    }
    if (stopped) {
      result.waiting[job.id] = REASON.conflict;
      continue;
    }
    const reservationsClosed = !input.backfill || result.reservations.length >= depth;
    if (noFreeCpus && reservationsClosed && job.select.length > 0 && allCpusAsked(job.select)) {
      result.waiting[job.id] = insufficientMessage("ncpus", job.select[0].ncpus, 0, totals.ncpus);
      continue;
    }
    if (instanceCount(job.select) === 0 || !place(job, capacity, everyNode)) {
      result.waiting[job.id] = REASON.neverRun;
      continue;
    }

    const end = endOf(now, job.walltime);
    const freeNow = timeline.freeAt(now);
    const profile = timeline.profile(now, end);
    const alloc = place(job, profile, usable);
    if (alloc) {
      timeline.add(toUsage(alloc, now, end));
      result.start.push({ jobId: job.id, ver: job.ver, alloc });
      serverRun++;
      bump(queue.name, job.owner);
      refreshNoFreeCpus();
      continue;
    }

    const fitsFreeNow = profile !== freeNow && place(job, freeNow, usable) !== null;
    result.waiting[job.id] = fitsFreeNow
      ? REASON.conflict
      : insufficientReason(job.select, freeNow, usable, totals);
    // Needs offline/down nodes back: unknown when, so it does not hold the partition.
    if (!place(job, capacity, usable)) continue;
    if (!input.backfill) {
      stopped = true;
      continue;
    }
    if (result.reservations.length >= depth) continue;
    const reservation = reserve(job, timeline, (free) => place(job, free, usable), now);
    if (reservation) {
      timeline.mark(reservation.start);
      timeline.add(toUsage(reservation.alloc, reservation.start, endOf(reservation.start, job.walltime)));
      result.reservations.push({
        jobId: job.id,
        estimatedStart: reservation.start,
        alloc: reservation.alloc,
      });
    } else {
      result.reservations.push({ jobId: job.id });
    }
  }
  markClosed();
  return result;
}

/** Earliest moment after now the job fits for its whole walltime, and where; undefined if never. */
function reserve(
  job: CandidateJob,
  timeline: Timeline,
  place: (free: readonly Res[]) => Allocation[] | null,
  now: number,
): { start: number; alloc: Allocation[] } | undefined {
  for (const t of timeline.endsAfter(now)) {
    const alloc = place(timeline.profile(t, endOf(t, job.walltime)));
    if (alloc) return { start: t, alloc };
  }
  return undefined;
}
