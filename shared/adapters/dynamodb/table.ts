/**
 * The site table, defined once: the local runtime creates it from `siteTableDefinition`, the CDK
 * stack builds its `TableV2` from the same object (a test checks they agree).
 *
 * One table per site (single-table design) so that a job, its dependency edges and its
 * accounting record can change in one TransactWriteItems.
 *
 *   pk            sk              what
 *   JOB#<seq>     A               the job
 *   JOB#<seq>     D#<childId>     "childId depends on this job" (a dependency edge)
 *   SRV           SERVER|Q#..|N#..|S#..|SEQ   server objects and the job counter (one Query reads them)
 *   SRV           INTAKE                      whether the site's intake runs (server/dormancy.ts)
 *   MOM#<momId>   B               a MOM's last heartbeat (expires by TTL; dropped on its last obituary)
 *   BOOT#<node>   B               a node's last accepted MOM boot
 *   ACCT#<day>    <ts>#<jobId>#<T> accounting records, one an item, or packed under the first's
 *                 key + `#pack` (records written together: acct-packs.ts)
 *   XFER#<id>     X               a transfer received from a peer (job created, or aborted)
 *   PROJ          <account>       allocation and usage by site of a project
 *   PEER          <short>         a peer's last heartbeat and federation state
 *   PMSG#<peer>#<id>  M          a peer message taken (replay guard; expires by TTL)
 *   AUDIT#<day>   <ts>#<rand>     audit trail: privileged actions and refusals (who, what, when)
 *   JOB#<seq>     L#<ts>#<rand>   the same audit line for the job it was about (tracejob)
 *
 * Sparse indexes, each present only while it matters, so no query ever walks past jobs it
 * does not want:
 *   ready (rdy, rdySk)  queued jobs that may run now, per queue and shard, in priority order:
 *                       the scheduler reads the top N; held/waiting/running jobs are not in it.
 *   run   (run, runSk)  jobs holding resources (R, E), per partition: the scheduler's
 *                       allocations and the sweeper's watch list; and, under "~transfer",
 *                       jobs with a peer-transfer step outstanding (the transfer outbox).
 *   list  (lst, lstSk)  every job by queue, active (A#queue) or finished (F#queue): qstat,
 *                       qselect, the dashboard. Its projection is small and holds nothing that
 *                       changes at every write (no `ver`, no comment, no trace): a job's entry
 *                       is rewritten when its state changes, not at each of its writes, and
 *                       costs one write unit. Readers that show more than it holds read the
 *                       rows they show from the table (a page at a time, job-indexes.ts).
 *   wait  (wt, wtSk)    jobs that wait on other jobs: on unfinished dependencies (depPending),
 *                       or array jobs under way (B) on their subjobs. The repair sweep reads
 *                       it to finish what a crash left half-done (shared/server/repair.ts).
 *                       Deferred jobs (W, qsub -a) wait on the clock here too: the sweeper
 *                       queues them when their Execution_Time comes (shared/server/deferred.ts).
 *                       A job enters it at most once and leaves it once (2 index writes per
 *                       dependent or array job, none for the others): its projection holds
 *                       only what does not change while a job waits, so the writes of an
 *                       array's subjobs and a held job's comments do not reach it.
 */
import type { CreateTableCommandInput } from "@aws-sdk/client-dynamodb";

export const READY_INDEX = "ready";
export const RUN_INDEX = "run";
export const LIST_INDEX = "list";
export const WAIT_INDEX = "wait";

/**
 * Ready jobs of one queue are spread over this many index partitions (by seq), so one busy queue
 * is not one hot key on AWS; the scheduler queries every shard and merges (sort keys compare
 * across shards). 4 keeps a cycle at 4 small queries per queue.
 */
export const READY_SHARDS = 4;

export interface IndexDefinition {
  name: string;
  pk: string;
  sk: string;
  /** attributes projected besides the keys; "ALL" projects the whole item */
  projection: "ALL" | string[];
}

export interface TableDefinition {
  pk: string;
  sk: string;
  indexes: IndexDefinition[];
  /** the TTL attribute (epoch seconds): DynamoDB deletes items some time after it passes */
  ttl?: string;
}

