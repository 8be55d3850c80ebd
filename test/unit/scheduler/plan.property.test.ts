import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { planCycle } from "../../../shared/scheduler/plan.js";
import type {
  Allocation,
  CandidateJob,
  CycleInput,
  NodeInfo,
  QueueInfo,
  RunningJob,
} from "../../../shared/scheduler/types.js";
import { GB, NOW } from "./helpers.js";

const STATES = ["free", "job-busy", "offline", "down"] as const;

const nodeArb = fc.record({
  ncpus: fc.integer({ min: 0, max: 16 }),
  memGb: fc.integer({ min: 0, max: 8 }),
  ngpus: fc.integer({ min: 0, max: 4 }),
  state: fc.constantFrom(...STATES),
});

const runArb = fc.record({
  node: fc.nat(),
  ncpus: fc.integer({ min: 0, max: 8 }),
  memGb: fc.integer({ min: 0, max: 4 }),
  ngpus: fc.integer({ min: 0, max: 2 }),
  queue: fc.constantFrom("a", "b", "gone"),
  owner: fc.constantFrom("u1", "u2"),
  startedAgoS: fc.integer({ min: 0, max: 20_000 }),
  walltime: fc.option(fc.integer({ min: 1, max: 20_000 }), { nil: undefined }),
});

const chunkArb = fc.record({
  count: fc.integer({ min: 0, max: 3 }),
  ncpus: fc.integer({ min: 0, max: 8 }),
  memGb: fc.integer({ min: 0, max: 4 }),
  ngpus: fc.integer({ min: 0, max: 2 }),
});

const candArb = fc.record({
  id: fc.constantFrom(...Array.from({ length: 14 }, (_, i) => `j${i}`), "r0", "r1"),
  queue: fc.constantFrom("a", "b", "gone"),
  owner: fc.constantFrom("u1", "u2", "u3"),
  priority: fc.integer({ min: -3, max: 3 }),
  qtimeAgo: fc.integer({ min: 0, max: 100 }),
  seq: fc.integer({ min: 0, max: 50 }),
  select: fc.array(chunkArb, { minLength: 1, maxLength: 2 }),
  walltime: fc.option(fc.integer({ min: 1, max: 20_000 }), { nil: undefined }),
});

const queueArb = (name: string) =>
  fc.record({
    name: fc.constant(name),
    priority: fc.integer({ min: 0, max: 3 }),
    started: fc.constantFrom(true, true, true, false),
    maxRun: fc.option(fc.integer({ min: 0, max: 6 }), { nil: undefined }),
    maxUserRun: fc.option(fc.integer({ min: 0, max: 3 }), { nil: undefined }),
  });

const inputArb = fc
  .record({
    nodes: fc.array(nodeArb, { minLength: 1, maxLength: 6 }),
    running: fc.array(runArb, { maxLength: 10 }),
    // ids unique (repeats are covered in plan.test.ts); some collide with running jobs
    candidates: fc.uniqueArray(candArb, { maxLength: 14, selector: (c) => c.id }),
    queues: fc.tuple(queueArb("a"), queueArb("b")),
    serverMaxRun: fc.option(fc.integer({ min: 0, max: 12 }), { nil: undefined }),
    backfill: fc.boolean(),
    backfillDepth: fc.integer({ min: 0, max: 3 }),
  })
  .map((g): CycleInput => {
    const nodes: NodeInfo[] = g.nodes.map((n, i) => ({
      name: `n${i}`,
      state: n.state,
      available: { ncpus: n.ncpus, mem: n.memGb * GB, ngpus: n.ngpus },
    }));
    // running jobs are consistent: they fit their node's capacity
    const left = nodes.map((n) => ({ ...n.available }));
    const running: RunningJob[] = [];
    g.running.forEach((r, k) => {
      const i = r.node % nodes.length;
      const want = { ncpus: r.ncpus, mem: r.memGb * GB, ngpus: r.ngpus };
      if (want.ncpus > left[i].ncpus || want.mem > left[i].mem || want.ngpus > left[i].ngpus) return;
      left[i].ncpus -= want.ncpus;
      left[i].mem -= want.mem;
      left[i].ngpus -= want.ngpus;
      running.push({
        id: `r${k}`,
        queue: r.queue,
        owner: r.owner,
        alloc: [{ node: `n${i}`, ...want }],
        startedAt: NOW - r.startedAgoS * 1000,
        walltime: r.walltime,
      });
    });
    const candidates: CandidateJob[] = g.candidates.map((c) => ({
      id: c.id,
      ver: 1,
      queue: c.queue,
      owner: c.owner,
      priority: c.priority,
      qtime: NOW - c.qtimeAgo * 1000,
      seq: c.seq,
      select: c.select.map((s) => ({
        count: s.count,
        ncpus: s.ncpus,
        mem: s.memGb * GB,
        ngpus: s.ngpus,
        mpiprocs: 1,
        other: {},
      })),
      walltime: c.walltime,
    }));
    const queues: QueueInfo[] = [...g.queues];
    return {
      now: NOW,
      nodes,
      running,
      candidates,
      queues,
      serverMaxRun: g.serverMaxRun,
      backfill: g.backfill,
      backfillDepth: g.backfillDepth,
    };
  });

interface Interval {
  alloc: Allocation[];
  start: number;
  end: number;
}

