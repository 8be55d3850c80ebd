/**
 * The records a site keeps besides its jobs (shared/server/job.ts): server objects, MOM
 * heartbeats, dependency edges, transfers, peers, projects, accounting and audit. Domain types:
 * the store ports (shared/ports/store.ts) hold them and every adapter stores them as they are.
 */
import type { JobState } from "../pbs/types.js";
import type { JobRecord } from "./job.js";

export type AttrValue = string | number | boolean;

export interface ServerObject {
  kind: "server" | "queue" | "node" | "sched";
  name: string;
  attrs: Record<string, AttrValue>;
  ver: number;
}

/**
 * Whether the site's intake runs (shared/server/dormancy.ts): one item, changed only by
 * conditional writes on `ver`.
 * - awake: consuming;
 * - draining: no work seen since `since`; asleep once that has lasted SLEEP_AFTER_MS;
 * - asleep: the intake is paused (or being paused);
 * - waking: a producer is resuming it (a failed resume leaves it here, for the next to retry).
 */
export interface IntakeRecord {
  state: "awake" | "draining" | "asleep" | "waking";
  /** when the state was entered (epoch ms, the writer's clock) */
  since: number;
  ver: number;
}

export interface MomBeat {
  momId: string;
  /** the runs the MOM holds, with their usage so far (walltime and cput in s, mem in bytes) */
  jobs: { jobId: string; runCount: number; used?: { walltime: number; cput: number; mem: number } }[];
  at: number;
  /** the MOM's signature (shared/auth/mom-report.ts signBeat); the sweeper checks it */
  nonce?: string;
  sig?: string;
}

/**
 * A job as the list index projects it (JobStore.listJobs; LIST_ATTRS in
 * shared/adapters/dynamodb/table.ts): enough to count, filter and find it. Its full record is a
 * getJob (or a page of listJobPage) away.
 */
export type ListedJob = Pick<JobRecord, "id" | "key" | "seq" | "queue" | "state" | "user"> &
  Partial<Pick<JobRecord, "project" | "parentKey" | "arrayIndex" | "inbound" | "expiresAt">>;

/** A job as the wait index projects it (see shared/adapters/dynamodb/table.ts). */
export type WaitingJob = Pick<JobRecord, "id" | "key" | "seq" | "state" | "depPending" | "depend" | "execAt">;

export interface EdgeRecord {
  parentKey: string;
  childId: string;
  /** the child's site when it is at a peer (short name) */
  site?: string;
  /** the child's dependency type on the parent: after, afterok, afternotok, afterany */
  type: string;
}

/** Usage to add to a project's counters in the same transaction as the job's end. */
export interface UsageCharge {
  account: string;
  /** counter suffix: the executing site ("derecho"), or `for_<origin>` for work run for a peer */
  where: string;
  coreSeconds: number;
  walltime: number;
}

export interface ProjectRecord {
  account: string;
  /** core-hours granted at this site (undefined: no allocation, not enforced) */
  granted?: number;
  /** core-seconds and walltime seconds by counter (see UsageCharge.where) */
  coreSeconds: Record<string, number>;
  walltime: Record<string, number>;
}

export interface PeerSeen {
  short: string;
  state: string;
  at: number;
}

/** A peer message this site has taken (the replay guard's durable record). */
export interface PeerMessageClaim {
  peer: string;
  /** the message's signed ID */
  id: string;
  /** the queue's ID for this delivery (SQS MessageId): a redelivery of it may claim again */
  delivery: string;
  type: string;
  /** epoch ms after which the message is refused as stale anyway (the record may go then) */
  until: number;
}

/** A transfer this site received: the job it created, or a tombstone that forbids one. */
export interface TransferRecord {
  transferId: string;
  status: "created" | "aborted";
  key?: string;
  newId?: string;
}

export interface AcctRecord {
  time: number;
  jobId: string;
  /** PBS accounting record type: Q S E D R ... */
  type: string;
  data: Record<string, string | number>;
  /** epoch seconds: kept for SiteSettings.acctKeepDays (history.ts), the table's TTL */
  expiresAt?: number;
}

/** One line of the audit trail: a privileged action or a refusal. */
export interface AuditRecord {
  time: number;
  /** PBS user name of the requester ("-" when no identity could be established) */
  user: string;
  /** what was asked: qdel, qhold, qmgr, qsub, ... */
  action: string;
  /** the job ID, queue or qmgr command it was about */
  target: string;
  outcome: "allowed" | "refused";
  /** why it was allowed (manager, operator) or refused (the message sent back) */
  reason?: string;
  /** the job's key when the action was about a job of this site: tracejob shows it */
  jobKey?: string;
  /** epoch seconds: kept as long as job history (history.ts), the table's TTL */
  expiresAt?: number;
}

/** A page of jobs for the dashboard (JobStore.listJobPage). */
export interface JobPageQuery {
  queues: string[];
  /** include finished jobs (F, X, M) */
  history: boolean;
  limit: number;
  /**
   * newest first (the dashboard; the default), or oldest first (qstat's listing, which prints
   * page after page in PBS's order)
   */
  order?: "newest" | "oldest";
  /** newest first: return jobs with seq below this one */
  before?: number;
  /** oldest first: return jobs with seq above this one */
  after?: number;
  user?: string;
  states?: JobState[];
  project?: string;
}

export interface JobPage {
  /** full records (without the script), in the order asked */
  jobs: JobRecord[];
  /** pass as `before` (newest first) or `after` (oldest first) for the next page; absent on the last page */
  next?: number;
}

/** Job counts of one minute, for the dashboard's charts (shared/adapters/dynamodb/server-objects.ts). */
export interface StatSample {
  /** start of the minute, epoch ms */
  t: number;
  queued: number;
  running: number;
  held: number;
  /** active jobs here that came from another site, by origin site */
  movedIn: Record<string, number>;
  /** a queue held more than the count reads (shared/api/counts.ts): every count is a lower bound */
  capped?: boolean;
}
