/** Port: where jobs run (child-process MOMs locally, ECS tasks on AWS) and what a MOM reports back. */
/** Everything a MOM needs to run one job; built by the server (pure) and sent to the executor. */
export interface JobRunSpec {
  jobId: string;
  /** sequence number as text, used in output file names (`name.o<seq>`), with `[idx]` stripped for subjobs? no: PBS uses `name.o<seq>.<idx>` for subjobs */
  seq: string;
  /** run attempt; the obituary echoes it so a stale report of an earlier run is ignored */
  runCount: number;
  name: string;
  queue: string;
  owner: string;
  /** PBS user name of the owner: a root MOM runs the job as this OS user */
  user?: string;
  /** script text */
  script: string;
  /** PBS_O_WORKDIR; the job runs there */
  workdir: string;
  /** Variable_List plus PBS_* variables the server sets */
  env: Record<string, string>;
  /** seconds; undefined = no limit */
  walltime?: number;
  /** seconds between SIGTERM and SIGKILL when killing (PBS kill_delay) */
  killDelay: number;
  /** absolute path for stdout */
  stdoutPath: string;
  /** absolute path for stderr; null when joined into stdout (-j oe) */
  stderrPath: string | null;
  /** when -j eo: stdout goes to stderrPath and stdoutPath is null */
  joinEo?: boolean;
  /** PBS_NODEFILE lines (one per MPI rank) */
  nodefile: string[];
  /** ncpus of the first chunk (the mother superior's share) */
  ncpus: number;
  /**
   * NCPUS and OMP_NUM_THREADS: the first chunk's `ompthreads`, else its ncpus; absent (a spec
   * from before it existed) = `ncpus`
   */
  threads?: number;
  /** memory of the first chunk (mother superior), bytes; 0 = not requested */
  mem?: number;
  /** GPUs of the first chunk */
  ngpus?: number;
  arrayIndex?: string;
  /** -S Shell_Path_List as written (`path[@host],...`): the MOM picks its host's entry */
  shellPaths?: string;
  /** -W umask; absent = PBS's default 077 */
  umask?: number;
  /**
   * where and how the job starts: `home-login` (PBS: the owner's home directory, the top shell
   * as a login shell, so profiles and `module` work) or `workdir` (PBS_O_WORKDIR, no login
   * shell); absent = home-login
   */
  start?: "home-login" | "workdir";
  /**
   * `-W stagein` / `-W stageout` lists as the user wrote them (shared/pbs/stage.ts): the MOM
   * copies the first before the job starts and the second after it ends, as the job's user
   */
  stagein?: string;
  stageout?: string;
  /**
   * qsub -I: start the top shell on a session the submitter attaches to (shared/exec/session.ts)
   * instead of running the script; only the holder of the secret whose SHA-256 is `keyHash` may
   */
  interactive?: { keyHash: string };
  /** the MOM that must run it (node name locally, task id on ECS) */
  momId: string;
  /**
   * the right to upload this run's output (AWS: presigned PUT URLs for its stdout/stderr,
   * snapshot and end), added by the executor at dispatch; the MOM keeps it from the job
   */
  outputGrant?: import("./output.js").OutputGrant;
  /** first node of exec_host */
  execHost: string;
}

/**
 * Why an executor could not start a run, as the scheduler acts on it: `never` (the run cannot
 * start as asked: an invalid request, a size the executor cannot give) holds the job with the
 * reason; `later` (no capacity, throttled, the service failing) puts it back with a not-before
 * time that grows with each failure. Any other error requeues the job at once.
 */
