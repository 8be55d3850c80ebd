/**
 * Runs one job the way a PBS MOM does: private job directory (TMPDIR, PBS_NODEFILE), a clean
 * environment made of the job's Variable_List plus the PBS variables, output written straight
 * to the job's files, walltime enforcement, kill with TERM → kill_delay → KILL on the whole
 * process group, and resources_used (walltime, cput, mem) measured from /proc.
 *
 * The script runs under a tiny bash launcher (the leader of the job's process group) that
 * reports, on fd 3, the script's raw status, the last signal the group received and the
 * `times` builtin output, which gives the exact CPU time of every waited-for descendant.
 * fd 3 is the run's `status` file (shared/exec/run-dir.ts), not a pipe: the launcher writes
 * it even when no MOM is alive, so a MOM restarted after a crash learns how the run ended.
 *
 * Nothing here throws for a job-level problem: every failure becomes a JobResult with a
 * comment.
 */
import { type ChildProcess, spawn } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { asUser, lookupOsUser, type OsUser } from "../auth/os-user.js";
import { DEFAULT_UMASK } from "../pbs/job-start.js";
import type { JobRunSpec, KillReason, Obituary } from "../ports/index.js";
import { type Outputs, openOutputs, safeName } from "./outputs.js";
import { closeAll, groupAnswers, groupExists, killGroup, sampleProcessGroup } from "./process-group.js";

// moved to os-user.ts (outputs.ts needs it too); still exported from here
export { asUser };
import { procStart, type RunRecord, runDirOf, writeRunRecord } from "./run-dir.js";
import { type AcceptedSession, attachSession, sessionCommand } from "./session.js";
import { topShell, umaskText } from "./top-shell.js";

export type JobResult = Omit<Obituary, "type" | "momId">;

export interface RunningJob {
  /** pid of the job's process-group leader (the launcher); 0 when the job could not start */
  pid: number;
  /** never rejects */
  result: Promise<JobResult>;
  /** TERM the job's process group, KILL it kill_delay seconds later; no-op once it has ended */
  kill(reason: KillReason): void;
  /** qsig: send `sig` to the job's process group; no-op once it has ended */
  signal(sig: NodeJS.Signals): void;
  /** what the run has used so far (whole seconds, bytes): the heartbeat carries it */
  usage?(): RunUsage;
}

/** resources_used of a run in progress, as the MOM's heartbeat reports it. */
export interface RunUsage {
  walltime: number;
  cput: number;
  mem: number;
}

export interface StartJobOptions {
  /** parent of the per-job directories, of `runs/` and of `undelivered/` */
  tmpRoot: string;
  /** the MOM starting the run, recorded in its run.json */
  momId?: string;
  /** epoch ms, for startedAt/endedAt; durations use a monotonic clock */
  clock?: () => number;
  /** /proc sampling period for cput/mem; default 1000 */
  sampleEveryMs?: number;
  /** when this process is root, run the job as its owner's account (refused when none) */
  runAsOwner?: boolean;
  /**
   * Run every job as this one account instead (the ECS MOM: a task has no accounts of the site's
   * users, and a uid other than the MOM's keeps the task's credentials and the MOM's key, in its
   * /proc/<pid>/environ, out of the job's reach). Only a root MOM can switch: refused when it
   * names no account, or root; ignored (the job runs as the MOM) when this process is not root.
   */
  jobUser?: string;
  /**
   * qsub -I: the attached session (interactive.ts). The top shell runs on it, interactively,
   * instead of the script; no output files (the terminal is the output, as in PBS).
   */
  session?: AcceptedSession;
}

/** PBS JOB_EXEC_KILL_WALLTIME */
export const EXIT_WALLTIME = -29;
/** PBS JOB_EXEC_FAIL1-style: the job could not be started */
export const EXIT_FAILED = -1;
/** Exit status of a job killed by signal N (PBS Pro convention) */
export const SIGNAL_EXIT_BASE = 256;

