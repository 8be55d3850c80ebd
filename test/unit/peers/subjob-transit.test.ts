/**
 * Array subjobs move to peers like any job (issue 13, point 3; shared/peers/subjob-transit.ts):
 * over the in-memory federation (sim.ts, the real inbox handlers and the product's memory store),
 * a peer's OFFER takes unstarted subjobs of casper's array 5, each under its own ID; they run at
 * derecho, their ends come back and are counted on the parent exactly once (a duplicated JOB_END
 * too); a transfer that times out puts the subjob back in casper's queue, never back in the
 * parent's list; qdel reaches a subjob in transit, at the peer, and through the array. And the
 * pure parts: the machine's count effect, the transfer IDs of subjobs, the offer's pick.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { jobView } from "../../../shared/api/render.js";
import { PeerBodySchema } from "../../../shared/peers/messages.js";
import { pickForOffer } from "../../../shared/peers/offers.js";
import { originStep } from "../../../shared/peers/origin-machine.js";
import { keyOfTransferKey, transferKey } from "../../../shared/peers/origin.js";
import type { Effect } from "../../../shared/peers/step.js";
import type { JobRecord } from "../../../shared/server/job.js";
import { subjobEnded } from "../../../shared/server/job-end.js";
import { deleteJob } from "../../../shared/server/ops.js";
import { buildRunSpec } from "../../../shared/server/run-spec.js";
import { arraySubjobs, takeIndices } from "../../../shared/server/subjobs.js";
import { jobRecord } from "../../fixtures/job.js";
import { queuedJob } from "./schedule.js";
import {
  bodyOf,
  callCtx,
  deliver,
  makeFederation,
  Network,
  offerToCasper,
  runToEnd,
  type SimSite,
  sweep,
} from "./sim.js";

const alice = { user: "alice" };

async function settle(sites: SimSite[], net: Network, dupJobEnd = false): Promise<void> {
  for (let i = 0; i < 200 && net.inflight.length; i++) {
    const w = net.inflight.shift() as (typeof net.inflight)[number];
    // a JOB_END delivered twice (SQS may): the second must count nothing
    if (dupJobEnd && bodyOf(w).type === "JOB_END") net.inflight.push({ ...w });
    await deliver(sites, net, w, false);
  }
}

/**
 * A copy deleted at the peer reports its end through the events queue, which the simulation
 * does not carry: the peer's sweep sends it (as it re-sends any end not acknowledged).
 */
async function endsBack(sites: SimSite[], net: Network, clock: { t: number }): Promise<void> {
  clock.t += 40_000;
  await sweep(sites[1], net, false);
  await settle(sites, net, true);
}

/** casper's array 5[] of `n` subjobs, none started (two CPUs each: casper's one CPU runs none). */
async function arrayAtCasper(casper: SimSite, now: number, n = 4): Promise<JobRecord> {
  const indices = Array.from({ length: n }, (_, i) => i + 1);
  const parent = {
    ...queuedJob(casper, 5, now),
    id: "5[].casper",
    outPath: "/tmp/out.^array_index^",
    array: { range: `1-${n}`, indices, next: 0, running: 0, done: 0, failed: 0 },
  };
  await casper.store.createJob(parent);
  return parent;
}

function offer(net: Network, now: number, maxJobs: number): void {
  offerToCasper(net, `o${now}-${maxJobs}`, maxJobs, now);
}

async function job(site: SimSite, key: string): Promise<JobRecord> {
  const j = await site.store.getJob(key);
  if (!j) throw new Error(`no job ${key} at ${site.name}`);
  return j;
}