/** Attributes the scheduler reads from the ready index. */
const READY_ATTRS = [
  "id",
  "key",
  "array",
  "partition",
  "ver",
  "queue",
  "owner",
  "priority",
  "qtime",
  // when the job last became eligible (submit, release, back from a peer): a cycle's BACKLOG
  // tells the peers of jobs that came since the last one (shared/peers/offers.ts sendBacklog)
  "etime",
  // qorder's place in the queue (absent: qtime)
  "qrank",
  "seq",
  "sel",
  // Resource_List: the scheduler reads `place` from it
  "rl",
  "walltime",
  "state",
  "refusedBy",
  // -a: the planner never starts a job before its Execution_Time
  "execAt",
  // a dispatch refused for capacity backs the job off until then
  "notBefore",
];
/** Attributes the scheduler and sweeper read from the run index. */
const RUN_ATTRS = [
  "id",
  "key",
  "parentKey",
  "arrayIndex",
  "ver",
  "queue",
  "owner",
  "alloc",
  "stime",
  "walltime",
  "momId",
  "runCount",
  "state",
  "partition",
  "delReq",
  "rerunReq",
  "xfer",
  "inbound",
  "seq",
  "mtime",
  // resources_used so far: the sweeper compares the MOM's figures with it before any write
  "used",
];

/**
 * Attributes the list index holds (ListedJob, shared/server/records.ts): what qstat's counts
 * (state_count), the idle check, the stats sample and the dashboard's filters (user, project,
 * state) read. Every one is small and changes only with the job's state, its queue or its
 * owner: the entry of a job is not rewritten by writes that change none of them (DynamoDB writes
 * an index only when a projected attribute or a key changes).
 */
export const LIST_ATTRS = [
  "id",
  "key",
  "seq",
  "queue",
  "state",
  "user",
  "project",
  "parentKey",
  "arrayIndex",
  // a job received from a peer: the stats sample counts it by origin
  "inbound",
  // set once, when the job finishes: listings leave out what is past its history (history.ts)
  "expiresAt",
];

/**
 * Attributes the repair sweep reads from the wait index. `depPending` changes only when a
 * parent releases the job, which is a change the sweep must see anyway.
 */
const WAIT_ATTRS = ["id", "key", "seq", "state", "depPending", "depend", "execAt"];

export const siteTableDefinition: TableDefinition = {
  pk: "pk",
  sk: "sk",
  indexes: [
    { name: READY_INDEX, pk: "rdy", sk: "rdySk", projection: READY_ATTRS },
    { name: RUN_INDEX, pk: "run", sk: "runSk", projection: RUN_ATTRS },
    { name: LIST_INDEX, pk: "lst", sk: "lstSk", projection: LIST_ATTRS },
    { name: WAIT_INDEX, pk: "wt", sk: "wtSk", projection: WAIT_ATTRS },
  ],
  // Readers never rely on the deletion (it lags by up to days): they compare expiresAt themselves.
  ttl: "expiresAt",
};

export function tableName(prefix: string, site: string): string {
  return `${prefix}${site}`;
}

/** CreateTable input for DynamoDB Local (on AWS the CDK construct builds the same shape). */
export function createTableInput(
  name: string,
  def: TableDefinition = siteTableDefinition,
): CreateTableCommandInput {
  const attrs = new Set<string>([def.pk, def.sk]);
  for (const i of def.indexes) {
    attrs.add(i.pk);
    attrs.add(i.sk);
  }
  return {
    TableName: name,
    BillingMode: "PAY_PER_REQUEST",
    AttributeDefinitions: [...attrs].map((a) => ({ AttributeName: a, AttributeType: "S" })),
    KeySchema: [
      { AttributeName: def.pk, KeyType: "HASH" },
      { AttributeName: def.sk, KeyType: "RANGE" },
    ],
    GlobalSecondaryIndexes: def.indexes.map((i) => ({
      IndexName: i.name,
      KeySchema: [
        { AttributeName: i.pk, KeyType: "HASH" },
        { AttributeName: i.sk, KeyType: "RANGE" },
      ],
      Projection:
        i.projection === "ALL"
          ? { ProjectionType: "ALL" }
          : { ProjectionType: "INCLUDE", NonKeyAttributes: i.projection },
    })),
  };
}

/** A heartbeat item outlives its beat this long (s) before the TTL may delete it. */
export const MOM_BEAT_KEEP_S = 6 * 3600;

/** Epoch seconds after which a beat sent at `at` (ms) may be deleted. */
export const beatExpiresAt = (at: number) => Math.floor(at / 1000) + MOM_BEAT_KEEP_S;