const DEFAULT_PATH = "/usr/local/bin:/usr/bin:/bin";
/** setTimeout cannot wait longer than 2^31-1 ms; long walltimes are waited in steps. */
const MAX_TIMER_MS = 2 ** 30;

/**
 * The job's process-group leader. Traps (not ignores: caught signals reset to default on exec)
 * the catchable kill signals so it outlives the script and can report; its own stderr goes
 * to /dev/null so bash's "Terminated" notices never reach the user's error file.
 */
const LAUNCHER = [
  'echo "pid $$" >&3',
  "s=0",
  "trap 's=1' HUP",
  "trap 's=2' INT",
  "trap 's=3' QUIT",
  "trap 's=10' USR1",
  "trap 's=12' USR2",
  "trap 's=14' ALRM",
  "trap 's=15' TERM",
  "trap 's=24' XCPU",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion
  'if [ -n "${__MQ_BASH_ENV+x}" ]; then export BASH_ENV="$__MQ_BASH_ENV"; unset __MQ_BASH_ENV; fi',
  // $1: the job's umask; $2: argv[0] for the top shell ("-bash": a login shell), or empty
  'umask "$1"',
  "a0=$2",
  "shift 2",
  "exec 4>&2 2>/dev/null",
  'if [ -n "$a0" ]; then (exec -a "$a0" "$@") 2>&4 3>&- 4>&-; else "$@" 2>&4 3>&- 4>&-; fi',
  "st=$?",
  '{ echo "$st $s"; times; } >&3',
  "exit $st",
].join("\n");

/** `123[4].casper` → `123[].casper`; undefined for a job that is not a subjob. */
export function arrayParentId(jobId: string): string | undefined {
  const m = /^([^[]+)\[[^\]]+\](.*)$/.exec(jobId);
  return m ? `${m[1]}[]${m[2]}` : undefined;
}

/** The job's whole environment: spec.env plus the PBS variables (which win). */
export function buildJobEnv(spec: JobRunSpec, jobDir: string, nodefile: string): Record<string, string> {
  const home = spec.env.HOME ?? os.homedir();
  const user = spec.owner.split("@")[0];
  const env: Record<string, string> = { ...spec.env };
  env.HOME = home;
  env.PBS_O_HOME = spec.env.PBS_O_HOME ?? home;
  env.PATH = spec.env.PATH ?? DEFAULT_PATH;
  env.USER = user;
  env.LOGNAME = user;
  env.PBS_JOBID = spec.jobId;
  env.PBS_JOBNAME = spec.name;
  env.PBS_O_WORKDIR = spec.workdir;
  env.PBS_JOBDIR = spec.workdir;
  env.PBS_QUEUE = spec.queue;
  env.PBS_NODEFILE = nodefile;
  env.PBS_ENVIRONMENT = "PBS_BATCH";
  env.ENVIRONMENT = "BATCH";
  // PBS sets both from the first rank's thread count: ompthreads, else the chunk's ncpus
  env.NCPUS = String(spec.threads ?? spec.ncpus);
  env.OMP_NUM_THREADS = String(spec.threads ?? spec.ncpus);
  env.TMPDIR = jobDir;
  const parent = arrayParentId(spec.jobId);
  const index = spec.arrayIndex ?? (parent !== undefined ? /\[([^\]]+)\]/.exec(spec.jobId)?.[1] : undefined);
  if (index !== undefined) env.PBS_ARRAY_INDEX = index;
  if (parent !== undefined) env.PBS_ARRAY_ID = parent;
  return env;
}

/**
 * Who the job runs as. A MOM running as root runs each job as its owner (PBS does the same),
 * and refuses an owner with no account here; a MOM running as anyone else can only run jobs
 * as itself (undefined: no switch), which the README says. With `jobUser` (the ECS MOM) every
 * job runs as that account, and a root MOM never runs one as root.
 */
