/**
 * Array subjobs move to peers like any job (issue 13, point 3), on the local stack with real
 * parts (DynamoDB Local, the SQS emulator, child-process MOMs running real scripts, the real CLI):
 * casper (two CPUs, busy) and derecho (four CPUs, pulling casper's queue: pullPairConfig). Each
 * subjob keeps the ID qsub gave it, runs exactly once wherever it runs, and its end is counted on
 * the array at home, which ends F with the right counts; qdel reaches a moved subjob queued or
 * running at the peer, and qdel of the array reaches them all.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { parseConfig } from "../../shared/config/site-config.js";
import { idsOf, type Stack, startStack } from "./helpers.js";
import { pullPairConfig } from "./runtime-process.js";

let s: Stack;

beforeAll(async () => {
  s = await startStack(undefined, parseConfig(pullPairConfig(2, 4)), {
    tickMs: 300,
    settings: { transferResendMs: 1000, transferTimeoutMs: 8000, offerIntervalMs: 200, peerStaleMs: 3000 },
  });
}, 90_000);
afterAll(async () => {
  await s?.mq.stop();
});

async function until<T>(what: string, f: () => Promise<T | undefined | false>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

async function qsub(args: string[], body: string): Promise<string> {
  const r = await s.cli("qsub", args, { input: body });
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

/** The subjob IDs of array `id` (`12[].casper` -> `12[i].casper`). */
const subjobIds = (id: string, n: number) =>
  Array.from({ length: n }, (_, i) => id.replace("[]", `[${i + 1}]`));

describe("array subjobs at a peer", () => {
  // casper's two CPUs taken by pinned sleepers (a peer must not take them): its subjobs overflow
  let fillers: string[] = [];
  beforeAll(async () => {
    for (let i = 0; i < 2; i++)
      fillers.push(
        await qsub(["-W", "pinned=true", "-l", "select=1:ncpus=1", "-l", "walltime=00:05:00"], "sleep 300\n"),
      );
    for (const f of fillers) await s.waitState(f, ["R"], 60_000);
  }, 90_000);
  afterAll(async () => {
    if (fillers.length) await s.cli("qdel", fillers);
  });

  it("qdel at home reaches a moved subjob queued at the peer, one running there, and the rest through the array", async () => {
    // derecho's queue stopped: what it pulls stays queued there until it is started again
    const stop = await s.cli("qmgr", ["-c", "set queue main started = False", "desched1"]);
    expect(stop.code).toBe(0);
    onTestFinished(async () => {
      await s.cli("qmgr", ["-c", "set queue main started = True", "desched1"]);
    });
    const id = await qsub(
      ["-J", "1-4", "-N", "delarr", "-l", "select=1:ncpus=1", "-l", "walltime=00:05:00"],
      "sleep 300\n",
    );
    const subs = subjobIds(id, 4);
    // every subjob moves (casper is full; derecho has room for all four), and waits there
    for (const sj of subs)
      await until(`${sj} queued at derecho`, async () => {
        return (await s.attr(sj, "exec_site")) === "derecho" && (await s.attr(sj, "job_state")) === "Q";
      });
    // qdel of one queued at the peer: deleted there, its end counted at home
    const d1 = await s.cli("qdel", [subs[1]]);
    expect(d1).toMatchObject({ code: 0, stderr: "" });
    await until(`${subs[1]} ended`, async () => (await s.attr(subs[1], "job_state")) === "X");
    // the rest start at derecho; qdel of one running there
    expect((await s.cli("qmgr", ["-c", "set queue main started = True", "desched1"])).code).toBe(0);
    await until(`${subs[0]} running at derecho`, async () => (await s.attr(subs[0], "job_state")) === "R");
    expect((await s.attr(subs[0], "server")) ?? "").toBe("desched1");
    expect((await s.cli("qdel", [subs[0]])).code).toBe(0);
    await until(`${subs[0]} ended`, async () => (await s.attr(subs[0], "job_state")) === "X");
    expect(await s.attr(id, "job_state")).toBe("B");
    // qdel of the array reaches the two still at derecho
    expect((await s.cli("qdel", [id])).code).toBe(0);
    await s.waitState(id, ["F"], 60_000);
    for (const sj of subs) expect(await s.attr(sj, "job_state")).toBe("X");
    const a = await s.attr(id, "array_state_count");
    expect(a).toBe("Queued:0 Running:0 Exiting:0 Expired:4 ");
  }, 180_000);

  it("an array of 6 on busy casper: derecho pulls subjobs, each runs once under its ID, the array ends F at home with its counts", async () => {
    const runs = path.join(s.dir, "runs.txt");
    fs.rmSync(runs, { force: true });
    const id = await qsub(
      ["-J", "1-6", "-N", "arr6", "-l", "select=1:ncpus=1", "-l", "walltime=00:05:00"],
      `#!/bin/bash\necho "$PBS_JOBID $PBS_ARRAY_INDEX" >> "$PBS_O_WORKDIR/runs.txt"\nsleep 2\n`,
    );
    const seq = id.split("[")[0];
    const subs = subjobIds(id, 6);
    // derecho takes what fits its room; then casper frees up and runs what is left, if any (two
    // offers of derecho's in flight at once may take all six: its room is not reserved per offer)
    await until("a subjob moved", async () => {
      for (const sj of subs) if ((await s.attr(sj, "exec_site")) === "derecho") return true;
      return false;
    });
    await s.cli("qdel", fillers);
    fillers = [];
    await s.waitState(id, ["F"], 120_000);

    // each subjob ran exactly once, under the ID qsub gave it, with its index
    const lines = fs.readFileSync(runs, "utf8").trim().split("\n").sort();
    expect(lines).toEqual(subs.map((sj, i) => `${sj} ${i + 1}`).sort());
    // the array at home: F, every subjob counted once, none failed
    expect(await s.attr(id, "array_state_count")).toBe("Queued:0 Running:0 Exiting:0 Expired:6 ");
    expect(await s.attr(id, "array_indices_remaining")).toBe("-");
    expect(await s.attr(id, "Exit_status")).toBe("0");
    // qstat -t at home lists every subjob under its ID, moved ones with where they ran
    const t = await s.cli("qstat", ["-x", "-t", `${seq}[]`]);
    expect(idsOf(t.stdout)).toEqual([id, ...subs]);
    const where = await Promise.all(subs.map((sj) => s.attr(sj, "exec_site")));
    const moved = where.filter((w) => w === "derecho").length;
    expect(moved).toBeGreaterThan(0);
    console.log(`array-peers: ${moved} of 6 subjobs ran at derecho, ${6 - moved} at casper`);
    for (const [i, sj] of subs.entries()) {
      expect(await s.attr(sj, "job_state")).toBe("X");
      expect(await s.attr(sj, "Exit_status")).toBe("0");
      // output under the origin's name, wherever it ran
      expect(fs.existsSync(path.join(s.dir, `arr6.o${seq}.${i + 1}`))).toBe(true);
    }
    // a moved subjob's end and usage are recorded once at home (E, with where it ran)
    const casper = s.mq.sites.find((x) => x.ctx.site.short === "casper");
    const recs = (await casper?.ctx.store.listAcct(new Date().toISOString().slice(0, 10))) ?? [];
    for (const [i, sj] of subs.entries()) {
      const ends = recs.filter((r) => r.jobId === sj && r.type === "E");
      if (where[i] === "derecho") {
        expect(ends).toHaveLength(1);
        expect(ends[0].data.exec_site).toBe("derecho");
      }
    }
  }, 240_000);
});
