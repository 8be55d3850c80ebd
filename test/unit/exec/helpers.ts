import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import type { JobRunSpec } from "../../../shared/ports/index.js";

export function tempDir(prefix: string): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), `mq-${prefix}-`));
}

let seq = 0;

/** A spec for a job running `script` in `dir` (which also receives the output files). */
export function makeSpec(dir: string, script: string, over: Partial<JobRunSpec> = {}): JobRunSpec {
  seq += 1;
  const id = `${1000 + seq}.casper`;
  return {
    jobId: id,
    seq: String(1000 + seq),
    runCount: 1,
    name: "STDIN",
    queue: "workq",
    // the MOM runs a job as its owner when it runs as root: own the test jobs ourselves
    owner: `${os.userInfo().username}@login1`,
    script,
    workdir: dir,
    env: { PBS_O_HOST: "login1" },
    killDelay: 1,
    stdoutPath: path.join(dir, `STDIN.o${1000 + seq}`),
    stderrPath: path.join(dir, `STDIN.e${1000 + seq}`),
    nodefile: ["node1", "node1"],
    ncpus: 2,
    momId: "node1",
    execHost: "node1",
    // most tests look at the job in its submit directory; the PBS start (home, login shell)
    // has its own tests (job-start.test.ts)
    start: "workdir",
    ...over,
  };
}

export function read(p: string): string {
  return fs.readFileSync(p, "utf8");
}

/**
 * process.kill(pid, 0), but a zombie counts as dead: in containers PID 1 often does not reap
 * the orphans it inherits, so a killed orphan can stay a zombie for good.
 */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

export async function waitFor(cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 20));
  }
}
