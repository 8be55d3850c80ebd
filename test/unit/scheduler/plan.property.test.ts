import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { prefixSuffices } from "../../../shared/scheduler/lookahead.js";
import { compareCandidates, planCycle } from "../../../shared/scheduler/plan.js";
import type { PlaceArrangement, PlaceSharing } from "../../../shared/pbs/types.js";
import {
  type Allocation,
  type CandidateJob,
  type CycleInput,
  NODE_SHARING,
  type NodeInfo,
  type NodeSharing,
  type QueueInfo,
  type RunningJob,
} from "../../../shared/scheduler/types.js";
import { GB, NOW } from "./helpers.js";

const STATES = ["free", "job-busy", "offline", "down"] as const;

const nodeArb = fc.record({
  ncpus: fc.integer({ min: 0, max: 16 }),
  memGb: fc.integer({ min: 0, max: 8 }),
  ngpus: fc.integer({ min: 0, max: 4 }),
  state: fc.constantFrom(...STATES),
  // nodes h<k>.n<i> share host h<k>: scatter (per host) and vscatter (per vnode) differ
  host: fc.integer({ min: 0, max: 3 }),
  // mostly the default: force_*/ignore_excl override the job's word, which must be tested too
  sharing: fc.constantFrom<NodeSharing | undefined>(
    undefined,
    undefined,
    undefined,
    undefined,
    ...NODE_SHARING,
  ),
});

const placeArb = fc.option(
  fc.record({
    arrangement: fc.constantFrom<PlaceArrangement>("free", "pack", "scatter", "vscatter"),
    sharing: fc.option(fc.constantFrom<PlaceSharing>("excl", "exclhost", "shared"), { nil: undefined }),
  }),
  { nil: undefined },
);

