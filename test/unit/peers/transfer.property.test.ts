/**
 * Exactly once, under any schedule of faults: long random interleavings of message delivery,
 * loss, duplication, reordering, long delays, clock jumps past transfer deadlines and resend
 * backoffs, handler crashes between write and send, two handlers at once on a site, sweeps,
 * local runs at the origin, runs at the receiver, and the late-ACCEPT order (the origin times a
 * transfer out, then the ACCEPT arrives). Safety is checked after every step; after the network
 * heals, every job is in exactly one place, ran at most once, ended once, and both sites'
 * accounting agrees. An array job's subjobs (0 to 3 of them) move too, pushed or offered, or
 * start at home: each runs at most once, and the array counts each end once (after every step).
 *
 * MQ_PROPTEST_RUNS (default 10000) and MQ_PROPTEST_SEED (default random; fast-check prints the
 * seed and path of a failure) rerun it; MQ_PROPTEST_NO_SHRINK=1 stops at the first failure
 * without shrinking. test/unit/peers/MUTANTS.md lists the bugs it must catch
 * (scripts/mutants.sh).
 */
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { JobRecord } from "../../../shared/server/job.js";
import { type Exercised, ScheduleArb, type SimResult, simulate, type Step } from "./schedule.js";

const NUM_RUNS = Number(process.env.MQ_PROPTEST_RUNS ?? 10_000);
const SEED = process.env.MQ_PROPTEST_SEED === undefined ? undefined : Number(process.env.MQ_PROPTEST_SEED);
/** scripts/mutants.sh: report the first failing schedule without shrinking it (faster) */
const NO_SHRINK = process.env.MQ_PROPTEST_NO_SHRINK === "1";

function check(r: SimResult) {
  const { casper, derecho, net } = r;
  expect(net.inflight.length).toBe(0);
  expect(net.held.length).toBe(0);
  const copies = new Map<string, JobRecord[]>();
  for (const j of derecho.store.jobs.values()) {
    expect(j.state).not.toBe("T"); // nothing left in limbo
    const o = j.inbound?.originId;
    expect(o).toMatch(/\.casper$/);
    copies.set(o as string, [...(copies.get(o as string) ?? []), j]);
  }
  for (const origin of copies.keys()) expect(casper.store.jobs.has(origin.split(".")[0])).toBe(true);
  let movedWalltime = 0;
  let movedCore = 0;
  for (const j of casper.store.jobs.values()) {
    const c = copies.get(j.id) ?? [];
    const acct = casper.store.acct.filter((a) => a.jobId === j.id);
    if (j.array) {
      // the array stays home; after the heal every subjob that ran (here X, there M) is counted
      const subs = [...casper.store.jobs.values()].filter((x) => x.parentKey === j.key);
      const ended = subs.filter((x) => x.state === "X" || (x.state === "M" && x.obittime !== undefined));
      expect(j.array.done).toBe(ended.length);
      expect(subs.filter((x) => x.extra?.counted === "1").length).toBe(ended.length);
      expect(j.state).toBe(j.array.done === j.array.indices.length ? "F" : j.array.next > 0 ? "B" : "Q");
      expect(c).toEqual([]);
      expect(acct).toEqual([]);
    } else if (j.state === "X") {
      // a subjob that ran here, once; no copy anywhere
      expect(c).toEqual([]);
      expect(r.remoteRuns.get(j.id) ?? 0).toBe(0);
      expect(r.localRuns.get(j.id)).toBe(1);
    } else if (j.state === "M") {
      // moved: exactly one copy, the one it points at, which ran once and reported its end once
      expect(c.map((x) => x.id)).toEqual([j.movedTo]);
      expect(r.localRuns.get(j.id) ?? 0).toBe(0); // never ran here too
      expect(r.remoteRuns.get(j.id)).toBe(1);
      expect(c[0].state).toBe("F");
      expect(c[0].inbound?.endAcked).toBe(true);
      expect(j.obittime).toBeTypeOf("number");
      expect(j.obittime).toBe(c[0].obittime);
      expect(j.exitStatus).toBe(0);
      expect(acct.map((a) => a.type).sort()).toEqual(["E", "M"]);
      const used = c[0].used;
      expect(used?.walltime).toBeGreaterThan(0);
      movedWalltime += used?.walltime ?? Number.NaN;
      movedCore += (used?.walltime ?? Number.NaN) * (used?.ncpus ?? Number.NaN);
    } else {
      // stayed (queued, or ran here): no copy anywhere, and at most one local run
      expect(["Q", "F"]).toContain(j.state);
      expect(c).toEqual([]);
      expect(r.remoteRuns.get(j.id) ?? 0).toBe(0);
      expect(r.localRuns.get(j.id) ?? 0).toBe(j.state === "F" ? 1 : 0);
      expect(acct).toEqual([]);
    }
  }
  // accounting: charged once at home, equal at both ends, equal to what ran
  const home = casper.store.projects.get("P1");
  const there = derecho.store.projects.get("D1");
  expect(home?.walltime.derecho ?? 0).toBe(movedWalltime);
  expect(there?.walltime.for_casper ?? 0).toBe(movedWalltime);
  expect(home?.coreSeconds.derecho ?? 0).toBe(movedCore);
  expect(there?.coreSeconds.for_casper ?? 0).toBe(movedCore);
}

