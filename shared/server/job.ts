/**
 * The job as stored, and pure predicates about it (finished, waiting on other jobs, in transit)
 * that the store adapters derive their indexes from (shared/adapters/dynamodb/indexes.ts).
 * Every change to a job goes through the store with the job's `ver`, so two writers can never
 * both win: the loser re-reads and re-decides.
 */
import type { Chunk, JobState } from "../pbs/types.js";
// from the executor port itself, not the ports index: the index re-exports the store ports,
// which hold JobRecord, and importing it here would close a cycle
import type { Delivered, ResourcesUsed } from "../ports/executor.js";
import type { Allocation } from "../scheduler/types.js";

/** One line of a job's history, as tracejob prints it. */
export interface TraceEvent {
  /** epoch milliseconds */
  time: number;
  /** S = server, L = scheduler, M = MOM, A = accounting (tracejob's letters) */
  source: "S" | "L" | "M" | "A";
  message: string;
}

export interface JobRecord {
  /** full ID: 123.casper, 123[].casper, 123[4].casper */
  id: string;
  /** sequence text used in keys: "123" or "123[4]" */
  key: string;
  seq: number;
  /** site short name */
  site: string;
  state: JobState;
  /** PBS Hold_Types letters in effect: u (user), o (operator), s (system: dependencies) */
  holds: string;
  /**
   * epoch ms: the scheduler starts the job no sooner (a dispatch refused for capacity or
   * throttling backs off); absent = any time
   */
  notBefore?: number;
  /** dispatches refused for capacity or throttling in a row: the back-off doubles with each */
  dispatchFails?: number;
  queue: string;
  partition: string;
  name: string;
  /** user@host */
  owner: string;
  user: string;
  account?: string;
  project?: string;
  script: string;
  submitDir: string;
  submitHost: string;
  /** Resource_List as PBS shows it (text values) */
  rl: Record<string, string>;
  sel: Chunk[];
  walltime?: number;
  priority: number;
  rerunnable: boolean;
  join: "oe" | "eo" | "n";
  /** absolute paths (no host: prefix) */
  outPath: string;
  errPath: string;
  env: Record<string, string>;
  depend?: string;
  /** parents (full IDs) whose condition is not met yet */
  depPending?: string[];
  /** `on:N` slots still open (before-type dependencies fill them) */
  depOn?: number;
  /** some job depends on this one: look for edges when it starts or ends */
  hasDeps?: boolean;
  /**
   * qsub -I: an interactive job. `keyHash` is the SHA-256 (hex) of the session's one-time
   * secret, given to the submitter alone at submit; the MOM lets only its holder attach.
   */
  interactive?: { keyHash: string };
  /** other -W attributes, mail options, shell... kept for display */
  extra?: Record<string, string>;
  /** array job: the range text and progress */
  array?: {
    range: string;
    indices: number[];
    next: number;
    max?: number;
    running: number;
    done: number;
    failed: number;
    /** indices deleted before they started (qdel): never run, shown as X with the array */
    deleted?: number[];
  };
  /** subjob: parent key and index */
  parentKey?: string;
  arrayIndex?: number;
  /** -a Execution_Time, epoch ms: the job waits in W until then */
  execAt?: number;
  ctime: number;
  qtime: number;
  /**
   * Place in its queue when qorder swapped it with another job (the other's qtime-like rank);
   * absent = qtime. The scheduler orders by it in place of qtime; qstat still shows qtime.
   */
  qrank?: number;
  mtime: number;
  etime?: number;
  stime?: number;
  obittime?: number;
  /**
   * Set by the write that ends a run from its obituary: the type of its accounting record (E, or
   * D for a deleted job), which is written after that write (job-end.ts settleEnd), and again
   * from this item by a redelivered obituary when the first attempt died between the two.
   */
  endAcct?: "E" | "D";
  /**
   * Epoch SECONDS after which the finished job is gone from history (job_history_duration),
   * set by the write that finishes it (history.ts); the table's TTL attribute. Absent while active.
   */
  expiresAt?: number;
  /**
   * Epoch seconds: the lease of the job's script, set on the record a job is created from
   * (history.ts) and stored with the script only (never on the job's own item, never read back):
   * the store may delete the script after it, and the sweeper renews it while the job is active
   * (shared/server/script-lease.ts). Absent: the script is kept for ever.
   */
  scriptUntil?: number;
  /** Epoch seconds: when that lease was granted (at submit); stored with the script, as it is. */
  scriptGranted?: number;
  alloc?: Allocation[];
  execHost?: string;
  execVnode?: string;
  momId?: string;
  runCount: number;
  exitStatus?: number;
  used?: ResourcesUsed;
  /** where the last run's MOM wrote stdout/stderr (its obituary); the API reads only these */
  delivered?: Delivered;
  comment?: string;
  /** qdel of a running job asked; the obituary finishes it */
  delReq?: boolean;
  /** qrerun asked; the obituary requeues it */
  rerunReq?: boolean;
  /** runs of this job its MOMs refused (shared/exec/refusal.ts); held at settings.maxRunRefusals */
  refusals?: number;
  hist: TraceEvent[];
  /**
   * Origin side of a move to a peer: set when the job goes T (transfer `id` to `peer`, valid
   * until `deadline`), kept on the M record with the job's new ID at the peer.
   */
  xfer?: { id: string; peer: string; into: string; deadline: number; newId?: string };
  /** peers that refused this job (their receive policy): not offered to them again */
  refusedBy?: string[];
  /** The job's ID at the peer it moved to (M records): qstat and qdel follow it. */
  movedTo?: string;
  /**
   * A moved job's live state where it runs (M records, from the peer's JOB_STATE reports):
   * qstat here lists the job under its ID with this state until its end comes back.
   */
  remote?: { state: JobState; at: number; server: string; stime?: number; execHost?: string };
  /**
   * The job came from a peer: held in T until the origin commits the move, and its end is
   * reported back (JOB_END) until the origin acknowledges.
   */
  inbound?: {
    transferId: string;
    originId: string;
    from: string;
    committed: boolean;
    /** the origin's names, for the usage that goes back */
    originUser: string;
    originAccount?: string;
    endAcked?: boolean;
  };
  ver: number;
}

