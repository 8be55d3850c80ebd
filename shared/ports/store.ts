/**
 * Port: where a site keeps its state, split by what each part holds. The domain sees only these
 * interfaces; `shared/adapters/dynamodb` (the product, on AWS and on DynamoDB Local) and
 * `shared/adapters/memory` (the protocol simulator and the fast unit tests) implement all of
 * them, and one contract suite (test/contract/store.contract.ts) runs against both.
 *
 * What every adapter must guarantee, because the domain's correctness rests on it:
 * - Every job change is conditional on the `ver` the caller read and bumps it by one; a lost
 *   race throws ConflictError and writes nothing. Creates fail with ConflictError when the key
 *   exists.
 * - Every job write checks the state table (shared/pbs/states.ts) before anything is written and
 *   throws IllegalTransitionError for a forbidden transition or creation state.
 * - Multi-item writes (createJob with edges or accounting, updateJob with accounting and a
 *   charge, transactJobs, createInbound, abortInbound, addEdge) are all-or-nothing. writeJobs
 *   is all-or-nothing per job write (the job with its accounting record and charge), not
 *   across the group.
 * - Anything else that fails (item too large, throttling after retries, validation) is a
 *   StoreError, never a ConflictError: a bug or an overload must not pass for a lost race.
 * - Index reads (queryReady, listJobs, listJobPage, ...) keep the orders documented on each.
 */
import type { JobRecord } from "../server/job.js";
import type { MomConnection } from "./channel.js";
import type {
  AcctRecord,
  AuditRecord,
  EdgeRecord,
  IntakeRecord,
  JobPage,
  JobPageQuery,
  ListedJob,
  MomBeat,
  PeerMessageClaim,
  PeerSeen,
  ProjectRecord,
  ServerObject,
  StatSample,
  TransferRecord,
  UsageCharge,
  WaitingJob,
} from "../server/records.js";

/** A job change read as `before`, to be written as `after`. */
export interface JobChange {
  before: JobRecord;
  after: JobRecord;
}

/**
 * One job write of a group (writeJobs): a change from `before` to `after`, conditional on
 * `before.ver`, or the creation of `create`, conditional on its key being free; each with its own
 * accounting record and usage charge, which land with it or not at all.
 */
export type JobWrite =
  | { before: JobRecord; after: JobRecord; acct?: AcctRecord; charge?: UsageCharge; create?: undefined }
  | { create: JobRecord; acct?: AcctRecord; before?: undefined; after?: undefined; charge?: undefined };

/** A job end's accounting record and the charge that lands with it (Ledger.settleEnds). */
export interface SettleEnd {
  rec: AcctRecord;
  charge?: UsageCharge;
}

/**
 * How a job is read. `script: false`: without its script (the record's `script` is absent), for
 * callers that change a job's state and never run or move it (an obituary's end, qdel): the
 * store does not read the script at all (DynamoDB: the job's own item only, not its script
 * item). A record read so can be written back: a write whose `before` or `after` has no script
 * leaves the stored one as it is (as for records read from an index).
 */
export interface JobReadOptions {
  script?: boolean;
}

/**
 * A job's script as the script-lease pass sees it (JobStore.scriptLeases): `until`, the epoch
 * second after which the store may delete the script (undefined: no lease, kept for ever);
 * `renewed`, whether the lease was ever renewed (renewScriptLease) rather than granted at submit.
 * A job with no script of its own (stored inline before the split) is not listed.
 */
export interface ScriptLease {
  key: string;
  seq: number;
  until?: number;
  renewed: boolean;
  /**
   * The epoch second its first lease was granted, at submit (JobRecord.scriptGranted); absent
   * for scripts stored before it was kept. What bounds the pass's walk (script-lease.ts).
   */
  granted?: number;
}