/** Every usage active at t, per node, never exceeds capacity. */
function assertFeasibleAt(input: CycleInput, usages: Interval[], t: number, what: string) {
  const used = new Map<string, { ncpus: number; mem: number; ngpus: number }>();
  for (const u of usages) {
    if (!(u.start <= t && t < u.end)) continue;
    for (const a of u.alloc) {
      const s = used.get(a.node) ?? { ncpus: 0, mem: 0, ngpus: 0 };
      s.ncpus += a.ncpus;
      s.mem += a.mem;
      s.ngpus += a.ngpus;
      used.set(a.node, s);
    }
  }
  for (const n of input.nodes) {
    const s = used.get(n.name) ?? { ncpus: 0, mem: 0, ngpus: 0 };
    expect(s.ncpus, `${what}: ncpus on ${n.name}`).toBeLessThanOrEqual(n.available.ncpus);
    expect(s.mem, `${what}: mem on ${n.name}`).toBeLessThanOrEqual(n.available.mem);
    expect(s.ngpus, `${what}: ngpus on ${n.name}`).toBeLessThanOrEqual(n.available.ngpus);
  }
}

const end = (start: number, walltime: number | undefined) =>
  walltime === undefined ? Number.POSITIVE_INFINITY : start + Math.max(walltime * 1000, 1);

describe("planCycle properties", () => {
  it("never over-commits, never uses offline nodes, never starts a job twice, honours limits and reservations", () => {
    fc.assert(
      fc.property(inputArb, (input) => {
        const r = planCycle(input);
        const byId = new Map(input.candidates.map((c) => [c.id, c]));
        const runningIds = new Set(input.running.map((j) => j.id));
        const started = r.start.map((d) => d.jobId);

        // no job starts twice, only real, not-yet-running candidates start
        expect(new Set(started).size).toBe(started.length);
        for (const id of started) {
          expect(byId.has(id)).toBe(true);
          expect(runningIds.has(id)).toBe(false);
          expect(r.waiting[id]).toBeUndefined();
        }
        // every other examined candidate has a reason
        for (const c of input.candidates) {
          if (!runningIds.has(c.id) && !started.includes(c.id)) expect(typeof r.waiting[c.id]).toBe("string");
        }

        const states = new Map(input.nodes.map((n) => [n.name, n.state]));
        for (const d of r.start) {
          const job = byId.get(d.jobId)!;
          // each node listed once, no offline/down node, totals match the request
          expect(new Set(d.alloc.map((a) => a.node)).size).toBe(d.alloc.length);
          const tot = { ncpus: 0, mem: 0, ngpus: 0 };
          for (const a of d.alloc) {
            expect(["free", "job-busy"]).toContain(states.get(a.node));
            tot.ncpus += a.ncpus;
            tot.mem += a.mem;
            tot.ngpus += a.ngpus;
          }
          const want = { ncpus: 0, mem: 0, ngpus: 0 };
          for (const c of job.select) {
            want.ncpus += c.count * c.ncpus;
            want.mem += c.count * c.mem;
            want.ngpus += c.count * c.ngpus;
          }
          expect(tot).toEqual(want);
        }

        // capacity now, and at every reservation start with the reservations in force
        const usages: Interval[] = [
          ...input.running.map((j) => ({
            alloc: j.alloc,
            start: Number.NEGATIVE_INFINITY,
            end:
              j.walltime === undefined
                ? Number.POSITIVE_INFINITY
                : Math.max(j.startedAt + j.walltime * 1000, input.now + 1),
          })),
          ...r.start.map((d) => ({
            alloc: d.alloc,
            start: input.now,
            end: end(input.now, byId.get(d.jobId)!.walltime),
          })),
        ];
        for (const res of r.reservations) {
          expect(started).not.toContain(res.jobId);
          expect(res.estimatedStart === undefined).toBe(res.alloc === undefined);
          if (res.estimatedStart !== undefined && res.alloc) {
            expect(res.estimatedStart).toBeGreaterThan(input.now);
            usages.push({
              alloc: res.alloc,
              start: res.estimatedStart,
              end: end(res.estimatedStart, byId.get(res.jobId)!.walltime),
            });
          }
        }
        expect(r.reservations.length).toBeLessThanOrEqual(input.backfill ? input.backfillDepth : 0);
        assertFeasibleAt(input, usages, input.now, "now");
        for (const res of r.reservations) {
          if (res.estimatedStart !== undefined)
            assertFeasibleAt(input, usages, res.estimatedStart, `at ${res.jobId}`);
        }

        // limits
        const count = (pred: (j: { queue: string; owner: string }) => boolean) =>
          input.running.filter(pred).length + r.start.filter((d) => pred(byId.get(d.jobId)!)).length;
        if (input.serverMaxRun !== undefined && r.start.length > 0) {
          expect(input.running.length + r.start.length).toBeLessThanOrEqual(input.serverMaxRun);
        }
        for (const q of input.queues) {
          const startedHere = r.start.filter((d) => byId.get(d.jobId)!.queue === q.name);
          if (!q.started) expect(startedHere).toEqual([]);
          if (q.maxRun !== undefined && startedHere.length > 0) {
            expect(count((j) => j.queue === q.name)).toBeLessThanOrEqual(q.maxRun);
          }
          if (q.maxUserRun !== undefined) {
            for (const owner of new Set(startedHere.map((d) => byId.get(d.jobId)!.owner))) {
              expect(count((j) => j.queue === q.name && j.owner === owner)).toBeLessThanOrEqual(q.maxUserRun);
            }
          }
        }
        expect(r.start.some((d) => byId.get(d.jobId)!.queue === "gone")).toBe(false);

        // deterministic
        expect(planCycle(structuredClone(input))).toEqual(r);
      }),
      { numRuns: 400 },
    );
  });
});
