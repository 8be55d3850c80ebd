/**
 * SIGKILL mid-transfer: the whole local runtime (both sites, DynamoDB Local, the SQS emulator
 * and its in-flight messages, the MOMs) dies while derecho is pulling casper's overflow. On
 * restart the transfer outbox re-sends what was lost; every job ends exactly once, none runs at
 * two sites or twice, and no copy is left waiting in transit.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { pullPairConfig, QUICK_TRANSFERS, runtimeProcess, siteJobs } from "./runtime-process.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-fedkill-"));
const runtime = runtimeProcess(dir, pullPairConfig(1, 4), {
  METAQUEUE_TICK_MS: "300",
  METAQUEUE_SETTINGS: JSON.stringify({ ...QUICK_TRANSFERS, momStaleMs: 3000, dispatchGraceMs: 5000 }),
});
const cli = runtime.cli;
const probe = ["@casper", "@derecho"];

type Jobs = Record<string, Record<string, unknown>>;

const list = (server: string): Promise<Jobs> => siteJobs(cli, server);

afterAll(() => runtime.stop());

describe("SIGKILL of both sites in the middle of transfers", () => {
  it("ends every job exactly once", async () => {
    await runtime.start(probe);
    const filler = (await cli("qsub", ["-r", "n", "-N", "filler"], "sleep 300\n")).trim();
    for (let i = 0; i < 40 && (await list("casper"))[filler]?.job_state !== "R"; i++)
      await new Promise((r) => setTimeout(r, 250));
    // without the filler running, casper would run the jobs itself and no transfer would be killed
    const f = (await list("casper"))[filler];
    expect(f?.job_state, JSON.stringify(f)).toBe("R");
    const ids: string[] = [];
    for (let i = 0; i < 8; i++)
      ids.push(
        (
          await cli("qsub", ["-r", "n", "-N", `j${i}`], `echo $PBS_JOBNAME >> ${dir}/runs.log\nsleep 1\n`)
        ).trim(),
      );

    // kill as soon as the first transfer is under way: a job in transit (T), or one that has left
    // Q already (the origin shows a moved job in its state at the peer: R, then F). Waiting for a T
    // alone let a loaded CI run poll past every short T until all eight had ended at derecho.
    let atKill: string[] = [];
    for (let i = 0; i < 200; i++) {
      const jobs = await list("casper");
      atKill = ids.map((id) => String(jobs[id]?.job_state));
      if (atKill.some((s) => s !== "Q")) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    runtime.kill();
    console.log(`federation restart: origin states at SIGKILL: ${atKill.join(" ")}`);
    // some work was still to move when the runtime died
    expect(atKill.filter((s) => s === "Q" || s === "T").length).toBeGreaterThan(0);
    await new Promise((r) => setTimeout(r, 1500));

    await runtime.start(probe);
    // the filler survives the restart (its MOM re-adopts it) and keeps casper's node: the jobs
    // must all be pulled, those whose transfer died with the runtime too (offered again)
    // generous: a cycle trigger left in flight by the kill locks its partition's FIFO group for
    // the scheduler queue's visibility (60 s) before transfers and runs can finish
    const end = Date.now() + 150_000;
    let home: Jobs = {};
    let there: Jobs = {};
    for (;;) {
      [home, there] = [await list("casper"), await list("desched1")];
      const done = ids.every((id) => {
        const j = home[id];
        // a moved job is listed under its ID, F at its origin once its end came back
        return j && j.job_state === "F";
      });
      const limbo = Object.values(there).some((j) => j.job_state === "T");
      if (done && !limbo) break;
      if (Date.now() > end)
        throw new Error(
          `not settled: ${JSON.stringify(ids.map((id) => [id, home[id]?.job_state, home[id]?.exec_site]))}\n` +
            `filler: ${JSON.stringify(home[filler])}\n` +
            `stuck: ${JSON.stringify(ids.filter((id) => home[id]?.job_state !== "F").map((id) => home[id]))}\n` +
            `nodes: ${await cli("pbsnodes", ["-a", "-s", "casper-pbs"]).catch((e) => String(e))}`,
        );
      await new Promise((r) => setTimeout(r, 500));
    }
    const copies = new Map<string, string[]>();
    for (const [id, j] of Object.entries(there)) {
      if (j.origin_job) copies.set(String(j.origin_job), [...(copies.get(String(j.origin_job)) ?? []), id]);
    }
    const runs = fs.existsSync(path.join(dir, "runs.log"))
      ? fs.readFileSync(path.join(dir, "runs.log"), "utf8")
      : "";
    let moved = 0;
    for (const [i, id] of ids.entries()) {
      const j = home[id];
      const c = copies.get(id) ?? [];
      if (j.exec_site === "derecho") {
        moved++;
        expect(c).toEqual([id]); // exactly one copy, under the same ID, where the origin says
        expect(there[c[0]].job_state).toBe("F");
      } else expect(c).toEqual([]); // stayed home: no copy anywhere
      // ran at most once, anywhere; and a job that ended with 0 ran exactly once
      const lines = runs.split("\n").filter((l) => l === `j${i}`).length;
      expect(lines).toBeLessThanOrEqual(1);
      if (j.Exit_status === 0) expect(lines).toBe(1);
    }
    expect(moved).toBeGreaterThan(0);
  }, 240_000);
});
