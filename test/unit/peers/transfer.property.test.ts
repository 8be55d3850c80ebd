/**
 * Exactly once, under any schedule of faults: random interleavings of message delivery, loss,
 * duplication, reordering, delay (deadlines pass), handler crashes between write and send, sweeps,
 * local runs at the origin and runs at the receiver. After the network heals, every job is in
 * exactly one place, ran at most once, ended once, and both sites' accounting agrees.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { sealPeerMessage } from "../../../shared/peers/messages.js";
import { forwardJob } from "../../../shared/peers/transfer.js";
import type { JobRecord } from "../../../shared/server/job.js";
import { deliver, makeFederation, Network, runToEnd, type SimSite, sweep } from "./sim.js";

function queuedJob(site: SimSite, seq: number, now: number): JobRecord {
  return {
    id: `${seq}.${site.name}`,
    key: String(seq),
    seq,
    site: site.name,
    state: "Q",
    holds: "",
    queue: "casper",
    partition: "default",
    name: `job${seq}`,
    owner: "alice@host",
    user: "alice",
    account: "P1",
    script: "#!/bin/bash\ntrue\n",
    submitDir: "/tmp",
    submitHost: "host",
    rl: { ncpus: "2", nodect: "1", select: "1:ncpus=2", place: "pack", walltime: "00:10:00" },
    sel: [{ count: 1, ncpus: 2, mem: 0, ngpus: 0, mpiprocs: 1 }] as JobRecord["sel"],
    walltime: 600,
    priority: 0,
    rerunnable: true,
    join: "n",
    outPath: "/tmp/o",
    errPath: "/tmp/e",
    env: {},
    ctime: now,
    qtime: now,
    mtime: now,
    runCount: 0,
    hist: [],
    ver: 0,
  };
}

const Step = fc.record({
  op: fc.constantFrom(
    "deliver",
    "deliver",
    "deliver",
    "deliver",
    "dup",
    "drop",
    "crash",
    "tick",
    "tick",
    "sweepOrigin",
    "sweepReceiver",
    "runRemote",
    "runLocal",
    "offer",
    "push",
  ),
  pick: fc.nat(1000),
  dt: fc.integer({ min: 0, max: 9000 }),
});

async function simulate(nJobs: number, steps: { op: string; pick: number; dt: number }[]) {
  const clock = { t: 1_000_000 };
  const net = new Network();
  const sites = makeFederation(clock, net);
  const [casper, derecho] = sites;
  for (let i = 1; i <= nJobs; i++) await casper.store.createJob(queuedJob(casper, i, clock.t));
  const peerOf = (s: SimSite, other: string) =>
    s.ctx.peers?.get(other) as NonNullable<ReturnType<NonNullable<typeof s.ctx.peers>["get"]>>;
  const take = (pick: number) => net.inflight.splice(pick % net.inflight.length, 1)[0];
  const localRuns = new Map<string, number>();

  for (const s of steps) {
    switch (s.op) {
      case "deliver":
      case "dup":
      case "drop":
      case "crash": {
        if (!net.inflight.length) break;
        const w = take(s.pick);
        if (s.op === "drop") break;
        if (s.op === "dup") net.inflight.push({ ...w });
        await deliver(sites, net, w, s.op === "crash");
        break;
      }
      case "tick":
        clock.t += s.dt;
        break;
      case "sweepOrigin":
        await sweep(casper, net, s.pick % 4 === 0);
        break;
      case "sweepReceiver":
        await sweep(derecho, net, s.pick % 4 === 0);
        break;
      case "runRemote": {
        const q = [...derecho.store.jobs.values()].filter((j) => j.state === "Q");
        if (q.length)
          await runToEnd(derecho, net, q[s.pick % q.length].key, 1 + (s.pick % 50), s.pick % 5 === 0);
        break;
      }
      case "runLocal": {
        // the origin's own scheduler starts a queued job (Q only: T and M never run here)
        const q = [...casper.store.jobs.values()].filter((j) => j.state === "Q");
        if (!q.length) break;
        const j = q[s.pick % q.length];
        await casper.store.updateJob(j, { ...j, state: "F", exitStatus: 0, obittime: clock.t });
        localRuns.set(j.id, (localRuns.get(j.id) ?? 0) + 1);
        break;
      }
      case "offer": {
        const body = sealPeerMessage(
          "derecho",
          "casper",
          "s3cret",
          {
            type: "OFFER",
            offerId: `o${s.pick}`,
            queue: "casper",
            into: "main",
            nodes: [{ ncpus: 64, mem: 2 ** 38, ngpus: 0 }],
            maxJobs: 1 + (s.pick % 3),
          },
          clock.t,
        );
        net.inflight.push({ to: "casper", body });
        break;
      }
      case "push": {
        const q = [...casper.store.jobs.values()].filter((j) => j.state === "Q");
        if (q.length)
          await forwardJob(
            casper.ctx,
            structuredClone(q[s.pick % q.length]),
            peerOf(casper, "derecho"),
            "main",
            "push",
          );
        break;
      }
    }
  }

  // Heal: no more faults. Deliver everything, let time pass, sweep, run what was committed.
  for (let round = 0; round < 60; round++) {
    while (net.inflight.length) await deliver(sites, net, net.inflight.shift() as never, false);
    for (const j of [...derecho.store.jobs.values()])
      if (j.state === "Q") await runToEnd(derecho, net, j.key, 7);
    clock.t += 3000;
    await sweep(casper, net, false);
    await sweep(derecho, net, false);
    const pending =
      net.inflight.length +
      (await casper.store.queryTransfers()).length +
      (await derecho.store.queryTransfers()).length;
    if (!pending) break;
  }
  return { casper, derecho, net, localRuns };
}

function check(r: Awaited<ReturnType<typeof simulate>>) {
  const { casper, derecho, net } = r;
  expect(net.inflight.length).toBe(0);
  expect(derecho.store.jobs.size <= casper.store.jobs.size).toBe(true);
  const copies = new Map<string, JobRecord[]>();
  for (const j of derecho.store.jobs.values()) {
    expect(j.state).not.toBe("T"); // nothing left in limbo
    const o = j.inbound?.originId as string;
    copies.set(o, [...(copies.get(o) ?? []), j]);
  }
  let movedWalltime = 0;
  for (const j of casper.store.jobs.values()) {
    const c = copies.get(j.id) ?? [];
    if (j.state === "M") {
      // moved: exactly one copy, the one it points at, which ran once and reported its end
      expect(c.length).toBe(1);
      expect(r.localRuns.get(j.id) ?? 0).toBe(0); // never ran here too
      expect(j.movedTo).toBe(c[0].id);
      expect(c[0].state).toBe("F");
      expect(c[0].inbound?.endAcked).toBe(true);
      expect(j.obittime).toBeDefined();
      expect(j.exitStatus).toBe(0);
      movedWalltime += c[0].used?.walltime ?? 0;
    } else {
      // stayed (queued, or ran here): no copy anywhere, and at most one local run
      expect(["Q", "F"]).toContain(j.state);
      expect(c.length).toBe(0);
      expect(r.localRuns.get(j.id) ?? 0).toBe(j.state === "F" ? 1 : 0);
    }
  }
  // accounting: charged once at home, equal at both ends, equal to what ran
  const home = casper.store.projects.get("P1");
  const there = derecho.store.projects.get("D1");
  expect(home?.walltime.derecho ?? 0).toBe(movedWalltime);
  expect(there?.walltime.for_casper ?? 0).toBe(movedWalltime);
  expect(home?.coreSeconds.derecho ?? 0).toBe(there?.coreSeconds.for_casper ?? 0);
}

describe("peer transfer protocol under faults", () => {
  it("a clean push moves, runs and accounts once", async () => {
    const r = await simulate(3, [
      { op: "push", pick: 0, dt: 0 },
      { op: "push", pick: 0, dt: 0 },
      { op: "offer", pick: 2, dt: 0 }, // maxJobs 3
    ]);
    check(r);
    expect([...r.casper.store.jobs.values()].filter((j) => j.state === "M").length).toBe(3);
  });

  it("an ACCEPT that arrives after the origin timed out is answered ABORT: no second copy runs", async () => {
    const clockSteps = [
      { op: "push", pick: 0, dt: 0 },
      { op: "deliver", pick: 0, dt: 0 }, // FORWARD -> ACCEPT in flight
      { op: "tick", pick: 0, dt: 9000 },
      { op: "tick", pick: 0, dt: 9000 },
      { op: "sweepOrigin", pick: 1, dt: 0 }, // timed out: back to Q, ABORT sent
      { op: "runLocal", pick: 0, dt: 0 }, // and it runs here
    ];
    const r = await simulate(1, clockSteps);
    check(r);
    const j = [...r.casper.store.jobs.values()][0];
    expect(j.state).toBe("F");
    expect(r.derecho.store.jobs.size).toBe(0);
  });

  it("holds for random schedules of loss, duplication, reordering, delay and crashes", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 4 }),
        fc.array(Step, { maxLength: 80 }),
        async (n, steps) => {
          check(await simulate(n, steps));
        },
      ),
      { numRuns: 1000 },
    );
  }, 120_000);
});