export class DispatchError extends Error {
  constructor(
    message: string,
    readonly retry: "never" | "later",
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

export type KillReason = "qdel" | "walltime" | "shutdown" | "rerun";

/**
 * Why a MOM refused a run it was pushed (it never started it): its node has no account for
 * the job's user, the MOM is closing (power-off, shutdown), or the spec is one it cannot run
 * (malformed, its directories cannot be made). PBS's MOM answers these with JOB_EXEC_RETRY or
 * JOB_EXEC_FAILUID and the server requeues the job (shared/server/job-end.ts).
 */
export type RunRefusal = "user" | "closing" | "spec";

/** Where jobs run: child-process MOMs locally, ECS tasks on AWS. */
export interface Executor {
  /**
   * Why this executor's MOMs cannot carry out `-W stagein/stageout` (they do not share the
   * submit host's file systems); absent = they can, as a local child-process MOM does.
   */
  readonly refusesStaging?: string;
  /**
   * Whether each run has a MOM of its own (an ECS task), whose heartbeat item is then dropped
   * with the run's obituary. Absent: a node's MOM outlives its runs and keeps beating, and its
   * one item is just replaced by the next beat (no delete per job).
   */
  readonly momPerRun?: boolean;
  /**
   * Which MOM will run a job: the node's MOM locally, a per-run task on ECS, the MOM of a pool
   * node's current power-on (`poweredOnAt`, the node's `power_on_at`) for an ECS pool node.
   */
  momIdFor(execHost: string, jobKey: string, runCount: number, poweredOnAt?: number): string;
  /** Start the job. Resolves once the MOM has it; rejects if it cannot be started. */
  dispatch(spec: JobRunSpec): Promise<void>;
  /** Ask the MOM to kill a running job; the obituary follows through the events queue. */
  kill(job: { jobId: string; momId: string; runCount: number }, reason: KillReason): Promise<void>;
  /**
   * Stop what may still run of a run whose MOM the server declared lost, before the job is
   * requeued or ended (issue 12): a MOM that only went silent (a network partition, a hung task)
   * may still run it, and the requeued run must not run beside it. Resolves once the stop is
   * asked for, or nothing is left to stop; rejects when that is not known, and the sweeper then
   * leaves the job as it is until its next pass. Absent: this executor's MOMs cannot outlive
   * their silence unseen (locally, a node's next MOM adopts or reports what the last one ran).
   */
  stopLost?(job: { jobId: string; momId: string; runCount: number }, why: string): Promise<void>;
  /**
   * qsig: deliver `signal` (a Node signal name, "SIGUSR1") to the job's processes. Rejects with
   * a typed error when the MOM does not run the job or the executor cannot signal.
   */
  signal(job: { jobId: string; momId: string; runCount: number }, signal: NodeJS.Signals): Promise<void>;
  /**
   * Where the MOM of a running interactive job (qsub -I) listens for its submitter (`unix:<path>`).
   * Absent: this executor's MOMs cannot reach a submitter's terminal (ECS tasks), and the server
   * refuses `-I` at submit.
   */
  sessionAddress?(job: { jobId: string; momId: string; runCount: number }): string;
  /**
   * Power a pool node on (issue 12): start its MOM. Resolves once the start is under way; the
   * node is up when its MOM's hello arrives (shared/server/node-power.ts), and goes back to
   * sleep if that takes longer than its pool's boot timeout. `at` is the node's power-on time
   * (its `power_on_at`): the same power-on retried passes the same `at`, and starts one MOM.
   * A DispatchError says whether trying again later may help. Absent: no node is powered on
   * or off.
   */
  powerOn?(node: string, at?: number): Promise<void>;
  /**
   * Power a node off: stop its MOM, only when it runs nothing (rejects otherwise, and the node
   * stays up). Resolves at once when the node has no MOM.
   */
  powerOff?(node: string): Promise<void>;
}

/** Usage of one finished job, as PBS reports it. */
export interface ResourcesUsed {
  /** seconds */
  walltime: number;
  /** seconds of CPU time (user + system) of the whole process tree */
  cput: number;
  /** bytes, peak resident memory observed */
  mem: number;
  ncpus: number;
}

/** What a MOM reports when a job ends (the obituary). */
export interface Obituary {
  type: "obit";
  jobId: string;
  runCount: number;
  momId: string;
  /** PBS Exit_status: the script's code; 256+N if killed by signal N; -29 walltime exceeded */
  exitStatus: number;
  startedAt: number;
  endedAt: number;
  resourcesUsed: ResourcesUsed;
  /** why it ended, when not on its own ("job killed: walltime 12 exceeded limit 10") */
  comment?: string;
  /** the kill reason, if the MOM killed it */
  killedFor?: KillReason;
  /**
   * The MOM refused the run and never started it (the comment says why): the server requeues
   * the job once per refusal, and holds it after too many (settings.maxRunRefusals).
   */
  refused?: RunRefusal;
  /**
   * Where each stream was written: the path asked for, or the MOM's `undelivered/` copy when
   * that path could not be used; absent for a stream discarded (`/dev/null`, or nowhere to
   * keep it). The API reads output from here only, never from a path a user merely asked for.
   */
  delivered?: Delivered;
  /**
   * The job never started because a `-W stagein` copy failed (the comment says which): the
   * server holds it, as PBS does (substate STAGEFAIL, hold s), instead of ending it.
   */
  stageinFailed?: boolean;
}

/** Final paths of a run's stdout (`o`) and stderr (`e`); a joined stream names the shared file. */
export interface Delivered {
  o?: string;
  e?: string;
}
