/** The pure node power decisions (shared/scheduler/power.ts): wake the fewest, rate-limited; sleep when idle. */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  type PoolPolicy,
  type PowerInfo,
  type PowerInput,
  planPower,
  powerDue,
} from "../../../shared/scheduler/power.js";
import type { NodeInfo } from "../../../shared/scheduler/types.js";
import { chunk, NOW, node } from "./helpers.js";

const pool: PoolPolicy = { name: "p", idleOffMs: 600_000, bootTimeoutMs: 300_000, startsPerMinute: 10 };
const pools = new Map([["p", pool]]);
const up = (extra: Partial<PowerInfo> = {}): PowerInfo => ({
  pool: "p",
  state: "up",
  since: NOW - 1000,
  ...extra,
});
const asleep: PowerInfo = { pool: "p", state: "sleep", since: 0 };

function input(
  nodes: NodeInfo[],
  power: Record<string, PowerInfo>,
  extra: Partial<PowerInput> = {},
): PowerInput {
  return { now: NOW, nodes, power: new Map(Object.entries(power)), pools, busy: [], waiting: [], ...extra };
}
const sleeping = (name: string, ncpus: number) => node(name, ncpus, undefined, 0, "sleep");

describe("power-on", () => {
  it("wakes nothing when nothing waits", () => {
    const p = planPower(input([sleeping("a", 4)], { a: asleep }));
    expect(p.powerOn).toEqual([]);
  });

  it("wakes the one node a waiting job needs, the largest first, not every sleeping node", () => {
    const nodes = [sleeping("a", 2), sleeping("b", 8), sleeping("c", 8)];
    const p = planPower(
      input(nodes, { a: asleep, b: asleep, c: asleep }, { waiting: [{ select: [chunk(1, 2)] }] }),
    );
    expect(p.powerOn).toEqual(["b"]);
  });

  it("wakes two for a job of two chunks that fit one node each, and counts them taken for the next job", () => {
    const nodes = [sleeping("a", 4), sleeping("b", 4), sleeping("c", 4)];
    const p = planPower(
      input(
        nodes,
        { a: asleep, b: asleep, c: asleep },
        { waiting: [{ select: [chunk(2, 4)] }, { select: [chunk(1, 4)] }] },
      ),
    );
    expect(p.powerOn).toEqual(["a", "b", "c"]);
  });

  it("wakes nothing for a job a provisioning node will hold, nor for one that fits nowhere", () => {
    const nodes = [node("a", 4, undefined, 0, "provisioning"), sleeping("b", 4)];
    const power = {
      a: { pool: "p", state: "provisioning" as const, since: NOW - 1000, poweredOnAt: NOW - 1000 },
      b: asleep,
    };
    expect(planPower(input(nodes, power, { waiting: [{ select: [chunk(1, 4)] }] })).powerOn).toEqual([]);
    expect(planPower(input(nodes, power, { waiting: [{ select: [chunk(1, 64)] }] })).powerOn).toEqual([]);
  });

  it("does not wake again, for one boot timeout, a node whose last power-on failed", () => {
    const nodes = [sleeping("a", 4)];
    const waiting = [{ select: [chunk(1, 4)] }];
    const failed = (ago: number) => ({ a: { ...asleep, bootFailedAt: NOW - ago } });
    expect(planPower(input(nodes, failed(1000), { waiting })).powerOn).toEqual([]);
    expect(planPower(input(nodes, failed(pool.bootTimeoutMs), { waiting })).powerOn).toEqual(["a"]);
  });

  it("wakes a node for what the up nodes have no room left for (running jobs count)", () => {
    const nodes = [node("a", 4), sleeping("b", 4)];
    const power = { a: up(), b: asleep };
    const busy = [[{ node: "a", ncpus: 3, mem: 0, ngpus: 0 }]];
    expect(planPower(input(nodes, power, { busy, waiting: [{ select: [chunk(1, 2)] }] })).powerOn).toEqual([
      "b",
    ]);
    expect(planPower(input(nodes, power, { busy, waiting: [{ select: [chunk(1, 1)] }] })).powerOn).toEqual(
      [],
    );
  });

  it("powers on at most startsPerMinute per pool, counting power-ons of the last minute", () => {
    const names = ["a", "b", "c", "d"];
    const nodes = names.map((n) => sleeping(n, 4));
    const power: Record<string, PowerInfo> = Object.fromEntries(names.map((n) => [n, asleep]));
    const few = new Map([["p", { ...pool, startsPerMinute: 2 }]]);
    const waiting = [{ select: [chunk(4, 4)] }];
    expect(planPower({ ...input(nodes, power, { waiting }), pools: few }).powerOn).toEqual(["a", "b"]);
    // one started 30 s ago (now up) counts; one started 61 s ago does not
    const withRecent = {
      ...power,
      e: up({ poweredOnAt: NOW - 30_000 }),
      f: up({ poweredOnAt: NOW - 61_000 }),
    };
    const busyEF = [[{ node: "e", ncpus: 4, mem: 0, ngpus: 0 }], [{ node: "f", ncpus: 4, mem: 0, ngpus: 0 }]];
    const nodes2 = [...nodes, node("e", 4), node("f", 4)];
    expect(
      planPower({ ...input(nodes2, withRecent, { waiting, busy: busyEF }), pools: few }).powerOn,
    ).toEqual(["a"]);
  });

  it("wakes neither an offline sleeping node nor a node of an unknown pool", () => {
    const nodes = [node("a", 4, undefined, 0, "offline"), sleeping("b", 4)];
    const power = { a: asleep, b: { ...asleep, pool: "gone" } };
    expect(planPower(input(nodes, power, { waiting: [{ select: [chunk(1, 1)] }] })).powerOn).toEqual([]);
  });

  it("property: what it wakes is needed (each woken node carries part of a waiting job) and no more than asked", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 8 }), { minLength: 1, maxLength: 6 }),
        fc.array(
          fc.record({ count: fc.integer({ min: 1, max: 3 }), ncpus: fc.integer({ min: 1, max: 8 }) }),
          {
            maxLength: 4,
          },
        ),
        (sizes, jobs) => {
          const nodes = sizes.map((c, i) => sleeping(`n${i}`, c));
          const power = Object.fromEntries(nodes.map((n) => [n.name, asleep]));
          const waiting = jobs.map((j) => ({ select: [chunk(j.count, j.ncpus)] }));
          const p = planPower(input(nodes, power, { waiting }));
          // never more nodes than chunk instances waiting
          expect(p.powerOn.length).toBeLessThanOrEqual(jobs.reduce((s, j) => s + j.count, 0));
          // only sleeping nodes, each once
          expect(new Set(p.powerOn).size).toBe(p.powerOn.length);
          // a job alone: the woken nodes are the fewest (greedy largest-first is optimal for one
          // job of equal chunks on nodes that each hold whole chunks)
          if (jobs.length === 1) {
            const per = sizes.map((c) => Math.floor(c / jobs[0].ncpus)).sort((a, b) => b - a);
            let need = 0;
            for (let left = jobs[0].count; left > 0 && need < per.length && per[need] > 0; need++)
              left -= per[need];
            const fits = per.reduce((s, x) => s + x, 0) >= jobs[0].count;
            expect(p.powerOn.length).toBe(fits ? need : 0);
          }
          expect(p.powerOff).toEqual([]);
        },
      ),
    );
  });
});

