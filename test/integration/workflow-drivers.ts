/**
 * Three workflow tools' PBS drivers, ported to TypeScript as they drive PBS: the submit command
 * line and how they read the job ID from it, the status poll and its parser, the cancel command.
 * Each runs the real CLI (node_modules/.bin) through the same kind of process the tool starts (a
 * shell command line, an argv, or `bash -c`), so what a tool would see is what the test sees.
 *
 * Sources (read at these commits; keep the ports in step with them):
 * - Parsl, parsl/providers/pbspro/pbspro.py and parsl/providers/torque/torque.py (translate_table,
 *   cancel) at b8b474c7a6ee6fd2f9392e10291c2d8c323b0510 (2026-08-06).
 * - Cylc, cylc/flow/job_runner_handlers/pbs.py at 2936692c2f9ffa44c9ea99d9f716c4bacdf26cdb
 *   (2026-07-24), and cylc/flow/job_runner_mgr.py (_filter_submit_output, _jobs_poll_runner, job_kill).
 * - Nextflow, modules/nextflow/src/main/groovy/nextflow/executor/PbsProExecutor.groovy,
 *   PbsExecutor.groovy and AbstractGridExecutor.groovy (checkActiveStatus, killTask) at
 *   2aad02f65758dd5d0fb0b1c74786ad52f9d06f1a (2026-08-21).
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";

const exec = promisify(execFile);
const BIN = path.resolve("node_modules/.bin");

/** How to reach the runtime: the CLI's config and credential, as a login shell would have them. */
export interface Login {
  conf: string;
  credential: string;
}

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