describe("array subjobs move to a peer", () => {
  // mutateJob and the array count back off with real timers after a conflict: no waiting here
  const realSetTimeout = globalThis.setTimeout;
  beforeAll(() => {
    globalThis.setTimeout = ((fn: () => void) => setImmediate(fn)) as unknown as typeof setTimeout;
  });
  afterAll(() => {
    globalThis.setTimeout = realSetTimeout;
  });

  it("an offer takes unstarted subjobs, each runs once at the peer under its ID, and the array ends F at home with its counts", async () => {
    const clock = { t: 1_000_000 };
    const net = new Network();
    const sites = makeFederation(clock, net);
    const [casper, derecho] = sites;
    await arrayAtCasper(casper, clock.t);
    offer(net, clock.t, 3);
    await settle(sites, net);

    // the parent stays home, B, with the three indices taken (counted as running) and 4 left
    const parent = await job(casper, "5");
    expect(parent.state).toBe("B");
    expect(parent.array).toMatchObject({ next: 3, running: 3, done: 0 });
    expect(parent.array?.indices.slice(parent.array.next)).toEqual([4]);
    expect(jobView(parent, casper.ctx.site).attributes).toMatchObject({
      array_indices_remaining: "4",
    });
    // each moved subjob: M at home (listed under its ID, where it runs), a copy at derecho
    for (const i of [1, 2, 3]) {
      const home = await job(casper, `5[${i}]`);
      expect(home).toMatchObject({
        state: "M",
        parentKey: "5",
        arrayIndex: i,
        xfer: { newId: `5[${i}].casper` },
      });
      expect(jobView(home, casper.ctx.site)).toMatchObject({
        id: `5[${i}].casper`,
        attributes: { job_state: "Q", exec_site: "derecho", array_index: i },
      });
      const copy = await job(derecho, `5[${i}]@casper`);
      expect(copy).toMatchObject({ id: `5[${i}].casper`, state: "Q", outPath: `/tmp/out.${i}` });
      expect(copy.parentKey).toBeUndefined(); // a job of its own there
      const spec = buildRunSpec(copy, 10);
      expect(spec.jobId).toBe(`5[${i}].casper`);
      expect(copy.env).toMatchObject({ PBS_ARRAY_INDEX: String(i), PBS_ARRAY_ID: "5[].casper" });
    }
    // qstat -t at home: every subjob under the ID qsub gave it, moved ones where they run
    const listed = await arraySubjobs(casper.ctx, await job(casper, "5"));
    expect(listed.map((s) => [s.id, s.state])).toEqual([
      ["5[1].casper", "M"],
      ["5[2].casper", "M"],
      ["5[3].casper", "M"],
      ["5[4].casper", "Q"],
    ]);

    // 5[4] never runs: deleted before it started
    await deleteJob(callCtx(casper, net.inflight), "5[4].casper", alice);
    // 5[1] and 5[2] run at derecho; their JOB_ENDs are delivered twice each
    expect(await runToEnd(derecho, net, "5[1]@casper", 7)).toBe(true);
    expect(await runToEnd(derecho, net, "5[2]@casper", 11)).toBe(true);
    await settle(sites, net, true);
    let p = await job(casper, "5");
    expect(p.array).toMatchObject({ running: 1, done: 2, failed: 0, deleted: [4] });
    expect(p.state).toBe("B");
    // qdel of 5[3], queued at derecho: the delete reaches it there, its end comes back
    const r = await deleteJob(callCtx(casper, net.inflight), "5[3].casper", alice);
    expect(r.movedTo).toBe("5[3].casper");
    await settle(sites, net);
    expect((await job(derecho, "5[3]@casper")).state).toBe("F");
    await endsBack(sites, net, clock);
    p = await job(casper, "5");
    expect(p.array).toMatchObject({ running: 0, done: 3, failed: 0 });
    expect(p.state).toBe("F");
    expect(p.exitStatus).toBe(0);
    // asked to count again (the repair sweep, a JOB_END handled twice at once): nothing more
    await subjobEnded(casper.ctx, await job(casper, "5[1]"));
    expect((await job(casper, "5")).array).toMatchObject({ running: 0, done: 3 });
    // each subjob ended once, and its usage was charged once at home (E for a run, D for a delete)
    const acct = casper.store.acct.filter((a) => a.type === "E" || a.type === "D");
    expect(acct.map((a) => `${a.type} ${a.jobId}`).sort()).toEqual([
      "D 5[3].casper",
      "E 5[1].casper",
      "E 5[2].casper",
    ]);
    expect(casper.store.projects.get("P1")?.walltime.derecho).toBe(18);
    expect(derecho.store.projects.get("D1")?.walltime.for_casper).toBe(18);
  });

  it("a transfer that times out puts the subjob back in the origin's queue (not the parent's list): it moves again and runs once", async () => {
    const clock = { t: 1_000_000 };
    const net = new Network();
    const sites = makeFederation(clock, net);
    const [casper, derecho] = sites;
    await arrayAtCasper(casper, clock.t, 2);
    offer(net, clock.t, 1);
    // the OFFER is handled, its FORWARD lost
    await deliver(sites, net, net.inflight.shift() as (typeof net.inflight)[number], false);
    expect(net.inflight.map((w) => bodyOf(w).type)).toEqual(["FORWARD"]);
    const lost = net.inflight.shift() as (typeof net.inflight)[number];
    expect((await job(casper, "5[1]")).state).toBe("T");
    clock.t += 60_000;
    await sweep(casper, net, false);
    const back = await job(casper, "5[1]");
    expect(back.state).toBe("Q");
    // in the ready index on its own; the parent does not list index 1 again (it would run twice)
    const ready = await casper.store.queryReady("casper", 10);
    expect(ready.map((j) => j.key).sort()).toEqual(["5", "5[1]"]);
    const parent = await job(casper, "5");
    expect(parent.array?.indices.slice(parent.array.next)).toEqual([2]);
    expect(parent.array?.running).toBe(1);
    const listed = await arraySubjobs(casper.ctx, parent);
    expect(listed.map((s) => [s.id, s.state])).toEqual([
      ["5[1].casper", "Q"],
      ["5[2].casper", "Q"],
    ]);
    // the lost FORWARD arrives late: refused (deadline passed), nothing created there
    net.inflight.push(lost);
    await settle(sites, net);
    expect(derecho.store.jobs.size).toBe(0);
    // the next offer takes both: 5[1] as the job it now is, 5[2] from the array
    offer(net, clock.t, 2);
    await settle(sites, net);
    expect((await job(casper, "5[1]")).state).toBe("M");
    expect((await job(casper, "5[2]")).state).toBe("M");
    for (const k of ["5[1]@casper", "5[2]@casper"]) expect(await runToEnd(derecho, net, k, 3)).toBe(true);
    await settle(sites, net, true);
    const done = await job(casper, "5");
    expect(done.state).toBe("F");
    expect(done.array).toMatchObject({ running: 0, done: 2 });
  });

  it("qdel of a subjob in transit: X at home, counted once; the ACCEPT that follows is answered ABORT", async () => {
    const clock = { t: 1_000_000 };
    const net = new Network();
    const sites = makeFederation(clock, net);
    const [casper, derecho] = sites;
    await arrayAtCasper(casper, clock.t, 1);
    offer(net, clock.t, 1);
    await deliver(sites, net, net.inflight.shift() as (typeof net.inflight)[number], false);
    expect((await job(casper, "5[1]")).state).toBe("T");
    await deleteJob(callCtx(casper, net.inflight), "5[1].casper", alice);
    expect((await job(casper, "5[1]")).state).toBe("X");
    await settle(sites, net); // FORWARD -> ACCEPT -> ABORT: the copy is dropped
    expect(derecho.store.jobs.size).toBe(0);
    const parent = await job(casper, "5");
    expect(parent.state).toBe("F");
    expect(parent.array).toMatchObject({ running: 0, done: 1, failed: 0 });
  });

  it("qdel of the array (5[]) reaches its subjobs at the peer; the array ends F when their ends are counted", async () => {
    const clock = { t: 1_000_000 };
    const net = new Network();
    const sites = makeFederation(clock, net);
    const [casper, derecho] = sites;
    await arrayAtCasper(casper, clock.t, 4);
    offer(net, clock.t, 2);
    await settle(sites, net);
    await deleteJob(callCtx(casper, net.inflight), "5[].casper", alice);
    // the two left never run; the two at derecho are deleted there
    expect((await job(casper, "5")).array).toMatchObject({ deleted: [3, 4], running: 2 });
    expect((await job(casper, "5")).state).toBe("B");
    await settle(sites, net);
    for (const k of ["5[1]@casper", "5[2]@casper"]) expect((await job(derecho, k)).state).toBe("F");
    await endsBack(sites, net, clock);
    const parent = await job(casper, "5");
    expect(parent.state).toBe("F");
    expect(parent.array).toMatchObject({ running: 0, done: 2 });
  });
});

