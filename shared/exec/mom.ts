/**
 * One MOM's brain: runs the jobs dispatched to it, kills them on request, reports each
 * finished run (obituary, retried until delivered) and beats a heartbeat listing what runs.
 * I/O is injected through the reporter, so a child-process MOM and an ECS task share it.
 *
 * Ends are durable: each run has a directory under `<tmpRoot>/runs` (shared/exec/run-dir.ts)
 * and its obituary is written there before it is sent, so a finished job is never run again
 * because its report was lost with a crashed runtime. `recover()` (at start, before hello)
 * re-sends those, and adopts the runs an earlier MOM of this node left running.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { MetaqueueError } from "../errors.js";
import type { JobRunSpec, KillReason, Obituary } from "../ports/index.js";
import { adoptRun, scanRuns } from "./adopt.js";
import { runDirOf, runsRoot, writeAtomic, writeObit } from "./run-dir.js";
import { startInteractive } from "./interactive.js";
import type { JobResult, RunningJob } from "./run-job.js";
import { startStagedJob } from "./stage.js";

export interface MomHeartbeat {
  momId: string;
  jobs: BeatJob[];
  /** epoch ms */
  at: number;
}

/** A run a heartbeat lists, with what it has used so far (absent for an adopted run). */
export interface BeatJob {
  jobId: string;
  runCount: number;
  used?: { walltime: number; cput: number; mem: number };
}

export interface MomReporter {
  obituary(o: Obituary): Promise<void>;
  heartbeat(h: MomHeartbeat): Promise<void>;
  /**
   * Whether the server is done with a run (no longer running it): its delivered obituary may be
   * forgotten. Absent: forgotten keepSentMs after delivery.
   */
  settled?(jobId: string, runCount: number): Promise<boolean>;
}

/** Runs a starting MOM found on its node (its hello lists them). */
export interface MomRecovery {
  running: { jobId: string; runCount: number }[];
  ended: { jobId: string; runCount: number }[];
}

export interface MomOptions {
  momId: string;
  reporter: MomReporter;
  tmpRoot: string;
  /** default 10000 */
  heartbeatEveryMs?: number;
  /**
   * while the MOM runs no job, beat only this often (default: heartbeatEveryMs). A beat is how a
   * lost MOM is found, but the sweeper judges only MOMs with runs, and from the later of the last
   * beat and the run's start (shared/server/job-end.ts sweepRunning): a MOM with a run beats every
   * heartbeatEveryMs again from its first tick after the start.
   */
  idleHeartbeatEveryMs?: number;
  /** epoch ms */
  clock?: () => number;
  /** /proc sampling period passed to startJob; default 1000 */
  sampleEveryMs?: number;
  /** run each job as its owner's OS account when this MOM runs as root (the local MOM) */
  runAsOwner?: boolean;
  /** run every job as this account (the ECS MOM; StartJobOptions.jobUser) */
  jobUser?: string;
  /** how many finished runs to remember, to ignore late duplicate dispatches; default 1000 */
  rememberFinished?: number;
  /**
   * keep a delivered obituary on disk this long (and until the server settled the run), so one
   * lost with the SQS emulator's memory is sent again by the next MOM; default 300000
   */
  keepSentMs?: number;
}

const BACKOFF_FIRST_MS = 100;
const BACKOFF_MAX_MS = 5000;
/** at shutdown, one last try to deliver obituaries still pending gets this long */
const FINAL_FLUSH_MS = 2000;

const keyOf = (jobId: string, runCount: number) => `${runCount}\u0000${jobId}`;

interface Pending {
  obit: Obituary;
  dir: string;
  timer?: NodeJS.Timeout;
}