describe("power-off and boot timeout", () => {
  it("property: never powers off a node with a job, nor one a waiting job is counted on; wakes only sleeping nodes", () => {
    const stateArb = fc.constantFrom("sleep", "provisioning", "up", "up-idle");
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            st: stateArb,
            ncpus: fc.integer({ min: 1, max: 8 }),
            jobs: fc.integer({ min: 0, max: 2 }),
          }),
          {
            minLength: 1,
            maxLength: 6,
          },
        ),
        fc.array(fc.integer({ min: 1, max: 8 }), { maxLength: 3 }),
        (spec, waitingCpus) => {
          const nodes: NodeInfo[] = [];
          const power: Record<string, PowerInfo> = {};
          const busy: { node: string; ncpus: number; mem: number; ngpus: number }[][] = [];
          spec.forEach((n, i) => {
            const name = `n${i}`;
            const st = n.st === "up-idle" ? "up" : n.st;
            nodes.push(node(name, n.ncpus, undefined, 0, st === "up" ? "free" : st));
            power[name] = {
              pool: "p",
              state: st,
              since: NOW - 1000,
              ...(n.st === "up-idle" ? { idleSince: NOW - 10 * 600_000 } : {}),
            };
            if (st === "up")
              for (let k = 0; k < n.jobs; k++) busy.push([{ node: name, ncpus: 1, mem: 0, ngpus: 0 }]);
          });
          const waiting = waitingCpus.map((c) => ({ select: [chunk(1, c)] }));
          const p = planPower(input(nodes, power, { busy, waiting }));
          const withJob = new Set(busy.flat().map((a) => a.node));
          for (const n of p.powerOff) {
            expect(withJob.has(n)).toBe(false);
            expect(power[n].state).toBe("up");
          }
          for (const n of p.powerOn) expect(power[n].state).toBe("sleep");
          for (const n of p.bootTimedOut) expect(power[n].state).toBe("provisioning");
        },
      ),
    );
  });

  it("marks an idle up node, powers it off idleOff later, and never one with a job", () => {
    const nodes = [node("a", 4), node("b", 4)];
    const first = planPower(
      input(nodes, { a: up(), b: up() }, { busy: [[{ node: "b", ncpus: 1, mem: 0, ngpus: 0 }]] }),
    );
    expect(first.markIdle).toEqual(["a"]);
    expect(first.powerOff).toEqual([]);
    const early = planPower(input(nodes, { a: up({ idleSince: NOW - 599_000 }), b: up() }));
    expect(early.powerOff).toEqual([]);
    const due = planPower(
      input(
        nodes,
        { a: up({ idleSince: NOW - 600_000 }), b: up({ idleSince: NOW - 900_000 }) },
        {
          busy: [[{ node: "b", ncpus: 1, mem: 0, ngpus: 0 }]],
        },
      ),
    );
    expect(due.powerOff).toEqual(["a"]);
    expect(due.markBusy).toEqual(["b"]);
  });

  it("keeps an idle up node a waiting job will use beside nodes being woken", () => {
    const nodes = [node("a", 4), sleeping("b", 4)];
    const p = planPower(
      input(
        nodes,
        { a: up({ idleSince: NOW - 900_000 }), b: asleep },
        { waiting: [{ select: [chunk(2, 4)] }] },
      ),
    );
    expect(p.powerOn).toEqual(["b"]);
    expect(p.powerOff).toEqual([]);
  });

  it("sends a node provisioning past its boot timeout back, and the tick sees both dues", () => {
    const prov = (since: number): PowerInfo => ({ pool: "p", state: "provisioning", since });
    const nodes = [node("a", 4, undefined, 0, "provisioning")];
    expect(planPower(input(nodes, { a: prov(NOW - 299_000) })).bootTimedOut).toEqual([]);
    expect(planPower(input(nodes, { a: prov(NOW - 300_000) })).bootTimedOut).toEqual(["a"]);
    expect(powerDue(NOW, prov(NOW - 300_000), pool)).toBe(true);
    expect(powerDue(NOW, prov(NOW - 1000), pool)).toBe(false);
    expect(powerDue(NOW, up({ idleSince: NOW - 600_000 }), pool)).toBe(true);
    expect(powerDue(NOW, up(), pool)).toBe(false);
    expect(powerDue(NOW, asleep, pool)).toBe(false);
  });
});
