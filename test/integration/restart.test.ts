/**
 * The whole local runtime is killed with SIGKILL while jobs run and wait; on restart nothing is
 * lost, a rerunnable job runs again, a non-rerunnable one ends with a reason, and no job keeps
 * running from the killed runtime (its processes die with their MOM).
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
  it("loses nothing, reruns only what may rerun, and every job ends with a reason", async () => {
    await runtime.start();
    const body = (name: string) => `echo start >> ${name}.log; sleep 4; echo end >> ${name}.log\n`;
    const a = (await cli("qsub", ["-l", "select=1:ncpus=4", "-N", "A"], body("A"))).trim();
    const b = (await cli("qsub", ["-l", "select=1:ncpus=4", "-r", "n", "-N", "B"], body("B"))).trim();
    const c = (await cli("qsub", ["-l", "select=1:ncpus=4", "-N", "C"], "echo run >> C.log\n")).trim();
    const h = (await cli("qsub", ["-h", "-N", "H"], "echo held >> H.log\n")).trim();
    await waitFor(a, ["R"]);
    await waitFor(b, ["R"]);
    expect((await job(c)).job_state).toBe("Q");
    for (
      let i = 0;
      i < 40 && !(fs.existsSync(path.join(dir, "A.log")) && fs.existsSync(path.join(dir, "B.log")));
      i++
    ) {
      await new Promise((r) => setTimeout(r, 100));
    }

    runtime.kill();
    await new Promise((r) => setTimeout(r, 6000)); // longer than the jobs' sleep: an orphan would finish
    expect(fs.readFileSync(path.join(dir, "A.log"), "utf8")).toBe("start\n");
    expect(fs.readFileSync(path.join(dir, "B.log"), "utf8")).toBe("start\n");

    await runtime.start();
    const ja = await waitFor(a, ["F"]);
    const jb = await waitFor(b, ["F"]);
    const jc = await waitFor(c, ["F"]);
    expect(ja.Exit_status).toBe(0);
    expect(ja.run_count).toBe(2);
    expect(fs.readFileSync(path.join(dir, "A.log"), "utf8")).toBe("start\nstart\nend\n");
    expect(jb.Exit_status).toBe(-2);
    expect(String(jb.comment)).toMatch(/not rerunnable/);
    expect(fs.readFileSync(path.join(dir, "B.log"), "utf8")).toBe("start\n");
    expect(jc.Exit_status).toBe(0);
    expect(fs.readFileSync(path.join(dir, "C.log"), "utf8")).toBe("run\n");
    expect((await job(h)).job_state).toBe("H");
    await cli("qrls", [h]);
    expect((await waitFor(h, ["F"])).Exit_status).toBe(0);
  }, 150_000);
});
