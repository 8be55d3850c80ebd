/** Inputs and outputs of one scheduler cycle (pure: see plan.ts). */
import type { Chunk, Placement } from "../pbs/types.js";

/**
 * `sleep` and `provisioning` are PBS's cloud-bursting states of a pool node (powered off, and
 * powering on): the node takes no work until its MOM says hello (shared/scheduler/power.ts).
 */
export type NodeState = "free" | "job-busy" | "offline" | "down" | "sleep" | "provisioning";

/**
 * PBS vnode `sharing`: how a node treats a job's `place` sharing. `default_*` apply when the job
 * says nothing; `force_*` and `ignore_excl` override the job. Absent = `default_shared`.
 */
export type NodeSharing =
  | "default_shared"
  | "default_excl"
  | "default_exclhost"
  | "ignore_excl"
  | "force_excl"
  | "force_exclhost";

export const NODE_SHARING: readonly NodeSharing[] = [
  "default_shared",
  "default_excl",
  "default_exclhost",
  "ignore_excl",
  "force_excl",
  "force_exclhost",
];

export interface NodeInfo {
  name: string;
  partition?: string;
  state: NodeState;
  available: { ncpus: number; mem: number; ngpus: number };
  sharing?: NodeSharing;
}

/**
 * What one placed chunk takes on one node: a job's allocation lists one entry per chunk
 * instance, in select order (two chunks on one node are two entries, as in `exec_vnode`).
 */
export interface Allocation {
  node: string;
  ncpus: number;
  mem: number;
  ngpus: number;
  /**
   * The job holds this node (`excl`) or its whole host (`exclhost`) alone while it runs: no
   * other job may be placed there. Absent = shared.
   */
  excl?: "excl" | "exclhost";
}

export interface RunningJob {
  id: string;
  queue: string;
  owner: string;
  alloc: Allocation[];
  /** epoch ms */
  startedAt: number;
  /** seconds; undefined = unknown end (no reservation can be computed past it) */
  walltime?: number;
}

export interface CandidateJob {
  id: string;
  /** optimistic-concurrency version of the job item; echoed in the decision */
  ver: number;
  queue: string;
  owner: string;
  /** job priority, -1024..1023 */
  priority: number;
  /** epoch ms the job entered the queue */
  qtime: number;
  /** numeric sequence for FIFO ties */
  seq: number;
  select: Chunk[];
  /** PBS `place`; absent = free arrangement, sharing as the nodes say */
  place?: Placement;
  walltime?: number;
  /** -a Execution_Time, epoch ms: never started before it */
  execAt?: number;
  /** epoch ms: a dispatch refused for capacity backs the job off until then */
  notBefore?: number;
}

export interface QueueInfo {
  name: string;
  priority: number;
  started: boolean;
  /** max running jobs in this queue */
  maxRun?: number;
  /** max running jobs per user in this queue */
  maxUserRun?: number;
}

export interface CycleInput {
  /** epoch ms */
  now: number;
  nodes: NodeInfo[];
  running: RunningJob[];
  candidates: CandidateJob[];
  queues: QueueInfo[];
  /** server-wide max running jobs */
  serverMaxRun?: number;
  /** allow jobs to start ahead of the blocked top job when they do not delay it */
  backfill: boolean;
  /** how many blocked jobs get a reservation (PBS backfill_depth); 1 is typical */
  backfillDepth: number;
}

export interface Decision {
  jobId: string;
  ver: number;
  alloc: Allocation[];
}

export interface CycleResult {
  /** jobs to start now, in the order they were chosen */
  start: Decision[];
  /** why each examined-but-not-started job waits, PBS style ("Not Running: Insufficient amount of resource: ncpus") */
  waiting: Record<string, string>;
  /**
   * jobs holding a reservation and their estimated start (epoch ms), if computable; `alloc` is
   * where the job would run at that time (PBS `estimated.exec_vnode`), present with `estimatedStart`
   */
  reservations: { jobId: string; estimatedStart?: number; alloc?: Allocation[] }[];
  /**
   * Present when the walk ended closed: no node taking work had a free cpu and no reservation
   * was left to make (or, without backfill, the top job was blocked), so any further candidate
   * whose chunks all ask ncpus >= 1 could only wait. `after`: the last candidate examined while
   * it was still open (absent: closed before the first). The cycle reads the ready index in a
   * short prefix and trusts it only when the walk closed before the prefix ran out
   * (shared/scheduler/lookahead.ts).
   */
  closed?: { after?: string };
}
