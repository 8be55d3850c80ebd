/**
 * SIGKILL of the whole runtime at exactly "job ended, dependents not released yet"
 * (METAQUEUE_FAULT=kill-after-end, lambdas/fault.ts): DynamoDB holds the parent's end, the SQS
 * emulator's messages are gone, nothing will send the release. On restart (without the fault)
 * the repair sweep finds the held dependents through the wait index and releases them: a local
 * child, a child at a peer, and the rest of a chain across two sites killed in its middle.
 * Asserted with the real CLI (qstat -x -f) and the jobs' own record of their runs.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { type RuntimeProcess, runtimeProcess } from "./runtime-process.js";

const config = {
  defaultSite: "casper",
  sites: [
    { name: "casper", server: "casper-pbs", queues: [{ name: "casper" }], nodes: [{ name: "c1", ncpus: 2 }] },
    { name: "derecho", server: "desched1", queues: [{ name: "main" }], nodes: [{ name: "d1", ncpus: 2 }] },
  ],
};
const probe = ["@casper", "@derecho"];
const env = { METAQUEUE_TICK_MS: "500" };
const started: RuntimeProcess[] = [];

/** The same data folder run twice: first with the fault, then without. */
function runtimes(dir: string, fault: string): { faulty: RuntimeProcess; healthy: RuntimeProcess } {
  const faulty = runtimeProcess(dir, config, { ...env, METAQUEUE_FAULT: fault });
  const healthy = runtimeProcess(dir, config, env);
  started.push(faulty, healthy);
  return { faulty, healthy };
}

async function job(rt: RuntimeProcess, id: string): Promise<Record<string, unknown>> {
  const out = await rt.cli("qstat", ["-x", "-f", "-F", "json", id]);
  return Object.values(JSON.parse(out).Jobs)[0] as Record<string, unknown>;
}

async function waitFor(
  rt: RuntimeProcess,
  id: string,
  states: string[],
  ms: number,
): Promise<Record<string, unknown>> {
  const end = Date.now() + ms;
  let j: Record<string, unknown> = {};
  while (Date.now() < end) {
    j = await job(rt, id);
    if (states.includes(String(j.job_state))) return j;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${id} stuck in ${j.job_state} (${j.comment ?? ""})`);
}

const runs = (dir: string) =>
  fs.existsSync(path.join(dir, "runs.log"))
    ? fs.readFileSync(path.join(dir, "runs.log"), "utf8").split("\n").filter(Boolean)
    : [];

/** A job that records its run, after waiting for the test to say go (when `gate`). */
const body = (dir: string, name: string, gate = false) =>
  `${gate ? `while [ ! -e ${dir}/go ]; do sleep 0.1; done\n` : ""}echo ${name} >> ${dir}/runs.log\n`;

afterAll(async () => {
  await Promise.all(started.map((r) => r.stop()));
});

/** Repairs must come within a few sweeps of the restart: the first tick runs one. */
const REPAIRED_WITHIN_MS = 20_000;

describe("SIGKILL between a job's end and the release of its dependents", () => {
  it("a local child and a child at the peer both run after restart", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-depkill-"));
    const { faulty, healthy } = runtimes(dir, "kill-after-end");
    await faulty.start(probe);
    const cli = faulty.cli;
    const p = (await cli("qsub", ["-N", "P"], body(dir, "P", true))).trim();
    const local = (await cli("qsub", ["-N", "L", "-W", `depend=afterok:${p}`], body(dir, "L"))).trim();
    const remote = (
      await cli("qsub", ["-N", "R", "-q", "main@desched1", "-W", `depend=afterok:${p}`], body(dir, "R"))
    ).trim();
    expect(remote).toMatch(/\.derecho$/);
    await waitFor(faulty, p, ["R"], 30_000);
    expect((await job(faulty, local)).job_state).toBe("H");
    expect((await job(faulty, remote)).job_state).toBe("H");
    await new Promise((r) => setTimeout(r, 1000)); // the peer child's registration lands at casper

    fs.writeFileSync(path.join(dir, "go"), "");
    // P ends; the events handler writes the end and kills the runtime before any release
    await faulty.exited(30_000);
    expect(runs(dir)).toEqual(["P"]);
    expect(fs.readFileSync(path.join(dir, "runtime.log"), "utf8")).toMatch(/METAQUEUE_FAULT=kill-after-end/);

    await healthy.start(probe);
    const t0 = Date.now();
    const jp = await waitFor(healthy, p, ["F"], 5_000);
    expect(jp.Exit_status).toBe(0);
    const jl = await waitFor(healthy, local, ["F"], REPAIRED_WITHIN_MS);
    const jr = await waitFor(healthy, remote, ["F"], REPAIRED_WITHIN_MS);
    console.log(
      `deps restart: both children ended ${Date.now() - t0} ms after the restarted runtime answered`,
    );
    expect(jl.Exit_status).toBe(0);
    expect(jr.Exit_status).toBe(0);
    expect(runs(dir).sort()).toEqual(["L", "P", "R"]);
    await healthy.stop();
  }, 180_000);

  it("a chain across two sites killed in its middle runs to its end, each job once", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-chainkill-"));
    // casper's second end with dependents is C's: A and C run at casper, B and D at derecho
    const { faulty, healthy } = runtimes(dir, "kill-after-end:2");
    await faulty.start(probe);
    const cli = faulty.cli;
    const ids: string[] = [];
    for (const [i, name] of ["A", "B", "C", "D", "E"].entries()) {
      const args = ["-N", name];
      if (i % 2 === 1) args.push("-q", "main@desched1");
      if (i > 0) args.push("-W", `depend=afterok:${ids[i - 1]}`);
      ids.push((await cli("qsub", args, body(dir, name, i === 0))).trim());
    }
    await waitFor(faulty, ids[0], ["R"], 30_000);
    await new Promise((r) => setTimeout(r, 1000)); // registrations at the parents' sites land
    fs.writeFileSync(path.join(dir, "go"), "");

    await faulty.exited(60_000);
    // A, B and C ran; C's end is written; D (at derecho) was never told
    expect(runs(dir)).toEqual(["A", "B", "C"]);

    await healthy.start(probe);
    const t0 = Date.now();
    expect((await waitFor(healthy, ids[2], ["F"], 5_000)).Exit_status).toBe(0);
    expect((await waitFor(healthy, ids[3], ["F"], REPAIRED_WITHIN_MS)).Exit_status).toBe(0);
    expect((await waitFor(healthy, ids[4], ["F"], REPAIRED_WITHIN_MS)).Exit_status).toBe(0);
    console.log(`deps restart: chain finished ${Date.now() - t0} ms after the restarted runtime answered`);
    expect(runs(dir)).toEqual(["A", "B", "C", "D", "E"]);
    await healthy.stop();
  }, 240_000);
});