/**
 * A MOM's connection record may be deleted a day after its connect: API Gateway closes a
 * WebSocket after 2 h at most, and the MOM's reconnect writes a new record.
 */
export const connExpiresAt = (at: number) => Math.floor(at / 1000) + 24 * 3600;

// ---- key builders (pure) ----

const pad = (n: number, w: number) => String(Math.max(0, Math.floor(n))).padStart(w, "0");

export const keys = {
  /** `key` is the job's sequence text: "123", or "123[4]" for a subjob */
  job: (key: string) => ({ pk: `JOB#${key}`, sk: "A" }),
  edge: (parentKey: string, childId: string) => ({ pk: `JOB#${parentKey}`, sk: `D#${childId}` }),
  server: () => ({ pk: "SRV", sk: "SERVER" }),
  queue: (name: string) => ({ pk: "SRV", sk: `Q#${name}` }),
  node: (name: string) => ({ pk: "SRV", sk: `N#${name}` }),
  sched: (name: string) => ({ pk: "SRV", sk: `S#${name}` }),
  /** any server object by its kind (qmgr's server, queue, node, sched) */
  object: (kind: "server" | "queue" | "node" | "sched", name: string) =>
    kind === "server" ? keys.server() : keys[kind](name),
  seq: () => ({ pk: "SRV", sk: "SEQ" }),
  intake: () => ({ pk: "SRV", sk: "INTAKE" }),
  /**
   * a MOM's heartbeat: its own partition, not SRV, so the server objects' Query never walks
   * past one item per run ever made (ECS MOMs are one per run); read by key only
   */
  mom: (momId: string) => ({ pk: `MOM#${momId}`, sk: "B" }),
  /** a node's last accepted MOM boot (apart from heartbeats: MOM tasks may write those only) */
  momBoot: (node: string) => ({ pk: `BOOT#${node}`, sk: "B" }),
  /** the push connection a MOM holds (shared/ports/channel.ts): beside its heartbeat */
  momConn: (momId: string) => ({ pk: `MOM#${momId}`, sk: "C" }),
  /** which MOM holds a connection: `$disconnect` is told the connection only */
  connMom: (connectionId: string) => ({ pk: `CONN#${connectionId}`, sk: "C" }),
  acct: (t: number, jobId: string, type: string) => ({
    pk: `ACCT#${new Date(t).toISOString().slice(0, 10)}`,
    sk: `${new Date(t).toISOString()}#${jobId}#${type}`,
  }),
  /** a transfer received from a peer: which job it made, or that it was aborted (a tombstone) */
  xfer: (transferId: string) => ({ pk: `XFER#${transferId}`, sk: "X" }),
  /** a project (account): allocation granted and usage by site */
  project: (account: string) => ({ pk: "PROJ", sk: account }),
  /** what this site last heard from a peer */
  peer: (short: string) => ({ pk: "PEER", sk: short }),
  /** a message taken from a peer (its signed ID): one key each, so no hot partition */
  peerMessage: (peer: string, id: string) => ({ pk: `PMSG#${peer}#${id}`, sk: "M" }),
  audit: (t: number, id: string) => ({
    pk: `AUDIT#${new Date(t).toISOString().slice(0, 10)}`,
    sk: `${new Date(t).toISOString()}#${id}`,
  }),
  jobAudit: (key: string, t: number, id: string) => ({
    pk: `JOB#${key}`,
    sk: `L#${new Date(t).toISOString()}#${id}`,
  }),
  /** ready-index key: queue and shard */
  ready: (queue: string, seq: number) => `${queue}#${seq % READY_SHARDS}`,
  readyShards: (queue: string) => Array.from({ length: READY_SHARDS }, (_, i) => `${queue}#${i}`),
  /** ready-index sort key: higher job priority first, then earlier qtime, then lower seq */
  readySort: (priority: number, qtime: number, seq: number) =>
    `${pad(1023 - priority, 4)}#${pad(qtime, 15)}#${pad(seq, 12)}`,
  run: (partition: string) => partition,
  runSort: (seq: number) => pad(seq, 12),
  list: (queue: string, finished: boolean) => `${finished ? "F" : "A"}#${queue}`,
  listSort: (seq: number) => pad(seq, 12),
  /**
   * wait-index key: one partition key for the site. It is written only when a job starts or
   * stops waiting on other jobs, far below what one index partition takes (1,000 writes/s).
   */
  wait: () => "W",
  waitSort: (seq: number) => pad(seq, 12),
};
