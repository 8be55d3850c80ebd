/**
 * What a MOM starting on a node does with the runs an earlier MOM of that node left in
 * `runs/` (pbs_mom -p): a run whose launcher still lives is adopted (polled, its walltime
 * enforced from its start, killable), a run whose launcher wrote its status is turned into an
 * obituary, and a run whose launcher is gone without a status is reported killed. Jobs are
 * never killed and requeued for their MOM's crash: that would start them twice.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { KillReason } from "../ports/index.js";
import { launcherAlive, type RunRecord, readJson, runsRoot, statusPid } from "./run-dir.js";
import {
  EXIT_WALLTIME,
  type JobResult,
  parseLauncherReport,
  type RunningJob,
  SIGNAL_EXIT_BASE,
} from "./run-job.js";
import { killGroup, sampleProcessGroup } from "./process-group.js";

export type RecoveredRun =
  | { kind: "obit"; dir: string; obit: JobResult & { momId?: string }; sent: boolean }
  | { kind: "adopt"; dir: string; rec: RunRecord };

/** How a run ended, from its launcher's status (same rule as a watched run). */
export function resultFromStatus(
  rec: RunRecord,
  statusText: string | undefined,
  endedAt: number,
  comment?: string,
): JobResult {
  const rep = statusText !== undefined ? parseLauncherReport(statusText) : undefined;
  let exitStatus: number;
  const comments: string[] = [];
  if (!rep) {
    exitStatus = SIGNAL_EXIT_BASE + 9;
    comments.push("job killed: its launcher ended without a status while no MOM watched it");
  } else if (rep.signal > 0 && rep.status === 128 + rep.signal) exitStatus = SIGNAL_EXIT_BASE + rep.signal;
  else exitStatus = rep.status;
  if (comment) comments.push(comment);
  const out: JobResult = {
    jobId: rec.jobId,
    runCount: rec.runCount,
    exitStatus,
    startedAt: rec.startedAt,
    endedAt: Math.max(rec.startedAt, endedAt),
    resourcesUsed: {
      walltime: Math.max(0, Math.floor((endedAt - rec.startedAt) / 1000)),
      cput: Math.max(0, Math.round(rep?.childCpu ?? 0)),
      mem: 0,
      ncpus: rec.ncpus,
    },
  };
  if (comments.length) out.comment = comments.join("; ");
  return out;
}

function readText(file: string): { text: string; mtime: number } | undefined {
  try {
    return { text: fs.readFileSync(file, "utf8"), mtime: fs.statSync(file).mtimeMs };
  } catch {
    return undefined;
  }
}

/**
 * Look at every run directory: what to report and what to adopt. `now` is used as the end of
 * a run whose launcher vanished without a word.
 */
export function scanRuns(tmpRoot: string, now: number): RecoveredRun[] {
  const root = runsRoot(tmpRoot);
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return [];
  }
  const out: RecoveredRun[] = [];
  for (const name of names) {
    const dir = path.join(root, name);
    const obit = readJson<JobResult & { momId?: string }>(path.join(dir, "obit.json"));
    if (obit) {
      out.push({ kind: "obit", dir, obit, sent: fs.existsSync(path.join(dir, "sent")) });
      continue;
    }
    const rec = readJson<RunRecord>(path.join(dir, "run.json"));
    const status = readText(path.join(dir, "status"));
    if (!rec) {
      // no record: the MOM died before spawning (run.json is written first): never started,
      // the server requeues it when the hello does not list it
      fs.rmSync(dir, { recursive: true, force: true });
      continue;
    }
    // killed between spawn and the record's pid: the launcher wrote it first thing
    if (!(rec.pid > 0)) rec.pid = (status && statusPid(status.text)) || 0;
    const ended = () => fs.rmSync(rec.jobDir, { recursive: true, force: true });
    if (!(rec.pid > 0)) {
      // the launcher never ran: the job never started
      ended();
      fs.rmSync(dir, { recursive: true, force: true });
      continue;
    }
    if (status && parseLauncherReport(status.text)) {
      ended();
      out.push({
        kind: "obit",
        dir,
        sent: false,
        obit: resultFromStatus(rec, status.text, status.mtime, "ended while its MOM was down"),
      });
    } else if (launcherAlive(rec.pid, rec.pidStart)) {
      out.push({ kind: "adopt", dir, rec });
    } else {
      ended();
      out.push({ kind: "obit", dir, sent: false, obit: resultFromStatus(rec, undefined, now) });
    }
  }
  return out;
}

/**
 * Watch a run started by an earlier MOM: poll its launcher, enforce its walltime from its
 * start, kill it on request (TERM, KILL kill_delay later). The status file gives the end.
 */
export function adoptRun(
  rec: RunRecord,
  dir: string,
  opts: { clock?: () => number; pollMs?: number } = {},
): RunningJob {
  const clock = opts.clock ?? Date.now;
  const pollMs = Math.max(20, opts.pollMs ?? 500);
  const pid = rec.pid;
  let killedFor: KillReason | undefined;
  let killTimer: NodeJS.Timeout | undefined;
  let peakRss = 0;
  let resolve!: (r: JobResult) => void;
  const result = new Promise<JobResult>((r) => {
    resolve = r;
  });
  const kill = (reason: KillReason) => {
    if (killedFor !== undefined) return;
    killedFor = reason;
    killGroup(pid, "SIGTERM");
    const delay = reason === "shutdown" ? Math.min(rec.killDelay, 1) : rec.killDelay;
    killTimer = setTimeout(() => killGroup(pid, "SIGKILL"), delay * 1000);
  };
  const timer = setInterval(() => {
    if (launcherAlive(pid, rec.pidStart)) {
      void sampleProcessGroup(pid).then((s) => {
        if (s.rss > peakRss) peakRss = s.rss;
      });
      if (rec.walltime !== undefined && clock() - rec.startedAt > rec.walltime * 1000) kill("walltime");
      return;
    }
    clearInterval(timer);
    if (killTimer) clearTimeout(killTimer);
    killGroup(pid, "SIGKILL"); // leftovers of the group: the job is over when its shell is
    const st = readText(path.join(dir, "status"));
    const r = resultFromStatus(rec, st?.text, st && parseLauncherReport(st.text) ? st.mtime : clock());
    r.resourcesUsed.mem = Math.round(peakRss);
    if (killedFor === "walltime") {
      r.exitStatus = EXIT_WALLTIME;
      r.comment = `job killed: walltime exceeded limit ${rec.walltime}`;
    }
    if (killedFor !== undefined) r.killedFor = killedFor;
    fs.promises.rm(rec.jobDir, { recursive: true, force: true }).finally(() => resolve(r));
  }, pollMs);
  // qsig: only while the launcher this record names still runs (a reused pid is someone else's)
  const signal = (sig: NodeJS.Signals) => {
    if (launcherAlive(pid, rec.pidStart)) killGroup(pid, sig);
  };
  return { pid, result, kill, signal };
}