export function jobAccount(
  spec: JobRunSpec,
  runAsOwner = true,
  jobUser?: string,
): { account?: OsUser; refused?: string } {
  if (jobUser !== undefined) {
    if (process.getuid?.() !== 0) return {};
    if (!jobUser) return { refused: "job failed: this MOM runs as root and names no account to run jobs as" };
    const account = lookupOsUser(jobUser);
    if (!account) return { refused: `job failed: job account ${jobUser} does not exist on this host` };
    if (account.uid === 0) return { refused: `job failed: job account ${jobUser} is root` };
    return { account };
  }
  if (!runAsOwner || process.getuid?.() !== 0) return {};
  const user = spec.user ?? spec.owner.split("@")[0];
  const account = lookupOsUser(user);
  if (!account) return { refused: `job failed: user ${user} does not exist on this host` };
  return account.uid === 0 ? {} : { account };
}

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/**
 * Parse the launcher's fd 3 report: "pid <pid>" (first, optional), then at its end
 * "<status> <signal>\n<self times>\n<children times>". Undefined until the end is written.
 */
export function parseLauncherReport(
  text: string,
): { status: number; signal: number; childCpu?: number } | undefined {
  const lines = text.split("\n").filter((l) => !l.startsWith("pid "));
  const m = /^(\d+) (\d+)$/.exec(lines[0]?.trim() ?? "");
  if (!m) return undefined;
  const out: { status: number; signal: number; childCpu?: number } = {
    status: Number(m[1]),
    signal: Number(m[2]),
  };
  const t = /^(\d+)m([\d.,]+)s\s+(\d+)m([\d.,]+)s/.exec(lines[2]?.trim() ?? "");
  if (t) {
    const sec = (min: string, s: string) => Number(min) * 60 + Number(s.replace(",", "."));
    const v = sec(t[1], t[2]) + sec(t[3], t[4]);
    if (Number.isFinite(v)) out.childCpu = v;
  }
  return out;
}

