/**
 * How far down each queue's ready index a cycle reads. Reading `cycleCandidates` (200) per queue
 * at every cycle made the ready-index queries the largest read of a busy site: DynamoDB Local
 * (and DynamoDB, per item) pays for every candidate returned, and a full partition examines only
 * a handful before the planner's walk closes (no free cpu, no reservation left: shared/scheduler/
 * plan.ts). So a cycle first reads a prefix sized by the cpus free now, and reads the full
 * `cycleCandidates` (and plans again) only when the prefix could have changed nothing: when a
 * queue's prefix was cut short and the walk was still open at its end. Pure; the I/O is in
 * cycle.ts.
 */
import { compareCandidates } from "./plan.js";
import type { CandidateJob, CycleResult, NodeInfo, QueueInfo, RunningJob } from "./types.js";

/**
 * Candidates read beyond the free cpus: room for the reservations (backfill_depth), jobs held by
 * limits and the few waiting ones a cycle comments on, before the walk closes.
 */
export const LOOKAHEAD_MARGIN = 16;

/**
 * The prefix to read per queue: the cpus free on nodes taking work (each starting job takes at
 * least one), plus the margin, at most `max`.
 */
export function prefixSize(nodes: readonly NodeInfo[], running: readonly RunningJob[], max: number): number {
  const used = new Map<string, number>();
  for (const r of running) for (const a of r.alloc) used.set(a.node, (used.get(a.node) ?? 0) + a.ncpus);
  let free = 0;
  for (const n of nodes)
    if (n.state === "free" || n.state === "job-busy")
      free += Math.max(0, n.available.ncpus - (used.get(n.name) ?? 0));
  return Math.max(1, Math.min(max, free + LOOKAHEAD_MARGIN));
}

/**
 * Whether a plan made from per-queue prefixes is the plan the full read would give, as far as
 * the cycle acts on it. `cut`: the queues whose prefix came back full (the index may hold more).
 * True when nothing was cut, or when the walk closed (plan.closed) at or before the last read
 * candidate of every cut queue, each of which also has a waiting candidate. Then every unread
 * candidate sorts after the point where the walk closed (the index keeps each queue in the
 * planner's order), so it could only wait, and the queues with waiting jobs (the backlog told to
 * peers, no offers of room) are the same. The one thing an unread candidate could still do is
 * start while asking no cpus at all: such a job is considered once its turn falls in a prefix,
 * as a job past `cycleCandidates` always was.
 */
export function prefixSuffices(
  plan: CycleResult,
  candidates: readonly CandidateJob[],
  queues: readonly QueueInfo[],
  cut: ReadonlySet<string>,
): boolean {
  if (cut.size === 0) return true;
  if (!plan.closed) return false;
  const cmp = compareCandidates(queues);
  const byId = new Map(candidates.map((c) => [c.id, c]));
  const closer = plan.closed.after === undefined ? undefined : byId.get(plan.closed.after);
  if (plan.closed.after !== undefined && !closer) return false;
  for (const q of cut) {
    const own = candidates.filter((c) => c.queue === q);
    if (own.length === 0) return false;
    const last = own.reduce((a, b) => (cmp(a, b) >= 0 ? a : b));
    if (closer && cmp(closer, last) > 0) return false;
    if (!own.some((c) => plan.waiting[c.id] !== undefined)) return false;
  }
  return true;
}
