/**
 * `-W stagein` / `-W stageout` on the MOM, as PBS's MOM does them: the stage-in list is copied
 * before the job starts, the stage-out list after it ends. Every copy runs as the job's user
 * (a `cp -R` child process with that uid and gid, never the MOM's rights), so a file the user
 * may not read is not staged even by a root MOM. Only this host's paths are staged: the server
 * refuses another storage host at submit (shared/server/staging.ts).
 *
 * Stage-in leaves nothing half done: every source is checked first, and what a failed stage-in
 * had already created is removed (a file it had overwritten is not restored), so the job can be
 * released and retried (the server holds it, as PBS does with substate STAGEFAIL). A failed stage-out leaves
 * the job's files where they are and says so in the comment; the Exit_status stays the
 * script's, as PBS keeps it (PBS has no stage-out exit status; it mails the owner).
 */
import { spawn } from "node:child_process";
import * as path from "node:path";
import type { OsUser } from "../auth/os-user.js";
import { parseStageList, type StageKind } from "../pbs/stage.js";
import type { JobRunSpec, KillReason } from "../ports/index.js";
import {
  EXIT_FAILED,
  type JobResult,
  jobAccount,
  type RunningJob,
  type StartJobOptions,
  startJob,
} from "./run-job.js";
import { topShell } from "./top-shell.js";

/** One copy: `from` → `to`, both absolute. */
export interface StageCopy {
  from: string;
  to: string;
}

/** How long one stage list may take before it counts as failed (a hung NFS mount). */
export const STAGE_TIMEOUT_MS = 30 * 60_000;

/**
 * The copies a list asks for: execution paths relative to `startDir` (the directory the job
 * starts in), storage paths relative to the owner's `home`. Stage-in copies storage → execution,
 * stage-out the other way.
 */
export function stageCopies(list: string, kind: StageKind, startDir: string, home: string): StageCopy[] {
  return parseStageList(list, kind).map((e) => {
    const local = path.resolve(startDir, e.local);
    const remote = path.resolve(home, e.remote);
    return kind === "stagein" ? { from: remote, to: local } : { from: local, to: remote };
  });
}

/**
 * The copier, run by bash as the job's user with the copies as positional arguments (never
 * interpolated into the script). All sources are checked before anything is written; a copy
 * onto the very same file is skipped (the storage and execution paths may name one file here);
 * on a failure the destinations this run created are removed when `$1` is `undo`.
 */
const COPIER = [
  "set -u",
  "undo=$1; shift",
  "n=$#",
  "for ((i = 1; i < n; i += 2)); do",
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bash indirect expansion
  "  s=${!i}",
  '  if [ ! -e "$s" ] && [ ! -L "$s" ]; then echo "$s: No such file or directory" >&2; exit 1; fi',
  '  if [ ! -r "$s" ]; then echo "$s: Permission denied" >&2; exit 1; fi',
  "done",
  "made=()",
  'while [ "$#" -gt 0 ]; do',
  "  s=$1; d=$2; shift 2",
  '  if [ -e "$d" ] && [ "$s" -ef "$d" ]; then continue; fi',
  '  new=1; if [ -e "$d" ] || [ -L "$d" ]; then new=0; fi',
  '  if ! cp -R -- "$s" "$d"; then',
  '    if [ "$undo" = undo ]; then',
  '      if [ "$new" = 1 ]; then rm -rf -- "$d"; fi',
  // biome-ignore lint/suspicious/noTemplateCurlyInString: bash array expansion (set -u safe)
  '      for m in "${made[@]+"${made[@]}"}"; do rm -rf -- "$m"; done',
  "    fi",
  "    exit 1",
  "  fi",
  '  if [ "$new" = 1 ]; then made+=("$d"); fi',
  "done",
].join("\n");

/**
 * Run `copies` as `account` (undefined: as this process, which is then the job's user too).
 * Resolves with undefined on success, else the reason (cp's own message, first lines).
 */