export const FINISHED: ReadonlySet<JobState> = new Set(["F", "X", "M"]);

export function isFinished(s: JobState): boolean {
  return FINISHED.has(s);
}

/**
 * Whether qstat lists the job among finished ones (history, `-x`): a job that moved to a peer
 * (M) is listed live, under its ID, until its end comes back (obittime).
 */
export function listedFinished(job: Pick<JobRecord, "state" | "obittime">): boolean {
  if (job.state === "M") return job.obittime !== undefined;
  return isFinished(job.state);
}

/** Whether an array parent still has subjobs to start. */
export function arrayHasWork(job: Pick<JobRecord, "array">): boolean {
  return !!job.array && job.array.next < job.array.indices.length;
}

/**
 * A job that waits on other jobs: on the parents it depends on (`depPending`), or, for an array
 * job under way (B), on its subjobs being counted. These are what a crash between a job's end
 * and its follow-up can strand, so the repair sweep (shared/server/repair.ts) reads them, and
 * only them, from the wait index.
 */
export function waitsOnJobs(job: Pick<JobRecord, "state" | "depPending" | "array" | "parentKey">): boolean {
  if (isFinished(job.state)) return false;
  // a deferred job (-a) waits on the clock: the sweeper reads it from the same index
  if (job.state === "W") return true;
  if (job.depPending?.length) return true;
  return job.state === "B" && !!job.array && !job.parentKey;
}

/** In transit (either side), or ended here for a peer that has not acknowledged the end yet. */
export function transferPending(job: Pick<JobRecord, "state" | "inbound">): boolean {
  if (job.state === "T") return true;
  return !!job.inbound && isFinished(job.state) && !job.inbound.endAcked;
}

const MAX_HIST = 100;
/** Longest trace message kept (characters); a longer one is cut with an ellipsis. */
export const MAX_TRACE_MESSAGE = 1024;
/**
 * Bytes of trace a job keeps at most (messages, newest kept). With the submit limit
 * (maxJobBytes, 300 KB) this bounds how far a long life can grow a job's item, which must
 * stay under DynamoDB's 400 KB: the trace can never be what makes a write fail.
 */
export const MAX_TRACE_BYTES = 48 * 1024;

/** Append trace events (tracejob), keeping the newest MAX_HIST and at most MAX_TRACE_BYTES. */
export function withTrace(hist: TraceEvent[], ...events: TraceEvent[]): TraceEvent[] {
  const cut = events.map((e) =>
    e.message.length > MAX_TRACE_MESSAGE
      ? { ...e, message: `${e.message.slice(0, MAX_TRACE_MESSAGE - 3)}...` }
      : e,
  );
  const all = [...hist, ...cut];
  let start = Math.max(0, all.length - MAX_HIST);
  let bytes = 0;
  for (let i = all.length - 1; i >= start; i--) {
    bytes += Buffer.byteLength(all[i].message) + 16;
    if (bytes > MAX_TRACE_BYTES) {
      start = i + 1;
      break;
    }
  }
  return start > 0 ? all.slice(start) : all;
}

/** The fields a job gets when it ends for good. */
export function endFields(
  cur: JobRecord,
  now: number,
  exitStatus: number | undefined,
  comment: string,
  message: string,
): JobRecord {
  return {
    ...cur,
    state: cur.parentKey ? "X" : "F",
    exitStatus,
    obittime: now,
    mtime: now,
    comment,
    delReq: undefined,
    rerunReq: undefined,
    hist: withTrace(cur.hist, { time: now, source: "S", message }),
  };
}

/**
 * The job with `holds` as its remaining hold types: with none left, a held job is released to
 * the queue (and its eligible time starts now). One rule for qrls and dependency release.
 */
export function withHolds(job: JobRecord, holds: string, now: number, message: string): JobRecord {
  const release = !holds && job.state === "H";
  const state = release ? unheldState(job, now) : job.state;
  return {
    ...job,
    holds,
    state,
    etime: state === "Q" && release ? now : job.etime,
    mtime: now,
    hist: withTrace(job.hist, {
      time: now,
      source: "S",
      message: release ? `${message}; job released` : message,
    }),
  };
}

/**
 * Where a job with no holds left goes: W while its Execution_Time (-a) is ahead, as PBS, else
 * Q. The sweeper moves W jobs to Q when their time comes (shared/server/deferred.ts).
 */
export function unheldState(job: Pick<JobRecord, "execAt">, now: number): "Q" | "W" {
  return job.execAt !== undefined && job.execAt > now ? "W" : "Q";
}

export function userOf(owner: string): string {
  const at = owner.indexOf("@");
  return at < 0 ? owner : owner.slice(0, at);
}
