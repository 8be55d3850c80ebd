/**
 * One MOM's brain: runs the jobs dispatched to it, kills them on request, reports each
 * finished run (obituary, retried until delivered) and beats a heartbeat listing what runs.
 * I/O is injected through the reporter, so a child-process MOM and an ECS task share it.
 */
import { MetaqueueError } from "../errors.js";
import type { JobRunSpec, KillReason, Obituary } from "../ports.js";
import { type RunningJob, startJob } from "./run-job.js";

export interface MomHeartbeat {
  momId: string;
  jobs: { jobId: string; runCount: number }[];
  /** epoch ms */
  at: number;
}

export interface MomReporter {
  obituary(o: Obituary): Promise<void>;
  heartbeat(h: MomHeartbeat): Promise<void>;
}

export interface MomOptions {
  momId: string;
  reporter: MomReporter;
  tmpRoot: string;
  /** default 10000 */
  heartbeatEveryMs?: number;
  /** epoch ms */
  clock?: () => number;
  /** /proc sampling period passed to startJob; default 1000 */
  sampleEveryMs?: number;
  /** run each job as its owner's OS account when this MOM runs as root (the local MOM) */
  runAsOwner?: boolean;
  /** how many finished runs to remember, to ignore late duplicate dispatches; default 1000 */
  rememberFinished?: number;
}

const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 5000;
/** at shutdown, one last try to deliver obituaries still pending gets this long */
const FINAL_FLUSH_MS = 2000;

const keyOf = (jobId: string, runCount: number) => `${runCount}\u0000${jobId}`;

interface Pending {
  obit: Obituary;
  timer?: NodeJS.Timeout;
}

export class Mom {
  readonly momId: string;
  private readonly reporter: MomReporter;
  private readonly tmpRoot: string;
  private readonly runAsOwner: boolean;
  private readonly heartbeatEveryMs: number;
  private readonly clock: () => number;
  private readonly sampleEveryMs?: number;
  private readonly rememberFinished: number;

  private readonly jobs = new Map<string, { jobId: string; runCount: number; job: RunningJob }>();
  private readonly finished = new Set<string>();
  private readonly pending = new Map<string, Pending>();
  private heartbeatTimer?: NodeJS.Timeout;
  private stopping = false;

  constructor(opts: MomOptions) {
    this.momId = opts.momId;
    this.reporter = opts.reporter;
    this.tmpRoot = opts.tmpRoot;
    this.runAsOwner = opts.runAsOwner === true;
    this.heartbeatEveryMs = opts.heartbeatEveryMs ?? 10_000;
    this.clock = opts.clock ?? Date.now;
    this.sampleEveryMs = opts.sampleEveryMs;
    this.rememberFinished = opts.rememberFinished ?? 1000;
  }

  /**
   * Start a run. A duplicate dispatch of a run that is running, or finished recently, is
   * ignored. Throws MetaqueueError when the spec is for another MOM or this one is stopping.
   */
  run(spec: JobRunSpec): void {
    if (spec.momId !== this.momId) {
      throw new MetaqueueError(
        "WrongMom",
        `job ${spec.jobId} is for MOM ${spec.momId}, not ${this.momId}`,
        409,
      );
    }
    if (this.stopping) {
      throw new MetaqueueError("MomShuttingDown", `MOM ${this.momId} is shutting down`, 503);
    }
    const key = keyOf(spec.jobId, spec.runCount);
    if (this.jobs.has(key) || this.finished.has(key) || this.pending.has(key)) return;
    const job = startJob(spec, {
      tmpRoot: this.tmpRoot,
      clock: this.clock,
      sampleEveryMs: this.sampleEveryMs,
      runAsOwner: this.runAsOwner,
    });
    this.jobs.set(key, { jobId: spec.jobId, runCount: spec.runCount, job });
    void job.result.then((r) => {
      this.jobs.delete(key);
      this.remember(key);
      // jobs ended by shutdown are requeued by the server when it sees this MOM gone
      if (this.stopping) return;
      this.pending.set(key, { obit: { type: "obit", momId: this.momId, ...r } });
      void this.send(key, BACKOFF_FIRST_MS);
    });
  }

  /** Kill a running run; false if it is not running here. */
  kill(jobId: string, runCount: number, reason: KillReason): boolean {
    const entry = this.jobs.get(keyOf(jobId, runCount));
    if (!entry) return false;
    entry.job.kill(reason);
    return true;
  }

  running(): { jobId: string; runCount: number }[] {
    return [...this.jobs.values()].map(({ jobId, runCount }) => ({ jobId, runCount }));
  }

  /** Start heartbeats; the first one goes out now. */
  start(): void {
    if (this.heartbeatTimer || this.stopping) return;
    this.beat();
    this.heartbeatTimer = setInterval(() => this.beat(), this.heartbeatEveryMs);
  }

  /**
   * Kill every job (TERM, KILL at most 1 s later) without reporting them, stop heartbeats
   * and obituary retries (after one last bounded attempt to deliver the pending ones).
   */
  async shutdown(): Promise<void> {
    this.stopping = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    this.heartbeatTimer = undefined;
    const results = [...this.jobs.values()].map(({ job }) => {
      job.kill("shutdown");
      return job.result;
    });
    await Promise.all(results);
    const last = [...this.pending.entries()].map(([key, p]) => {
      if (p.timer) clearTimeout(p.timer);
      this.pending.delete(key);
      return Promise.resolve()
        .then(() => this.reporter.obituary(p.obit))
        .catch(() => {});
    });
    if (last.length > 0) {
      await Promise.race([Promise.all(last), new Promise((r) => setTimeout(r, FINAL_FLUSH_MS).unref())]);
    }
  }

  private beat(): void {
    const h: MomHeartbeat = { momId: this.momId, jobs: this.running(), at: this.clock() };
    try {
      void this.reporter.heartbeat(h).catch(() => {
        // the next beat will do
      });
    } catch {
      // the next beat will do
    }
  }

  private async send(key: string, backoffMs: number): Promise<void> {
    const p = this.pending.get(key);
    if (!p || this.stopping) return;
    p.timer = undefined;
    try {
      await this.reporter.obituary(p.obit);
      if (this.pending.get(key) === p) this.pending.delete(key);
    } catch {
      if (this.stopping || this.pending.get(key) !== p) return;
      p.timer = setTimeout(() => void this.send(key, Math.min(backoffMs * 2, BACKOFF_MAX_MS)), backoffMs);
    }
  }

  private remember(key: string): void {
    this.finished.delete(key);
    this.finished.add(key);
    while (this.finished.size > this.rememberFinished) {
      const oldest = this.finished.values().next().value as string;
      this.finished.delete(oldest);
    }
  }
}