const step = (op: Step["op"], pick = 0, dt = 0, seed = 1): Step => ({ op, pick, dt, seed });

describe("peer transfer protocol under faults", () => {
  // mutateJob backs off with real timers (up to 20 ms x attempt) after a conflict; concurrent
  // handlers conflict often, and 10,000 schedules cannot wait for the wall clock. Backing off
  // to the next turn of the event loop keeps the order of events, not the waiting.
  const realSetTimeout = globalThis.setTimeout;
  beforeAll(() => {
    globalThis.setTimeout = ((fn: () => void) => setImmediate(fn)) as unknown as typeof setTimeout;
  });
  afterAll(() => {
    globalThis.setTimeout = realSetTimeout;
  });

  it("an array's subjobs pushed and offered: each moves or starts here, runs and is counted once", async () => {
    const r = await simulate(0, [step("push"), step("offer", 1), step("runLocal")], 4); // offer: maxJobs 2
    check(r);
    // one pushed, two offered, one started here (before the offer is delivered)
    const states = [...r.casper.store.jobs.values()].map((j) => j.state).sort();
    expect(states).toEqual(["F", "M", "M", "M", "X"]);
    expect(r.casper.store.jobs.get("100")?.array).toMatchObject({ done: 4, running: 0, failed: 0 });
  });

  it("a clean push moves, runs and accounts once", async () => {
    const r = await simulate(3, [step("push"), step("push"), step("offer", 2)]); // offer: maxJobs 3
    check(r);
    expect([...r.casper.store.jobs.values()].filter((j) => j.state === "M").length).toBe(3);
  });

  it("an ACCEPT that arrives after the origin timed out is answered ABORT: no second copy runs", async () => {
    const r = await simulate(1, [
      step("push"),
      step("deliver"), // FORWARD -> ACCEPT in flight
      step("jump", 0, 10_000), // 18 s: past the deadline and its margin
      step("sweepOrigin"), // timed out: back to Q, ABORT sent
      step("runLocal"), // and it runs here
    ]);
    check(r);
    expect(r.exercised.timedOut).toBe(true);
    expect(r.exercised.lateAccept).toBe(true);
    expect([...r.casper.store.jobs.values()].map((j) => j.state)).toEqual(["F"]);
    expect(r.derecho.store.jobs.size).toBe(0);
  });

  it("the late-ACCEPT step: FORWARD, timeout at the origin, then ACCEPT, with the job run here", async () => {
    const r = await simulate(1, [step("lateAccept", 0, 0, 2)]);
    check(r);
    expect(r.exercised.lateAccept).toBe(true);
    expect(r.localRuns.get("1.casper")).toBe(1);
  });

  it(`holds for ${NUM_RUNS} long random schedules (loss, duplication, delay, crashes, concurrency, late ACCEPT)`, async () => {
    const seen: Record<keyof Exercised, number> = {
      timedOut: 0,
      lateAccept: 0,
      duplicated: 0,
      concurrent: 0,
      moved: 0,
      crashed: 0,
      subjobMoved: 0,
    };
    let runs = 0;
    let steps = 0;
    await fc.assert(
      fc.asyncProperty(ScheduleArb, async ([n, subs, schedule]) => {
        const r = await simulate(n, schedule, subs);
        check(r);
        runs++;
        steps += schedule.length;
        for (const k of Object.keys(seen) as (keyof Exercised)[]) if (r.exercised[k]) seen[k]++;
      }),
      { numRuns: NUM_RUNS, seed: SEED, endOnFailure: NO_SHRINK },
    );
    // What the schedules reached: each of the hard cases in well over one schedule in ten.
    const share = Object.fromEntries(
      Object.entries(seen).map(([k, v]) => [k, `${((100 * v) / runs).toFixed(1)}%`]),
    );
    console.log(
      `transfer property: ${runs} schedules, ${(steps / runs).toFixed(1)} steps on average; share of schedules that exercised:`,
      share,
    );
    for (const k of [
      "timedOut",
      "lateAccept",
      "duplicated",
      "concurrent",
      "moved",
      "crashed",
      "subjobMoved",
    ] as const)
      expect(seen[k] / runs, k).toBeGreaterThan(0.1);
  }, 600_000);
});
