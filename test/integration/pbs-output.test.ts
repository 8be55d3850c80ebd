/**
 * The PBS commands say what OpenPBS's say: exit statuses (pbs_errno & 0xff), the -w layouts,
 * -F dsv, -F json value types, Submit_arguments, and a closed pipe ending a command quietly.
 * The real CLI binaries against the real local stack.
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, script, startStack } from "./helpers.js";

const exec = promisify(execFile);
let s: Stack;
let done: string;

beforeAll(async () => {
  s = await startStack();
  const r = await s.cli("qsub", [
    "-N",
    "a_rather_long_job_name",
    "-l",
    "select=1:ncpus=2",
    "--",
    "/bin/true",
  ]);
  done = r.stdout.trim();
  await s.waitState(done, ["F"]);
}, 120_000);

afterAll(async () => {
  await s?.mq.stop();
});

/** Runs `line` in bash with the stack's client settings, the CLI binaries first on PATH. */
async function shell(line: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    ...process.env,
    PATH: `${path.resolve("node_modules/.bin")}:${process.env.PATH}`,
    METAQUEUE_CONF: s.conf,
    METAQUEUE_SERVER_URL: "",
    METAQUEUE_CREDENTIAL: s.credential,
    METAQUEUE_TOKEN: "",
  };
  try {
    const r = await exec("bash", ["-c", line], { cwd: s.dir, env, maxBuffer: 16 * 1024 * 1024 });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

describe("PBS exit statuses and messages", () => {
  it("every job command exits pbs_errno & 0xff with PBS's words", async () => {
    const cases: Array<[string, string[], number, string | RegExp]> = [
      ["qsub", ["-q", "nosuch", "--", "/bin/true"], 170, /^qsub: Unknown queue nosuch\n$/],
      [
        "qsub",
        ["-l", "walltime=02:00:00", "--", "/bin/true"],
        188,
        /^qsub: Job violates queue and\/or server resource limits: walltime 02:00:00 > /,
      ],
      ["qdel", ["9999"], 153, "qdel: Unknown Job Id 9999.casper\n"],
      ["qhold", ["9999"], 153, "qhold: Unknown Job Id 9999.casper\n"],
      ["qrls", ["9999"], 153, "qrls: Unknown Job Id 9999.casper\n"],
      ["qalter", ["-N", "x", "9999"], 153, "qalter: Unknown Job Id 9999.casper\n"],
      ["qmove", ["casper", "9999"], 153, "qmove: Unknown Job Id 9999.casper\n"],
      ["qstat", ["9999"], 153, "qstat: Unknown Job Id 9999.casper\n"],
      ["qstat", ["-Q", "nosuch"], 170, "qstat: Unknown queue nosuch\n"],
      ["qdel", [done], 35, `qdel: Job has finished ${done}\n`],
      [
        "qstat",
        [done],
        35,
        `qstat: ${done} Job has finished, use -x or -H to obtain historical job information\n`,
      ],
    ];
    for (const [cmd, args, code, err] of cases) {
      const r = await s.cli(cmd, args);
      const what = `${cmd} ${args.join(" ")}`;
      expect(r.code, what).toBe(code);
      if (typeof err === "string") expect(r.stderr, what).toBe(err);
      else expect(r.stderr, what).toMatch(err);
    }
  });
});

describe("qstat output formats", () => {
  it("-w shows names and users wide; the normal layout cuts them at PBS's widths", async () => {
    const narrow = (await s.cli("qstat", ["-x", done])).stdout.split("\n");
    expect(narrow[2]).toContain(" a_rather_long_j* ");
    const wide = (await s.cli("qstat", ["-x", "-w", done])).stdout.split("\n");
    expect(wide[0]).toBe("Job id                         Name            User             Time Use S Queue");
    expect(wide[2].startsWith(`${done.padEnd(30)} a_rather_long_* `)).toBe(true);
    const alt = (await s.cli("qstat", ["-x", "-a", "-w", done])).stdout.split("\n");
    expect(
      alt[3].startsWith(`${"Job ID".padEnd(30)} ${"Username".padEnd(15)} ${"Queue".padEnd(15)} Jobname`),
    ).toBe(true);
    expect(alt[5].startsWith(`${done.padEnd(30)} `)).toBe(true);
    expect(alt[5]).toContain(" a_rather_long_* ");
  });

  it("-F dsv prints one escaped line per job, with -D's delimiter", async () => {
    const r = await s.cli("qstat", ["-x", "-f", "-F", "dsv", done]);
    expect(r.code).toBe(0);
    const lines = r.stdout.split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0].startsWith(`Job Id: ${done}|Job_Name=a_rather_long_job_name|`)).toBe(true);
    expect(lines[0]).toContain("|Resource_List.ncpus=2|");
    expect(lines[0]).toContain("|Exit_status=0|");
    const comma = await s.cli("qstat", ["-x", "-f", "-F", "dsv", "-D", ",", done]);
    // Variable_List's own commas are already escaped (\,); the delimiter splits only items
    expect(comma.stdout).toContain(`Job Id: ${done},Job_Name=a_rather_long_job_name,`);
    expect(comma.stdout).toMatch(/,Variable_List=PBS_O_[A-Z]+=[^,]*\\,PBS_O_/);
  });

  it("-F json gives numbers as numbers and text as strings, as OpenPBS's qstat", async () => {
    const r = await s.cli("qstat", ["-x", "-f", "-F", "json", done]);
    const j = JSON.parse(r.stdout).Jobs[done];
    expect(j.Resource_List.ncpus).toBe(2);
    expect(j.Resource_List.nodect).toBe(1);
    expect(j.Exit_status).toBe(0);
    expect(j.Priority).toBe(0);
    expect(j.run_count).toBe(1);
    expect(typeof j.Resource_List.walltime).toBe("string");
    expect(typeof j.ctime).toBe("string");
    expect(j.Job_Name).toBe("a_rather_long_job_name");
  });

  it("qstat -f shows the qsub command line as Submit_arguments", async () => {
    const f = script(s.dir, "args.pbs", "#!/bin/bash\n#PBS -N fromscript\ntrue\n");
    const id = (await s.cli("qsub", ["-l", "walltime=00:05:00", "-h", f])).stdout.trim();
    const full = (await s.cli("qstat", ["-f", id])).stdout;
    expect(full).toContain(`    Submit_arguments = -l walltime=00:05:00 -h ${f}\n`);
    const stdin = (await s.cli("qsub", ["-h"], { input: "true\n" })).stdout.trim();
    expect((await s.cli("qstat", ["-f", stdin])).stdout).toContain("    Submit_arguments = -h\n");
    await s.cli("qdel", [id, stdin]);
  });
});

describe("a closed pipe", () => {
  it("qstat | head -1 and a reader that never reads end quietly: no stack trace", async () => {
    // a big -f display (two 60 KB variables) outgrows the 64 KB pipe, so head's exit breaks qstat's write
    const big = "x".repeat(60_000);
    const id = (
      await s.cli("qsub", ["-h", "-v", `BIG=${big}`, "-v", `BIG2=${big}`], { input: "true\n" })
    ).stdout.trim();
    const head = await shell(`qstat -f ${id} | head -1`);
    expect(head.stdout).toBe(`Job Id: ${id}\n`);
    expect(head.stderr).toBe("");
    // `true` never reads: every write of qstat's meets a closed pipe
    const gone = await shell(`qstat -x -f | true; qstat -x | true; echo done`);
    expect(gone.stderr).toBe("");
    expect(gone.stdout).toBe("done\n");
    // and the status is SIGPIPE's, as a shell reports for a C command killed by it
    const status = await shell(`set -o pipefail; qstat -f ${id} | true`);
    expect(status.stderr).toBe("");
    expect(status.code).toBe(141);
    await s.cli("qdel", [id]);
  });
});