/** argv run as the tools run it (ProcessBuilder, subprocess.Popen), the CLI first on PATH. */
async function run(login: Login, argv: string[], cwd: string): Promise<Ran> {
  try {
    const r = await exec(argv[0], argv.slice(1), {
      cwd,
      env: {
        ...process.env,
        PATH: `${BIN}:${process.env.PATH ?? ""}`,
        METAQUEUE_CONF: login.conf,
        METAQUEUE_CREDENTIAL: login.credential,
        METAQUEUE_SERVER_URL: "",
        METAQUEUE_TOKEN: "",
      },
      maxBuffer: 16 * 1024 * 1024,
    });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

/** A command string the way Python's subprocess with shell=True runs it (Parsl's execute_wait). */
const shell = (login: Login, cmd: string, cwd: string) => run(login, ["/bin/sh", "-c", cmd], cwd);

// ---------------------------------------------------------------------------------------------
// Parsl (PBSProProvider)

/** torque.py translate_table: the PBS states Parsl knows; anything else is UNKNOWN. */
const PARSL_STATES: Record<string, string> = {
  B: "RUNNING",
  R: "RUNNING",
  C: "COMPLETED",
  E: "COMPLETED",
  F: "COMPLETED",
  H: "HELD",
  Q: "PENDING",
  W: "PENDING",
  S: "HELD",
  T: "PENDING",
  U: "HELD",
  X: "COMPLETED",
};

export interface ParslStatus {
  state: string;
  /** Parsl reads no exit status; the test takes it from the same JSON Parsl parsed */
  exitStatus?: number;
}

export const parsl = {
  /** `qsub  -q <queue> -A <account> <script_path>` through the shell; the ID is qsub's last non-empty line */
  async submit(login: Login, cwd: string, scriptPath: string, queue?: string): Promise<string> {
    let submitOptions = "";
    if (queue !== undefined) submitOptions = `${submitOptions} -q ${queue}`;
    const launchCmd = `qsub ${submitOptions} ${scriptPath}`;
    const r = await shell(login, launchCmd, cwd);
    if (r.code !== 0) throw new Error(`Submit command '${launchCmd}' failed: ${r.code} ${r.stderr}`);
    let jobId: string | undefined;
    for (const line of r.stdout.split("\n")) if (line.trim()) jobId = line.trim();
    if (!jobId) throw new Error(`qsub printed no job ID: ${JSON.stringify(r.stdout)}`);
    return jobId;
  },

  /**
   * _status: `qstat -x -f -F json <ids>`; a failed qstat updates nothing (undefined); keys
   * matched to the IDs qsub printed by prefix (`long_job_id.startswith(job_id)`); a job missing
   * from the answer is COMPLETED.
   */
  async status(login: Login, cwd: string, jobIds: string[]): Promise<Map<string, ParslStatus> | undefined> {
    const r = await shell(login, `qstat -x -f -F json ${jobIds.join(" ")}`, cwd);
    if (r.code !== 0) return undefined;
    const statuses = JSON.parse(r.stdout) as { Jobs?: Record<string, Record<string, unknown>> };
    const out = new Map<string, ParslStatus>();
    const missing = [...jobIds];
    if (statuses.Jobs)
      for (let [jobId, job] of Object.entries(statuses.Jobs)) {
        for (const longJobId of jobIds)
          if (longJobId.startsWith(jobId)) {
            jobId = longJobId;
            break;
          }
        const js = job.job_state;
        const state = typeof js === "string" ? (PARSL_STATES[js] ?? "UNKNOWN") : "UNKNOWN";
        const exit = job.Exit_status;
        out.set(jobId, { state, ...(typeof exit === "number" ? { exitStatus: exit } : {}) });
        // Python's list.remove raises on an ID that was not asked for: so does this
        const i = missing.indexOf(jobId);
        if (i < 0) throw new Error(`ValueError: list.remove(x): ${jobId} not in list`);
        missing.splice(i, 1);
      }
    for (const m of missing) out.set(m, { state: "COMPLETED" });
    return out;
  },

  /** cancel: `qdel <ids>`; exit 0 is success for all */
  async cancel(login: Login, cwd: string, jobIds: string[]): Promise<boolean> {
    return (await shell(login, `qdel ${jobIds.join(" ")}`, cwd)).code === 0;
  },
};

// ---------------------------------------------------------------------------------------------
// Cylc (PBSHandler with job_runner_mgr)

/** REC_ID_FROM_SUBMIT_OUT = re.compile(r"^\s*(?P<id>\d+)", re.M): the ID is the job's number */
const CYLC_REC_ID = /^\s*(\d+)/;
const CYLC_REC_ID_ALL = /^\s*(\d+)/gm;

export const cylc = {
  /**
   * SUBMIT_CMD_TMPL `qsub '%(job)s'`, shlex-split (no shell). Cylc runs it in $HOME; here in
   * `cwd` (the job's directives name absolute output paths, so nothing depends on it). The ID:
   * the first stdout line the regex matches (`rec_id.match(line)`), its number only.
   */
  async submit(login: Login, cwd: string, jobFile: string): Promise<string> {
    const r = await run(login, ["qsub", jobFile], cwd);
    for (const line of r.stdout.split(/\r?\n/)) {
      const m = CYLC_REC_ID.exec(line);
      if (m) return m[1];
    }
    throw new Error(`no job ID in qsub's output (${r.code}): ${r.stdout} ${r.stderr}`);
  },

  /**
   * _jobs_poll_runner: POLL_CMD `qstat <ids>`; a failed qstat whose stderr says "cannot connect
   * to server" leaves every job as it was (all still in the runner); otherwise
   * filter_poll_many_output (the regex's findall over stdout) names the jobs still in the
   * runner, and every other one has exited the runner (job_runner_exit_polled=1).
   */
  async poll(login: Login, cwd: string, jobIds: string[]): Promise<Map<string, "in-runner" | "exited">> {
    const r = await run(login, ["qstat", ...jobIds], cwd);
    const bad = new Set(jobIds);
    if (r.code !== 0 && r.stderr.includes("cannot connect to server")) bad.clear();
    else for (const m of r.stdout.matchAll(CYLC_REC_ID_ALL)) bad.delete(m[1]);
    return new Map(jobIds.map((id) => [id, bad.has(id) ? "exited" : "in-runner"]));
  },

  /** KILL_CMD_TMPL `qdel '%(job_id)s'`, shlex-split; the kill succeeded when qdel exits 0 */
  async kill(login: Login, cwd: string, jobId: string): Promise<boolean> {
    return (await run(login, ["qdel", jobId], cwd)).code === 0;
  },
};

// ---------------------------------------------------------------------------------------------
// Nextflow (PbsProExecutor extends PbsExecutor extends AbstractGridExecutor)

export type NfStatus = "PENDING" | "RUNNING" | "HOLD" | "ERROR" | "DONE" | "UNKNOWN";

/** PbsProExecutor.DECODE_STATUS */
const NF_DECODE: Record<string, NfStatus> = {
  F: "DONE",
  E: "RUNNING",
  R: "RUNNING",
  Q: "PENDING",
  H: "HOLD",
  S: "HOLD",
  U: "HOLD",
  W: "HOLD",
  T: "HOLD",
  M: "HOLD",
};

function fetchValue(prefix: string, line: string): string | undefined {
  const p = line.indexOf(prefix);
  return p !== -1 ? line.substring(p + prefix.length).trim() : undefined;
}

export const nextflow = {
  /** getSubmitCommandLine: `qsub -N <name> <script file name>`, run in the task's work dir */
  async submit(login: Login, workDir: string, name: string, scriptFileName: string): Promise<string> {
    const r = await run(login, ["qsub", "-N", name, scriptFileName], workDir);
    if (r.code !== 0) throw new Error(`qsub failed (${r.code}): ${r.stderr}`);
    // parseJobId: the trimmed text, which must be one line
    const result = r.stdout.trim();
    if (result && !result.includes("\n")) return result;
    throw new Error(`Invalid PBS/Torque submit response:\n${r.stdout}\n\n`);
  },

  /**
   * queueStatusCommand(queue) + getQueueStatus0 + parseQueueStatus: `bash -c "set -o pipefail;
   * qstat -f <queue> | { grep -E '(Job Id:|job_state =)' || true; }"`; a non-zero exit gives no
   * data (null). The parser puts an entry on every line, as the original does.
   */
  async queueStatus(login: Login, cwd: string, queue: string): Promise<Map<string, NfStatus> | undefined> {
    const cmd = `qstat -f ${queue}`;
    const r = await run(
      login,
      ["bash", "-c", `set -o pipefail; ${cmd} | { grep -E '(Job Id:|job_state =)' || true; }`],
      cwd,
    );
    if (r.code !== 0) return undefined;
    const JOB_ID = "Job Id:";
    const JOB_STATUS = "job_state =";
    const result = new Map<string, NfStatus>();
    let id: string | undefined;
    let status: string | undefined;
    // redirectErrorStream(true): stderr is part of the text parsed
    for (const line of `${r.stdout}${r.stderr}`.split(/\r?\n/)) {
      if (line === "") continue;
      if (line.startsWith(JOB_ID)) id = fetchValue(JOB_ID, line);
      else if (id) status = fetchValue(JOB_STATUS, line);
      result.set(String(id), (status !== undefined ? NF_DECODE[status] : undefined) ?? "UNKNOWN");
    }
    return result;
  },

  /** checkStartedStatus: listed, and not PENDING (GridTaskHandler.isStarted also takes .command.begin) */
  isStartedInQueue(status: Map<string, NfStatus> | undefined, jobId: string): boolean {
    if (!status?.has(jobId)) return false;
    return status.get(jobId) !== "PENDING";
  },

  /** checkActiveStatus: no data is "active"; absent is not; else RUNNING or HOLD */
  isActive(status: Map<string, NfStatus> | undefined, jobId: string): boolean {
    if (status === undefined) return true;
    if (!status.has(jobId)) return false;
    const s = status.get(jobId);
    return s === "RUNNING" || s === "HOLD";
  },

  /** killTask: `qdel <id>`; a non-zero exit is only logged */
  async kill(login: Login, cwd: string, jobId: string): Promise<boolean> {
    return (await run(login, ["qdel", jobId], cwd)).code === 0;
  },
};