export function runCopies(
  copies: StageCopy[],
  account: OsUser | undefined,
  opts: { undo: boolean; timeoutMs?: number },
): Promise<string | undefined> {
  if (copies.length === 0) return Promise.resolve(undefined);
  const args = copies.flatMap((c) => [c.from, c.to]);
  return new Promise((resolve) => {
    let err = "";
    const child = spawn(
      "/bin/bash",
      ["-c", COPIER, "metaqueue-stage", opts.undo ? "undo" : "keep", ...args],
      {
        cwd: "/",
        // a fixed environment: cp's messages in English, nothing of the MOM's
        env: { PATH: "/usr/bin:/bin", LC_ALL: "C" },
        stdio: ["ignore", "ignore", "pipe"],
        timeout: opts.timeoutMs ?? STAGE_TIMEOUT_MS,
        killSignal: "SIGKILL",
        ...(account ? { uid: account.uid, gid: account.gid } : {}),
      },
    );
    child.stderr?.on("data", (b: Buffer) => {
      if (err.length < 2048) err += b.toString("utf8");
    });
    child.once("error", (e) => resolve(e.message));
    child.once("close", (code, signal) => {
      if (code === 0) return resolve(undefined);
      const msg = err
        .trim()
        .split("\n")
        .slice(0, 3)
        .map((l) => l.replace(/^cp: /, ""))
        .join("; ");
      resolve(msg || (signal ? `copy killed by ${signal} (time limit)` : `copy failed (status ${code})`));
    });
  });
}

/** Where a job's copies are resolved from: its start directory and its owner's home. */
function stageDirs(spec: JobRunSpec, account: OsUser | undefined): { startDir: string; home: string } {
  const top = topShell(spec, account);
  const home = account?.home ?? spec.env.HOME ?? spec.workdir;
  return { startDir: "refused" in top ? spec.workdir : top.cwd, home };
}

/**
 * startJob with the job's staging around it: stage-in first (a failure ends the run before it
 * starts, flagged `stageinFailed` for the server to hold the job), then the job, then stage-out
 * (not for a run being requeued or stopped with its MOM: that run ends again later). Without
 * stage lists it is startJob itself.
 */
export function startStagedJob(spec: JobRunSpec, opts: StartJobOptions): RunningJob {
  if (!spec.stagein && !spec.stageout) return startJob(spec, opts);
  const clock = opts.clock ?? Date.now;
  const who = jobAccount(spec, opts.runAsOwner === true, opts.jobUser);
  // an account refused here is refused again, with its comment, by startJob
  const { startDir, home } = stageDirs(spec, who.account);
  let inner: RunningJob | undefined;
  let killedBefore: KillReason | undefined;

  const failed = (comment: string, extra: Partial<JobResult> = {}): JobResult => {
    const now = clock();
    return {
      jobId: spec.jobId,
      runCount: spec.runCount,
      exitStatus: EXIT_FAILED,
      startedAt: now,
      endedAt: now,
      resourcesUsed: { walltime: 0, cput: 0, mem: 0, ncpus: spec.ncpus },
      comment,
      ...extra,
    };
  };

  const result = (async (): Promise<JobResult> => {
    if (spec.stagein && !who.refused) {
      let why: string | undefined;
      try {
        why = await runCopies(stageCopies(spec.stagein, "stagein", startDir, home), who.account, {
          undo: true,
        });
      } catch (e) {
        why = e instanceof Error ? e.message : String(e);
      }
      if (why) return failed(`File stage in failed: ${why}`, { stageinFailed: true });
    }
    if (killedBefore)
      return failed("job killed before it started (during stage-in)", { killedFor: killedBefore });
    inner = startJob(spec, opts);
    const r = await inner.result;
    if (!spec.stageout || inner.pid <= 0 || r.killedFor === "rerun" || r.killedFor === "shutdown") return r;
    let why: string | undefined;
    try {
      why = await runCopies(stageCopies(spec.stageout, "stageout", startDir, home), who.account, {
        undo: false,
      });
    } catch (e) {
      why = e instanceof Error ? e.message : String(e);
    }
    if (!why) return r;
    const note = `File stage out failed: ${why} (the job's files are kept where it wrote them)`;
    return { ...r, comment: r.comment ? `${r.comment}; ${note}` : note };
  })();

  return {
    get pid() {
      return inner?.pid ?? 0;
    },
    result,
    kill: (reason) => {
      if (inner) inner.kill(reason);
      else killedBefore ??= reason;
    },
    signal: (sig) => inner?.signal(sig),
    usage: () => inner?.usage?.() ?? { walltime: 0, cput: 0, mem: 0 },
  };
}