/** Jobs, their dependency edges and the job sequence. */
export interface JobStore {
  /** Bytes the job takes as stored (submit checks it against maxJobBytes). */
  jobItemBytes(job: JobRecord): number;
  getJob(key: string, consistent?: boolean, opts?: JobReadOptions): Promise<JobRecord | undefined>;
  /** Several jobs by key (strongly consistent); missing keys are absent from the map. */
  getJobs(keys: string[], opts?: JobReadOptions): Promise<Map<string, JobRecord>>;
  /** The job and every dependency edge hanging off it. */
  getJobWithEdges(key: string): Promise<{ job?: JobRecord; edges: EdgeRecord[] }>;
  /** A job and one of its edges, read together. */
  getJobAndEdge(key: string, childId: string): Promise<{ job?: JobRecord; edge?: EdgeRecord }>;
  /**
   * Create a job (ConflictError if its key exists), atomically with: edges under its parents
   * (each parent must exist and be unfinished, and gets hasDeps and a ver bump), an accounting
   * record, and updates of other jobs.
   */
  createJob(job: JobRecord, edges?: EdgeRecord[], acct?: AcctRecord, updates?: JobChange[]): Promise<void>;
  /**
   * Move a job from `before` to `after` if nobody changed it since (ver); the accounting record
   * and the usage charge, when given, land in the same transaction. Returns `after` with the new ver.
   */
  updateJob(before: JobRecord, after: JobRecord, acct?: AcctRecord, charge?: UsageCharge): Promise<JobRecord>;
  /**
   * qdel -x: remove a finished job's record (its history) if nobody changed it since it was
   * read (ver); ConflictError otherwise. Its audit lines stay (they are the site's, not the job's).
   */
  purgeJob(before: JobRecord): Promise<void>;
  /**
   * Group commit: many independent job writes in as few store requests as they fit in
   * (DynamoDB: shared transactions of at most 100 items and 4 MB, one action per item). Each
   * write keeps the semantics it has alone (updateJob / createJob): conditional on its own ver
   * (or free key), with its accounting record and charge in the same all-or-nothing step.
   * Result i is for writes[i]: the written record (ver bumped, or the created one) or the error
   * that write alone would have thrown (ConflictError for a lost race, StoreError,
   * IllegalTransitionError), and then nothing of it is written. A write that lost its race never
   * holds the others back: they are committed without it. Throws only when the store cannot be
   * reached at all (nothing is known of any write).
   */
  writeJobs(writes: JobWrite[]): Promise<(JobRecord | Error)[]>;
  /** Several job changes and new jobs, all or nothing. */
  transactJobs(updates: JobChange[], creates?: JobRecord[]): Promise<void>;
  /** An edge under an existing unfinished parent (sets hasDeps, bumps ver); ConflictError otherwise. */
  addEdge(e: EdgeRecord): Promise<void>;
  deleteEdge(parentKey: string, childId: string): Promise<void>;
  /** Reserve `n` consecutive sequence numbers; returns the first. */
  reserveSeq(n: number): Promise<number>;
  /**
   * The script leases of a queue's active jobs (`sub`: its subjobs), oldest first (by seq),
   * after seq `after`, at most `limit`; `next`, the seq to go on from when there may be more.
   * A job's script is stored with the lease its create carried (JobRecord.scriptUntil) and is
   * never deleted before it ends; the sweeper's pass (shared/server/script-lease.ts) renews the
   * leases of jobs still active near their end. Eventually consistent: a lease just renewed may
   * read as before (the pass renews it again, which changes nothing).
   */
  scriptLeases(
    queue: string,
    sub: boolean,
    after: number | undefined,
    limit: number,
  ): Promise<{ leases: ScriptLease[]; next?: number }>;
  /**
   * Extend the lease of a job's script to `until` (epoch seconds) if it ends before that (or has
   * none); never shortens one. Idempotent. Writes nothing for a job with no script item.
   */
  renewScriptLease(key: string, until: number): Promise<void>;
  /**
   * The shortest lease term (seconds from grant to end) any submit at this site has granted, as
   * recorded by lowerScriptLeaseFloor; undefined if none was. Strongly consistent.
   */
  scriptLeaseFloor(): Promise<number | undefined>;
  /** Record that a lease of `termS` seconds is granted: lowers the floor to it, never raises it. */
  lowerScriptLeaseFloor(termS: number): Promise<void>;

