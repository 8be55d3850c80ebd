/**
 * The whole local runtime is killed with SIGKILL while jobs run and wait. Its jobs outlive it, as
 * pbs_mom's do: a job that ends while the site is down is reported by the restarted MOM from the
 * status its launcher left on disk, one still running is adopted and ends once; on restart
 * nothing is lost, nothing runs twice, and every job ends with its own exit status.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { smallConfig } from "./helpers.js";
import { runtimeProcess } from "./runtime-process.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-restart-"));
const runtime = runtimeProcess(dir, smallConfig);
const cli = runtime.cli;

async function job(id: string): Promise<Record<string, unknown>> {
  const out = await cli("qstat", ["-x", "-f", "-F", "json", id]);
  return Object.values(JSON.parse(out).Jobs)[0] as Record<string, unknown>;
}

async function waitFor(id: string, states: string[], ms = 60_000): Promise<Record<string, unknown>> {
  const end = Date.now() + ms;
  let j: Record<string, unknown> = {};
  while (Date.now() < end) {
    j = await job(id);
    if (states.includes(String(j.job_state))) return j;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${id} stuck in ${j.job_state}`);
}

afterAll(() => runtime.stop());

describe("SIGKILL of the whole runtime", () => {
  it("loses nothing, runs nothing twice, and every job ends with its own status", async () => {
    await runtime.start();
    const body = (name: string, secs: number) =>
      `cd "$PBS_O_WORKDIR"; echo start >> ${name}.log; sleep ${secs}; echo end >> ${name}.log\n`;
    const a = (await cli("qsub", ["-l", "select=1:ncpus=2", "-N", "A"], body("A", 4))).trim();
    const b = (await cli("qsub", ["-l", "select=1:ncpus=2", "-r", "n", "-N", "B"], body("B", 4))).trim();
    // still running when the site comes back: adopted by the new MOM
    const d = (await cli("qsub", ["-l", "select=1:ncpus=4", "-N", "D"], body("D", 30))).trim();
    const c = (
      await cli("qsub", ["-l", "select=1:ncpus=4", "-N", "C"], 'cd "$PBS_O_WORKDIR"; echo run >> C.log\n')
    ).trim();
    const h = (await cli("qsub", ["-h", "-N", "H"], 'cd "$PBS_O_WORKDIR"; echo held >> H.log\n')).trim();
    for (const id of [a, b, d]) await waitFor(id, ["R"]);
    expect((await job(c)).job_state).toBe("Q");
    const started = (n: string) => fs.existsSync(path.join(dir, `${n}.log`));
    for (let i = 0; i < 40 && !(started("A") && started("B") && started("D")); i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    // the kill must find them running, or the test would not be about jobs outliving the runtime
    expect(["A", "B", "D"].filter((n) => !started(n))).toEqual([]);

    runtime.kill();
    await new Promise((r) => setTimeout(r, 6000)); // longer than A's and B's sleep
    // the jobs outlived the runtime: A and B finished while nobody watched, D still runs
    expect(fs.readFileSync(path.join(dir, "A.log"), "utf8")).toBe("start\nend\n");
    expect(fs.readFileSync(path.join(dir, "B.log"), "utf8")).toBe("start\nend\n");
    expect(fs.readFileSync(path.join(dir, "D.log"), "utf8")).toBe("start\n");

    await runtime.start();
    const ja = await waitFor(a, ["F"]);
    const jb = await waitFor(b, ["F"]);
    for (const j of [ja, jb]) {
      expect(j.Exit_status).toBe(0);
      expect(j.run_count).toBe(1);
    }
    // adopted, not requeued: still R (or, on a slow machine, already F), and run_count stays 1 below
    expect(["R", "F"]).toContain((await job(d)).job_state);
    const jd = await waitFor(d, ["F"]);
    expect(jd.Exit_status).toBe(0);
    expect(jd.run_count).toBe(1);
    expect(fs.readFileSync(path.join(dir, "D.log"), "utf8")).toBe("start\nend\n");
    const jc = await waitFor(c, ["F"]);
    expect(jc.Exit_status).toBe(0);
    expect(fs.readFileSync(path.join(dir, "C.log"), "utf8")).toBe("run\n");
    expect(fs.readFileSync(path.join(dir, "A.log"), "utf8")).toBe("start\nend\n");
    expect(fs.readFileSync(path.join(dir, "B.log"), "utf8")).toBe("start\nend\n");
    expect((await job(h)).job_state).toBe("H");
    await cli("qrls", [h]);
    expect((await waitFor(h, ["F"])).Exit_status).toBe(0);
  }, 150_000);
});