/** Start a job; returns at once. The job dir is removed before `result` resolves. */
export function startJob(spec: JobRunSpec, opts: StartJobOptions): RunningJob {
  const clock = opts.clock ?? Date.now;
  const sampleEveryMs = opts.sampleEveryMs ?? 1000;
  const base = { jobId: spec.jobId, runCount: spec.runCount };
  const noUsage = { walltime: 0, cput: 0, mem: 0, ncpus: spec.ncpus };

  const failed = (comment: string, cleanup?: () => Promise<void>): RunningJob => {
    const now = clock();
    // an interactive job's terminal hears why, as PBS's qsub -I does
    opts.session?.socket.end(`=>> PBS: ${comment}\n`);
    const result = (async (): Promise<JobResult> => {
      if (cleanup) await cleanup().catch(() => {});
      return {
        ...base,
        exitStatus: EXIT_FAILED,
        startedAt: now,
        endedAt: now,
        resourcesUsed: noUsage,
        comment,
      };
    })();
    return { pid: 0, result, kill: () => {}, signal: () => {} };
  };

  const who = jobAccount(spec, opts.runAsOwner === true, opts.jobUser);
  if (who.refused) return failed(who.refused);
  const account = who.account;

  const top = topShell(spec, account);
  if ("refused" in top) return failed(top.refused);

  // PBS checks the directory the job starts in before anything else, as the job's user: stat
  // of "dir/." needs search permission on dir for the effective uid (access() would use the
  // real one). The server only stores normalized absolute paths; check again here.
  if (!path.isAbsolute(top.cwd) || path.resolve(top.cwd) !== top.cwd)
    return failed(`job failed: working directory is not a normalized absolute path: ${top.cwd}`);
  try {
    asUser(account, () => {
      if (!fs.statSync(top.cwd).isDirectory()) throw new Error("not a directory");
      fs.statSync(path.join(top.cwd, "."));
    });
  } catch {
    return failed(
      top.login
        ? `job failed: cannot chdir to home directory ${top.cwd}`
        : `job failed: cannot chdir to ${top.cwd}`,
    );
  }

  const jobDir = path.join(opts.tmpRoot, `${safeName(spec.jobId)}.${spec.runCount}`);
  const scriptPath = path.join(jobDir, `${safeName(spec.jobId)}.SC`);
  const nodefilePath = path.join(jobDir, "nodefile");
  const removeJobDir = () => fs.promises.rm(jobDir, { recursive: true, force: true });
  try {
    // a directory left by an earlier MOM for the same run must not leak into this one
    fs.rmSync(jobDir, { recursive: true, force: true });
    fs.mkdirSync(jobDir, { recursive: true, mode: 0o700 });
    fs.chmodSync(jobDir, 0o700);
    fs.writeFileSync(scriptPath, spec.script, { mode: 0o700 });
    fs.chmodSync(scriptPath, 0o700);
    fs.writeFileSync(nodefilePath, spec.nodefile.map((l) => `${l}\n`).join(""), { mode: 0o600 });
    // the job's TMPDIR, script and nodefile belong to the job's user
    if (account)
      for (const f of [jobDir, scriptPath, nodefilePath]) fs.chownSync(f, account.uid, account.gid);
  } catch (e) {
    return failed(`job failed: cannot create job directory ${jobDir}: ${errMsg(e)}`, removeJobDir);
  }

  const session = opts.session;
  // an interactive job writes to its terminal: no output files (PBS creates none either)
  const outputs: Outputs = session
    ? { stdout: "ignore", stderr: "ignore", fds: [], comments: [], delivered: {} }
    : openOutputs(spec, opts.tmpRoot, account);
  const env = buildJobEnv(spec, jobDir, nodefilePath);
  if (account) {
    env.HOME = account.home;
    env.USER = account.name;
    env.LOGNAME = account.name;
  }
  // BASH_ENV is for the script, not for the launcher: hand it over under another name
  if (env.BASH_ENV !== undefined) {
    env.__MQ_BASH_ENV = env.BASH_ENV;
    delete env.BASH_ENV;
  }
  if (session) {
    env.PBS_ENVIRONMENT = "PBS_INTERACTIVE";
    if (session.hello.term) env.TERM = session.hello.term;
  }
  let shellCommand: string[];
  try {
    shellCommand = session
      ? sessionCommand(top, session.hello)
      : [top.argv0 ?? "", ...top.command(scriptPath)];
  } catch (e) {
    return failed(`job failed: ${errMsg(e)}`, removeJobDir);
  }
  const command = [umaskText(spec.umask ?? DEFAULT_UMASK), ...shellCommand];

  // The run's durable record: the status file is opened here (by the MOM, 0600) and given to
  // the launcher as fd 3; run.json names the launcher so a restarted MOM can adopt the run.
  const runDir = runDirOf(opts.tmpRoot, spec.jobId, spec.runCount);
  const statusPath = path.join(runDir, "status");
  let statusFd: number;
  try {
    fs.rmSync(runDir, { recursive: true, force: true });
    fs.mkdirSync(runDir, { recursive: true, mode: 0o700 });
    statusFd = fs.openSync(statusPath, "w", 0o600);
  } catch (e) {
    closeAll(outputs.fds);
    return failed(`job failed: cannot create run directory ${runDir}: ${errMsg(e)}`, removeJobDir);
  }
  const startedAt = clock();
  const t0 = performance.now();
  const record: RunRecord = {
    jobId: spec.jobId,
    runCount: spec.runCount,
    momId: opts.momId ?? spec.momId,
    pid: 0,
    startedAt,
    walltime: spec.walltime,
    killDelay: spec.killDelay,
    ncpus: spec.ncpus,
    jobDir,
  };
  let child: ChildProcess;
  try {
    // before the spawn: a MOM killed right after it still leaves a record of the run (the
    // launcher's first act is to write its pid in the status file)
    writeRunRecord(runDir, record);
    child = spawn("/bin/bash", ["-c", LAUNCHER, "metaqueue-launcher", ...command], {
      cwd: top.cwd,
      env,
      detached: true,
      ...(account ? { uid: account.uid, gid: account.gid } : {}),
      stdio: session
        ? ["pipe", "pipe", "pipe", statusFd]
        : ["ignore", outputs.stdout, outputs.stderr, statusFd],
    });
  } catch (e) {
    closeAll([...outputs.fds, statusFd]);
    return failed(`job failed: ${errMsg(e)}`, removeJobDir);
  }
  // the child holds its own copies; the MOM keeps the error stream's to write PBS's kill line
  const errFd = typeof outputs.stderr === "number" ? outputs.stderr : undefined;
  closeAll([...outputs.fds.filter((fd) => fd !== errFd), statusFd]);
  const closeErr = () => {
    if (errFd !== undefined) closeAll([errFd]);
  };
  const pid = child.pid ?? 0;
  // a dropped session is a terminal's hangup: HUP the group, KILL it kill_delay later
  const attached = session
    ? attachSession(child, session, () => {
        killGroup(pid, "SIGHUP");
        scheduleKill(spec.killDelay);
      })
    : undefined;
  if (pid > 0) {
    try {
      writeRunRecord(runDir, { ...record, pid, pidStart: procStart(pid)?.start });
    } catch {
      // the launcher also writes its pid into the status file: recovery falls back on it
    }
  }

  // --- state ---
  let ended = false;
  let killedFor: KillReason | undefined;
  let walltimeComment: string | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let killAt = Number.POSITIVE_INFINITY;
  let wallTimer: NodeJS.Timeout | undefined;
  let peakCpu = 0;
  let peakRss = 0;
  let sampling: Promise<void> | undefined;

  const sample = (): Promise<void> => {
    if (sampling || pid <= 0) return sampling ?? Promise.resolve();
    sampling = sampleProcessGroup(pid)
      .then((s) => {
        if (s.cpu > peakCpu) peakCpu = s.cpu;
        if (s.rss > peakRss) peakRss = s.rss;
      })
      .catch(() => {})
      .finally(() => {
        sampling = undefined;
      });
    return sampling;
  };

  const scheduleKill = (delayS: number) => {
    const at = performance.now() + Math.max(0, delayS) * 1000;
    if (at >= killAt) return;
    killAt = at;
    if (killTimer) clearTimeout(killTimer);
    killTimer = setTimeout(() => killGroup(pid, "SIGKILL"), Math.max(0, at - performance.now()));
  };

  const kill = (reason: KillReason) => {
    if (ended || pid <= 0) return;
    const delay = reason === "shutdown" ? Math.min(spec.killDelay, 1) : spec.killDelay;
    if (killedFor === undefined) {
      killedFor = reason;
      killGroup(pid, "SIGTERM");
    }
    scheduleKill(delay);
  };

  if (spec.walltime !== undefined && pid > 0) {
    const limitMs = spec.walltime * 1000 + 1;
    const arm = () => {
      const left = limitMs - (performance.now() - t0);
      if (left > 0) {
        wallTimer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
        return;
      }
      if (ended || killedFor !== undefined) return;
      const used = Math.ceil((performance.now() - t0) / 1000);
      walltimeComment = `job killed: walltime ${used} exceeded limit ${spec.walltime}`;
      // PBS writes the reason into the job's error file (the output file under -j oe)
      if (errFd !== undefined) {
        try {
          fs.writeSync(errFd, `=>> PBS: ${walltimeComment}\n`);
        } catch {
          // a full or vanished file: the comment still says it
        }
      }
      attached?.say(`\r\n=>> PBS: ${walltimeComment}\r\n`);
      kill("walltime");
    };
    arm();
  }

  // No sample at the spawn itself: it would read the launcher before it has exec'd the script
  // (nothing of the job's usage), and each sample walks all of /proc, which was the largest part
  // of a MOM's CPU per short job. The first one comes after min(200 ms, the period).
  const sampler = setInterval(() => void sample(), Math.max(10, sampleEveryMs));
  const early = setTimeout(() => void sample(), Math.min(200, sampleEveryMs));

  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>(
    (resolve) => {
      child.once("error", (error) => resolve({ code: null, signal: null, error }));
      child.once("exit", (code, signal) => resolve({ code, signal }));
    },
  );

  const result = (async (): Promise<JobResult> => {
    const ex = await exited;
    ended = true;
    closeErr();
    const elapsedMs = performance.now() - t0;
    const endedAt = clock();
    clearInterval(sampler);
    clearTimeout(early);
    if (wallTimer) clearTimeout(wallTimer);
    // catch what leftover processes used, then end them: the job is over when its shell is.
    // The launcher is reaped by now, so a group nobody answers for has no leftovers: no walk of
    // /proc for it (the launcher's `times` already gave the CPU of everything it waited for).
    if (groupAnswers(pid)) await sample();
    else await sampling;
    if (killTimer) clearTimeout(killTimer);
    killGroup(pid, "SIGKILL");
    // the group's leftovers die by that KILL: wait (briefly) until they are gone, so the run
    // is over when its result is
    for (let i = 0; i < 100 && groupExists(pid); i++) await new Promise((r) => setTimeout(r, 20));
    await attached?.end();
    let report = "";
    try {
      report = (await fs.promises.readFile(statusPath, "utf8")).slice(0, 4096);
    } catch {
      // no status: the launcher died by a signal, which `ex` says
    }

    const comments: string[] = [];
    let exitStatus: number;
    const rep = parseLauncherReport(report);
    if (ex.error || pid <= 0) {
      exitStatus = EXIT_FAILED;
      comments.push(`job failed: ${ex.error ? errMsg(ex.error) : "could not start"}`);
    } else if (ex.signal) {
      exitStatus = SIGNAL_EXIT_BASE + (os.constants.signals[ex.signal] ?? 0);
    } else if (rep && rep.signal > 0 && rep.status === 128 + rep.signal) {
      // the script died of the signal the whole group received
      exitStatus = SIGNAL_EXIT_BASE + rep.signal;
    } else {
      exitStatus = ex.code ?? EXIT_FAILED;
    }
    if (killedFor === "walltime") {
      exitStatus = EXIT_WALLTIME;
      if (walltimeComment) comments.push(walltimeComment);
    }
    comments.push(...outputs.comments);

    await removeJobDir().catch(() => {});
    const cput = Math.max(peakCpu, rep?.childCpu ?? 0);
    const out: JobResult = {
      ...base,
      exitStatus,
      startedAt,
      endedAt,
      resourcesUsed: {
        walltime: Math.max(0, Math.floor(elapsedMs / 1000)),
        cput: Math.max(0, Math.round(cput)),
        mem: Math.max(0, Math.round(peakRss)),
        ncpus: spec.ncpus,
      },
    };
    if (comments.length > 0) out.comment = comments.join("; ");
    if (killedFor !== undefined) out.killedFor = killedFor;
    out.delivered = outputs.delivered;
    return out;
  })().catch(async (e): Promise<JobResult> => {
    closeErr();
    return {
      ...base,
      exitStatus: EXIT_FAILED,
      startedAt,
      endedAt: clock(),
      resourcesUsed: noUsage,
      comment: `job failed: ${errMsg(e)}`,
    };
  });

  const usage = (): RunUsage => ({
    walltime: Math.max(0, Math.floor((performance.now() - t0) / 1000)),
    cput: Math.max(0, Math.round(peakCpu)),
    mem: Math.max(0, Math.round(peakRss)),
  });
  const signal = (sig: NodeJS.Signals) => {
    if (!ended && pid > 0) killGroup(pid, sig);
  };
  return { pid, result, kill, usage, signal };
}