  /**
   * Top `limit` ready jobs of a queue, in scheduling order: higher priority first, then earlier
   * qtime, then lower seq. (How the adapter spreads a queue over index partitions is its own.)
   */
  queryReady(queue: string, limit: number): Promise<JobRecord[]>;
  /** Jobs holding resources in a partition (R and E). */
  queryRunning(partition: string): Promise<JobRecord[]>;
  /**
   * Jobs of a queue, active or finished (history), oldest first (by seq); `sub` lists subjobs.
   * As the list index projects them (ListedJob): to count and find jobs, not to show them (a
   * page of full records is listJobPage).
   */
  listJobs(queue: string, finished: boolean, opts?: { sub?: boolean; limit?: number }): Promise<ListedJob[]>;
  /** Subjobs of an array parent, active and finished, by array index (full records, no script). */
  listSubjobs(parent: JobRecord): Promise<JobRecord[]>;
  /** Finished subjobs of an array parent (full records, no script). */
  finishedSubjobs(parent: Pick<JobRecord, "queue" | "seq">): Promise<JobRecord[]>;
  /** Jobs waiting on other jobs (dependencies, arrays under way), projected. */
  queryWaiting(): Promise<WaitingJob[]>;
  /**
   * One page of jobs (the dashboard's, newest first; qstat's, oldest first), filtered by the
   * store, as full records without the script. Its cost is the page's, whatever is queued.
   */
  listJobPage(q: JobPageQuery): Promise<JobPage>;
}

/** Server, queue, node and scheduler objects (qmgr), and what the scheduler reports. */
export interface ServerObjectStore {
  getServerObjects(): Promise<ServerObject[]>;
  /** Create (expectVer undefined: must not exist) or replace at expectVer; ConflictError otherwise. */
  putServerObject(obj: ServerObject, expectVer?: number): Promise<void>;
  deleteServerObject(kind: ServerObject["kind"], name: string, expectVer: number): Promise<void>;
  /** The intake's state (shared/server/dormancy.ts), read strongly consistent; undefined: never written (awake). */
  getIntake(): Promise<IntakeRecord | undefined>;
  /**
   * Write the intake's state at `rec.ver`, replacing the one at `rec.ver - 1` (rec.ver 0: none
   * written yet); a ConflictError when it changed meanwhile.
   */
  putIntake(rec: IntakeRecord): Promise<void>;
  /** A scheduler's last cycle summary (last writer wins: it is a report). */
  putCycleReport(sched: string, report: Record<string, unknown>): Promise<void>;
  getCycleReports(): Promise<Record<string, unknown>[]>;
  /** One minute of job counts, kept for two days. */
  putStatSample(s: StatSample): Promise<void>;
  /** Samples from `since` (epoch ms) on, oldest first. */
  getStatSamples(since: number): Promise<StatSample[]>;
}

/** What the site's MOMs last said: heartbeats and boots. */
export interface MomStore {
  /** The MOM's last beat replaces its earlier one; it expires some hours after it was sent. */
  putMomBeat(beat: MomBeat): Promise<void>;
  /**
   * Forget the MOM's beat once it holds nothing but `run` (whose obituary was taken): a per-run
   * MOM's item goes with its run. A beat naming other runs stays (no error).
   */
  dropMomBeat(momId: string, run: { jobId: string; runCount: number }): Promise<void>;
  getMomBeats(momIds: string[]): Promise<Map<string, MomBeat>>;
  /**
   * Record a node's MOM boot unless a later one is recorded: false when this one is older (a
   * replayed hello must not undo a newer MOM's adoption). The same boot again is accepted.
   */
  putMomBoot(node: string, momId: string, sentAt: number): Promise<boolean>;
  /**
   * Record the push connection a MOM holds (its gateway `$connect`: shared/ports/channel.ts),
   * with the reverse entry its `$disconnect` reads, unless a later connect of that MOM is
   * recorded: false then (a connect replayed or delivered late must not take a newer one's place).
   * The same connect again is accepted.
   */
  putMomConnection(c: MomConnection): Promise<boolean>;
  /** The connection a MOM holds, if any. */
  getMomConnection(momId: string): Promise<MomConnection | undefined>;
  /** Which MOM held `connectionId` (for `$disconnect`, which is told the connection only). */
  momOfConnection(connectionId: string): Promise<string | undefined>;
  /** Forget the MOM's connection if it is still `connectionId` (a newer one stays), and its reverse entry. */
  dropMomConnection(momId: string, connectionId: string): Promise<void>;
}