const runArb = fc.record({
  node: fc.nat(),
  ncpus: fc.integer({ min: 0, max: 8 }),
  memGb: fc.integer({ min: 0, max: 4 }),
  ngpus: fc.integer({ min: 0, max: 2 }),
  queue: fc.constantFrom("a", "b", "gone"),
  owner: fc.constantFrom("u1", "u2"),
  startedAgoS: fc.integer({ min: 0, max: 20_000 }),
  walltime: fc.option(fc.integer({ min: 1, max: 20_000 }), { nil: undefined }),
  // mostly shared, so that exclusive candidates meet busy nodes
  excl: fc.constantFrom<"excl" | "exclhost" | undefined>(undefined, undefined, undefined, "excl", "exclhost"),
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
  place: placeArb,
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
      name: `h${n.host}.n${i}`,
      state: n.state,
      available: { ncpus: n.ncpus, mem: n.memGb * GB, ngpus: n.ngpus },
      ...(n.sharing ? { sharing: n.sharing } : {}),
    }));
    // running jobs are consistent: they fit their node's capacity, and an exclusive one is alone
    // on its node (exclhost: its host)
    const left = nodes.map((n) => ({ ...n.available }));
    const running: RunningJob[] = [];
    const taken = nodes.map(() => 0);
    const held = nodes.map(() => false);
    g.running.forEach((r, k) => {
      const i = r.node % nodes.length;
      const want = { ncpus: r.ncpus, mem: r.memGb * GB, ngpus: r.ngpus };
      if (want.ncpus > left[i].ncpus || want.mem > left[i].mem || want.ngpus > left[i].ngpus) return;
      const scope = nodes.flatMap((n, j) =>
        (r.excl === "exclhost" ? hostOf(n.name) === hostOf(nodes[i].name) : j === i) ? [j] : [],
      );
      if (held[i] || (r.excl && scope.some((j) => taken[j] > 0 || held[j]))) return;
      left[i].ncpus -= want.ncpus;
      left[i].mem -= want.mem;
      left[i].ngpus -= want.ngpus;
      taken[i]++;
      if (r.excl) for (const j of scope) held[j] = true;
      running.push({
        id: `r${k}`,
        queue: r.queue,
        owner: r.owner,
        alloc: [{ node: nodes[i].name, ...want, ...(r.excl ? { excl: r.excl } : {}) }],
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
      ...(c.place ? { place: c.place.sharing ? c.place : { arrangement: c.place.arrangement } } : {}),
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

const hostOf = (node: string) => node.split(".")[0];

/** The PBS sharing table, written out independently of the planner's. */
function expectedSharing(job: PlaceSharing | undefined, node: NodeSharing | undefined): string {
  if (node === "ignore_excl") return "shared";
  if (node === "force_excl") return "excl";
  if (node === "force_exclhost") return "exclhost";
  if (job !== undefined) return job;
  if (node === "default_excl") return "excl";
  if (node === "default_exclhost") return "exclhost";
  return "shared";
}

/**
 * Exclusive holds at t, both ways: a chunk held `excl` shares its node, and one held `exclhost`
 * its host, with no other job's chunk (the same job's chunks may share).
 */
function assertExclusiveAt(usages: Interval[], t: number, what: string) {
  const active = usages.map((u, k) => ({ ...u, k })).filter((u) => u.start <= t && t < u.end);
  for (const u of active) {
    for (const a of u.alloc) {
      if (!a.excl) continue;
      for (const v of active) {
        if (v.k === u.k) continue;
        for (const b of v.alloc) {
          const clash = a.excl === "exclhost" ? hostOf(b.node) === hostOf(a.node) : b.node === a.node;
          expect(clash, `${what}: ${a.excl} chunk on ${a.node} shared with ${b.node}`).toBe(false);
        }
      }
    }
  }
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
        const sharingOf = new Map(input.nodes.map((n) => [n.name, n.sharing]));
        const placed = [
          ...r.start,
          ...r.reservations.flatMap((x) => (x.alloc ? [{ jobId: x.jobId, alloc: x.alloc }] : [])),
        ];
        for (const d of placed) {
          const job = byId.get(d.jobId)!;
          // placed whole: one allocation per chunk instance, in select order, each the chunk's size
          const chunks = job.select.flatMap((c) => Array.from({ length: c.count }, () => c));
          expect(d.alloc.map((a) => [a.ncpus, a.mem, a.ngpus])).toEqual(
            chunks.map((c) => [c.ncpus, c.mem, c.ngpus]),
          );
          // the arrangement
          const hosts = d.alloc.map((a) => hostOf(a.node));
          const arrangement = job.place?.arrangement ?? "free";
          if (arrangement === "pack") expect(new Set(hosts).size).toBeLessThanOrEqual(1);
          if (arrangement === "scatter") expect(new Set(hosts).size).toBe(hosts.length);
          if (arrangement === "vscatter")
            expect(new Set(d.alloc.map((a) => a.node)).size).toBe(d.alloc.length);
          // each chunk says whether it holds its node, as the job's and the node's sharing rule
          for (const a of d.alloc)
            expect(a.excl ?? "shared").toBe(expectedSharing(job.place?.sharing, sharingOf.get(a.node)));
        }
        for (const d of r.start) {
          const job = byId.get(d.jobId)!;
          // no offline/down node, totals match the request
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
        assertExclusiveAt(usages, input.now, "now");
        for (const res of r.reservations) {
          if (res.estimatedStart !== undefined) {
            assertFeasibleAt(input, usages, res.estimatedStart, `at ${res.jobId}`);
            assertExclusiveAt(usages, res.estimatedStart, `at ${res.jobId}`);
          }
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

  it("a prefix of each queue that the walk closed within plans what the whole list plans (lookahead.ts)", () => {
    let trusted = 0;
    let cutAndTrusted = 0;
    fc.assert(
      fc.property(inputArb, fc.record({ a: fc.nat(14), b: fc.nat(14), gone: fc.nat(14) }), (input, keep) => {
        const cmp = compareCandidates(input.queues);
        const unread = new Set<string>();
        const prefix: CandidateJob[] = [];
        const cut = new Set<string>();
        for (const q of ["a", "b", "gone"] as const) {
          const own = input.candidates.filter((c) => c.queue === q).sort(cmp);
          prefix.push(...own.slice(0, keep[q]));
          for (const c of own.slice(keep[q])) unread.add(c.id);
          if (own.length > keep[q]) cut.add(q);
        }
        // what prefixSuffices assumes of the candidates it did not read: each asks for cpus
        const full: CycleInput = {
          ...input,
          candidates: input.candidates.map((c) =>
            unread.has(c.id)
              ? { ...c, select: c.select.map((ch) => ({ ...ch, ncpus: Math.max(1, ch.ncpus) })) }
              : c,
          ),
        };
        const short = planCycle({ ...full, candidates: full.candidates.filter((c) => !unread.has(c.id)) });
        if (!prefixSuffices(short, prefix, input.queues, cut)) return;
        trusted++;
        if (cut.size > 0) cutAndTrusted++;
        const whole = planCycle(full);
        expect(short.start).toEqual(whole.start);
        expect(short.reservations).toEqual(whole.reservations);
        for (const [id, why] of Object.entries(short.waiting)) expect(whole.waiting[id], id).toBe(why);
        const queueOf = new Map(full.candidates.map((c) => [c.id, c.queue]));
        const waitingQueues = (w: Record<string, string>) =>
          new Set(Object.keys(w).map((id) => queueOf.get(id)));
        expect(waitingQueues(short.waiting)).toEqual(waitingQueues(whole.waiting));
      }),
      { numRuns: 2000 },
    );
    // not vacuous: the prefix was trusted with candidates left unread in a good share of the runs
    expect(cutAndTrusted).toBeGreaterThan(30);
    expect(trusted).toBeGreaterThan(cutAndTrusted);
  });
});