export class Mom {
  readonly momId: string;
  private readonly reporter: MomReporter;
  private readonly tmpRoot: string;
  private readonly runAsOwner: boolean;
  private readonly jobUser?: string;
  private readonly heartbeatEveryMs: number;
  private readonly idleHeartbeatEveryMs: number;
  /** clock() of the last beat sent */
  private lastBeatAt = Number.NEGATIVE_INFINITY;
  private readonly clock: () => number;
  private readonly sampleEveryMs?: number;
  private readonly rememberFinished: number;
  private readonly keepSentMs: number;
  private pruneTimer?: NodeJS.Timeout;

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
    this.jobUser = opts.jobUser;
    this.heartbeatEveryMs = opts.heartbeatEveryMs ?? 10_000;
    this.idleHeartbeatEveryMs = Math.max(this.heartbeatEveryMs, opts.idleHeartbeatEveryMs ?? 0);
    this.clock = opts.clock ?? Date.now;
    this.sampleEveryMs = opts.sampleEveryMs;
    this.rememberFinished = opts.rememberFinished ?? 1000;
    this.keepSentMs = opts.keepSentMs ?? 300_000;
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
    const opts = {
      tmpRoot: this.tmpRoot,
      momId: this.momId,
      clock: this.clock,
      sampleEveryMs: this.sampleEveryMs,
      runAsOwner: this.runAsOwner,
      jobUser: this.jobUser,
    };
    // qsub -I: the same runner, once the submitter has attached to the run's session
    const job = spec.interactive ? startInteractive(spec, opts) : startStagedJob(spec, opts);
    this.watch(spec.jobId, spec.runCount, job);
  }

  private watch(jobId: string, runCount: number, job: RunningJob): void {
    const key = keyOf(jobId, runCount);
    this.jobs.set(key, { jobId, runCount, job });
    void job.result.then((r) => {
      this.jobs.delete(key);
      this.remember(key);
      this.ended(key, runDirOf(this.tmpRoot, jobId, runCount), r);
    });
  }

  /** A run ended: make its end durable, then report it. */
  private ended(key: string, dir: string, r: JobResult): void {
    if (this.stopping) {
      // killed by a graceful stop: no end to report, the server requeues it when the next MOM
      // of this node says hello without it
      fs.rmSync(dir, { recursive: true, force: true });
      return;
    }
    // from this MOM, whoever started the run: the report is signed with this MOM's key
    const obit: Obituary = { ...r, type: "obit", momId: this.momId };
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
      writeObit(dir, obit);
    } catch {
      // the disk refused: still report it (only a crash before delivery would lose it now)
    }
    this.pending.set(key, { obit, dir });
    void this.send(key, BACKOFF_FIRST_MS);
  }

  /**
   * Before this MOM says hello: re-send every obituary an earlier MOM of this node left on
   * disk (delivered ones too: the emulator's copy may have died with the runtime), report the
   * runs that ended while no MOM watched, and adopt the runs still going.
   */
  recover(): MomRecovery {
    const out: MomRecovery = { running: [], ended: [] };
    for (const r of scanRuns(this.tmpRoot, this.clock())) {
      if (r.kind === "adopt") {
        const { jobId, runCount } = r.rec;
        this.watch(
          jobId,
          runCount,
          adoptRun(r.rec, r.dir, { clock: this.clock, pollMs: this.sampleEveryMs }),
        );
        out.running.push({ jobId, runCount });
        continue;
      }
      const { jobId, runCount } = r.obit;
      const key = keyOf(jobId, runCount);
      this.remember(key);
      this.ended(key, r.dir, r.obit);
      out.ended.push({ jobId, runCount });
    }
    return out;
  }

  /** Kill a running run; false if it is not running here. */
  kill(jobId: string, runCount: number, reason: KillReason): boolean {
    const entry = this.jobs.get(keyOf(jobId, runCount));
    if (!entry) return false;
    entry.job.kill(reason);
    return true;
  }

  /** qsig: signal a running run's processes; false if it is not running here. */
  signal(jobId: string, runCount: number, sig: NodeJS.Signals): boolean {
    const entry = this.jobs.get(keyOf(jobId, runCount));
    if (!entry) return false;
    entry.job.signal(sig);
    return true;
  }

  /** Whether the run ran here and ended: its obituary, sent or on its way, answers for it. */
  hasEnded(jobId: string, runCount: number): boolean {
    const key = keyOf(jobId, runCount);
    return this.finished.has(key) || this.pending.has(key);
  }

  running(): { jobId: string; runCount: number }[] {
    return [...this.jobs.values()].map(({ jobId, runCount }) => ({ jobId, runCount }));
  }

  /** Start heartbeats (the first one goes out now) and the pruning of delivered obituaries. */
  start(): void {
    if (this.heartbeatTimer || this.stopping) return;
    this.beat();
    this.heartbeatTimer = setInterval(() => this.beat(true), this.heartbeatEveryMs);
    const every = Math.max(1000, Math.min(60_000, this.keepSentMs / 2));
    this.pruneTimer = setInterval(() => void this.prune(), every);
    this.pruneTimer.unref();
  }

  /** Forget delivered obituaries older than keepSentMs whose runs the server has settled. */
  async prune(): Promise<void> {
    const root = runsRoot(this.tmpRoot);
    let names: string[] = [];
    try {
      names = fs.readdirSync(root);
    } catch {
      return;
    }
    const now = this.clock();
    for (const name of names) {
      const dir = path.join(root, name);
      try {
        const sentAt = Number(fs.readFileSync(path.join(dir, "sent"), "utf8"));
        if (!(now - sentAt > this.keepSentMs)) continue;
        const o = JSON.parse(fs.readFileSync(path.join(dir, "obit.json"), "utf8")) as Obituary;
        if (this.reporter.settled && !(await this.reporter.settled(o.jobId, o.runCount))) continue;
        fs.rmSync(dir, { recursive: true, force: true });
      } catch {
        // not delivered yet, or being written: next time
      }
    }
  }

  /**
   * Kill every job (TERM, KILL at most 1 s later) without reporting them, stop heartbeats
   * and obituary retries (after one last bounded attempt to deliver the pending ones).
   */
  async shutdown(): Promise<void> {
    this.stopping = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.pruneTimer) clearInterval(this.pruneTimer);
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
        .then(() => this.delivered(p))
        .catch(() => {});
    });
    if (last.length > 0) {
      await Promise.race([Promise.all(last), new Promise((r) => setTimeout(r, FINAL_FLUSH_MS).unref())]);
    }
  }

  /** `timed`: from the heartbeat timer, which an idle MOM lets pass until idleHeartbeatEveryMs */
  private beat(timed = false): void {
    // less 1 s: the timer's ticks drift by a few ms
    if (timed && this.jobs.size === 0 && this.clock() - this.lastBeatAt < this.idleHeartbeatEveryMs - 1_000)
      return;
    this.lastBeatAt = this.clock();
    // each run's usage so far: the sweeper copies it into resources_used (shared/server/job-end.ts)
    const jobs = [...this.jobs.values()].map(({ jobId, runCount, job }): BeatJob => {
      const used = job.usage?.();
      return used ? { jobId, runCount, used } : { jobId, runCount };
    });
    const h: MomHeartbeat = { momId: this.momId, jobs, at: this.clock() };
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
      this.delivered(p);
    } catch {
      if (this.stopping || this.pending.get(key) !== p) return;
      p.timer = setTimeout(() => void this.send(key, Math.min(backoffMs * 2, BACKOFF_MAX_MS)), backoffMs);
    }
  }

  /** Mark an obituary delivered; prune() forgets it later (never at once: see keepSentMs). */
  private delivered(p: Pending): void {
    try {
      if (fs.existsSync(p.dir)) writeAtomic(path.join(p.dir, "sent"), String(this.clock()));
    } catch {
      // kept unmarked: sent again by the next MOM, which is harmless
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