/** Jobs moving between sites, and what this site knows of its peers. */
export interface TransferStore {
  /** Jobs with a transfer step outstanding (in transit, or an end not yet acknowledged). */
  queryTransfers(): Promise<JobRecord[]>;
  getTransfer(transferId: string): Promise<TransferRecord | undefined>;
  /** A received job with its transfer record; ConflictError when the transfer is already known. */
  createInbound(job: JobRecord, transferId: string): Promise<void>;
  /**
   * Tombstone a received transfer, dropping the job it made if that job is still in transit at
   * the ver read; ConflictError if the job changed (or, with no job, the transfer is known).
   */
  abortInbound(transferId: string, job?: JobRecord): Promise<void>;
  putPeerSeen(p: PeerSeen): Promise<void>;
  getPeersSeen(): Promise<PeerSeen[]>;
  /**
   * Take a peer message once: ConflictError when a live claim of (peer, id) by another delivery
   * exists. `now` decides what is live (expired claims may be taken again).
   */
  claimPeerMessage(c: PeerMessageClaim, now: number): Promise<void>;
}

/** Projects (allocations and usage), accounting records and the audit trail. */
export interface Ledger {
  getProject(account: string): Promise<ProjectRecord | undefined>;
  listProjects(): Promise<ProjectRecord[]>;
  /** Set (core-hours) or clear (undefined) an allocation; usage counters are kept. */
  setAllocation(account: string, coreHours: number | undefined): Promise<void>;
  /** Add usage outside a job's own transaction. */
  chargeUsage(charge: UsageCharge): Promise<void>;
  putAcct(rec: AcctRecord): Promise<void>;
  /**
   * Several records, each as putAcct would (unconditional: a record's key is its time, job and
   * type, so a put repeated rewrites the same record), in as few requests as the store allows.
   * Result i is record i's error, or undefined when it landed; never throws.
   */
  putAccts(recs: AcctRecord[]): Promise<(Error | undefined)[]>;
  /**
   * Job ends' accounting records and project charges, outside the jobs' own writes (a
   * transactional item costs twice, job-end.ts settleEnd): each record lands with its charge, and
   * only if no record is stored under its key (time, job ID, type) yet. Result i is false when
   * one was (a redelivered end settles nothing twice); other failures throw.
   */
  settleEnds(ends: SettleEnd[]): Promise<boolean[]>;
  /** Put each of `recs` that is not stored yet (by key); stored ones are left as they are. */
  ensureAcct(recs: AcctRecord[]): Promise<void>;
  /** Accounting records of a UTC day (YYYY-MM-DD, as keys.acct writes it), in time order. */
  listAcct(day: string): Promise<AcctRecord[]>;
  /** An audit line, in the day's trail and, for a job, next to the job. */
  putAudit(rec: AuditRecord): Promise<void>;
  listAudit(day: string): Promise<AuditRecord[]>;
  /** The audit lines about one job, oldest first. */
  jobAudit(key: string): Promise<AuditRecord[]>;
}

/** Everything one site stores. */
export interface SiteStore extends JobStore, ServerObjectStore, MomStore, TransferStore, Ledger {}
