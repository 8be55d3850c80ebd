import type { Chunk } from "../../../shared/pbs/types.js";
import type {
  CandidateJob,
  CycleInput,
  NodeInfo,
  NodeState,
  QueueInfo,
  RunningJob,
} from "../../../shared/scheduler/types.js";

export const GB = 1024 ** 3;
export const NOW = 1_700_000_000_000;
export const HOUR = 3600;

export function chunk(
  count: number,
  ncpus: number,
  mem = 0,
  ngpus = 0,
  other: Record<string, string> = {},
): Chunk {
  return { count, ncpus, mem, ngpus, mpiprocs: ncpus, other };
}

export function node(
  name: string,
  ncpus: number,
  mem = 64 * GB,
  ngpus = 0,
  state: NodeState = "free",
): NodeInfo {
  return { name, state, available: { ncpus, mem, ngpus } };
}

export function running(
  id: string,
  nodeName: string,
  ncpus: number,
  opts: Partial<Omit<RunningJob, "id" | "alloc">> & { mem?: number; ngpus?: number } = {},
): RunningJob {
  return {
    id,
    queue: opts.queue ?? "workq",
    owner: opts.owner ?? "alice",
    alloc: [{ node: nodeName, ncpus, mem: opts.mem ?? 0, ngpus: opts.ngpus ?? 0 }],
    startedAt: opts.startedAt ?? NOW,
    walltime: "walltime" in opts ? opts.walltime : HOUR,
  };
}

let seq = 0;
export function job(
  id: string,
  select: Chunk[],
  opts: Partial<Omit<CandidateJob, "id" | "select">> = {},
): CandidateJob {
  seq++;
  return {
    id,
    ver: opts.ver ?? 1,
    queue: opts.queue ?? "workq",
    owner: opts.owner ?? "alice",
    priority: opts.priority ?? 0,
    qtime: opts.qtime ?? NOW - 1000,
    seq: opts.seq ?? seq,
    select,
    ...(opts.place ? { place: opts.place } : {}),
    walltime: "walltime" in opts ? opts.walltime : HOUR,
  };
}

export function queue(name: string, opts: Partial<Omit<QueueInfo, "name">> = {}): QueueInfo {
  return { name, priority: opts.priority ?? 0, started: opts.started ?? true, ...opts };
}

export function cycle(partial: Partial<CycleInput>): CycleInput {
  return {
    now: NOW,
    nodes: [],
    running: [],
    candidates: [],
    queues: [queue("workq")],
    backfill: true,
    backfillDepth: 1,
    ...partial,
  };
}
