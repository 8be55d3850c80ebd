/**
 * A run's durable record on the MOM's disk, so that a job outlives its MOM (pbs_mom -p style):
 * `<tmpRoot>/runs/<jobId>.<runCount>/` (0700, the MOM's) holds
 * - run.json: who the run is and how to find its launcher (pid + /proc starttime, so a reused
 *   pid is not taken for it), written right after spawn;
 * - status: given to the launcher as fd 3; it writes "pid <pid>" first, then at its end
 *   "<status> <signal>" and `times`, even when no MOM is alive to read them;
 * - obit.json: the obituary, written before it is sent (so a crash after the end never loses
 *   it: a restarted MOM sends it again);
 * - sent: a marker with the time the obituary was delivered; the directory is pruned later.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import type { Obituary } from "../ports/index.js";

export interface RunRecord {
  jobId: string;
  runCount: number;
  /** the MOM that started it */
  momId: string;
  /** launcher pid (leader of the job's process group); 0 until spawned */
  pid: number;
  /** /proc/<pid>/stat starttime of the launcher, to tell it from a reused pid */
  pidStart?: string;
  /** epoch ms */
  startedAt: number;
  /** seconds; undefined = no limit */
  walltime?: number;
  killDelay: number;
  ncpus: number;
  /** the job's TMPDIR, removed once the run is over */
  jobDir: string;
}

const safe = (s: string) => s.replace(/[/\0]/g, "_");

export function runsRoot(tmpRoot: string): string {
  return path.join(tmpRoot, "runs");
}

export function runDirOf(tmpRoot: string, jobId: string, runCount: number): string {
  return path.join(runsRoot(tmpRoot), `${safe(jobId)}.${runCount}`);
}

/** Write `file` atomically (tmp + rename), 0600. */
export function writeAtomic(file: string, text: string): void {
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, text, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

export function writeRunRecord(dir: string, rec: RunRecord): void {
  writeAtomic(path.join(dir, "run.json"), JSON.stringify(rec));
}

export function readJson<T>(file: string): T | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, "utf8")) as T;
  } catch {
    return undefined;
  }
}

export function writeObit(dir: string, o: Obituary): void {
  writeAtomic(path.join(dir, "obit.json"), JSON.stringify(o));
}

/** Field 22 (starttime) and field 3 (state) of /proc/<pid>/stat; undefined when no such pid. */
export function procStart(pid: number): { start: string; state: string } | undefined {
  if (!(pid > 0)) return undefined;
  try {
    const text = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = text.slice(text.lastIndexOf(")") + 2).split(" ");
    return { state: f[0], start: f[19] };
  } catch {
    return undefined;
  }
}

/** Whether the launcher of a run still lives (not a zombie, not a reused pid). */
export function launcherAlive(pid: number, pidStart: string | undefined): boolean {
  const p = procStart(pid);
  if (!p || p.state === "Z" || p.state === "X") return false;
  return pidStart === undefined || p.start === pidStart;
}

/** The launcher pid it wrote first on fd 3 ("pid N"), when run.json never got it. */
export function statusPid(statusText: string): number | undefined {
  const m = /^pid (\d+)$/m.exec(statusText);
  return m ? Number(m[1]) : undefined;
}