describe("subjobs: the pure parts", () => {
  it("the machine counts a moved subjob's end on its array when it is recorded, and again until counted, never after", () => {
    const xfer = { id: "casper-5_3-aaaa", peer: "derecho", into: "main", deadline: 1, newId: "5[3].casper" };
    const sub = jobRecord(5, {
      key: "5[3]",
      id: "5[3].casper",
      parentKey: "5",
      arrayIndex: 3,
      state: "M",
      xfer,
    });
    const end = {
      kind: "jobEnd",
      now: 10,
      peer: { short: "derecho", server: "desched1" },
      m: {
        type: "JOB_END",
        transferId: xfer.id,
        originId: "5[3].casper",
        newId: "5[3].casper",
        exitStatus: 0,
        deleted: false,
        obittime: 9,
        user: "alice",
      },
    } as const;
    const counts = (effects: Effect[]) => effects.filter((e) => e.kind === "countOnArray").length;
    const first = originStep(sub, end);
    expect(first.effects.map((e) => e.kind)).toEqual(["write", "send", "countOnArray"]);
    // recorded, not counted yet (a crash between): a re-sent JOB_END asks for the count again
    const recorded = first.state as JobRecord;
    expect(counts(originStep(recorded, end).effects)).toBe(1);
    // counted: nothing more, only the acknowledgement
    const counted = { ...recorded, extra: { counted: "1" } };
    expect(originStep(counted, end).effects.map((e) => e.kind)).toEqual(["send"]);
    // a plain job's end is never counted on an array
    expect(counts(originStep({ ...sub, parentKey: undefined }, end).effects)).toBe(0);
  });

  it("a subjob's key travels in transfer IDs the message schema accepts, and comes back", () => {
    for (const key of ["12[3]", "12[3]@casper", "103", "103@casper"]) {
      const id = `casper-${transferKey(key)}-abcd1234`;
      expect(PeerBodySchema.safeParse({ type: "ABORT", transferId: id, reason: "x" }).success).toBe(true);
      expect(keyOfTransferKey(transferKey(key))).toBe(key);
    }
  });

  it("taking indices moves them to the head of the unstarted part and counts them running", () => {
    const a = { range: "1-6", indices: [1, 2, 3, 4, 5, 6], next: 1, running: 1, done: 0, failed: 0 };
    expect(takeIndices(a, [5, 3])).toMatchObject({ indices: [1, 3, 5, 2, 4, 6], next: 3, running: 3 });
  });

  it("an offer picks the subjobs that would not start at home, within the array's slot limit", () => {
    const now = 1000;
    const parent = {
      ...jobRecord(7, { queue: "workq" }),
      array: { range: "1-6", indices: [1, 2, 3, 4, 5, 6], next: 0, running: 0, done: 0, failed: 0, max: 4 },
    };
    const picked = pickForOffer({
      now,
      ready: [parent],
      localNodes: [{ name: "c1", state: "free", available: { ncpus: 1, mem: 2 ** 34, ngpus: 0 } }],
      running: [],
      queue: { name: "workq", priority: 0, started: true },
      offered: [{ ncpus: 8, mem: 2 ** 34, ngpus: 0 }],
      maxJobs: 10,
    });
    // four slots (max 4): 7[1] starts at home, 7[2..4] go
    expect(picked).toEqual(["7[2]", "7[3]", "7[4]"]);
  });
});
