/**
 * The cycle's short read of the ready index (shared/scheduler/lookahead.ts): when the planner's
 * walk closes (plan.closed), how big the prefix is, and when a plan made from prefixes is
 * trusted. That a trusted prefix plans what the whole list plans is a property
 * (plan.property.test.ts); these pin the cases by hand.
 */
import { describe, expect, it } from "vitest";
import { LOOKAHEAD_MARGIN, prefixSize, prefixSuffices } from "../../../shared/scheduler/lookahead.js";
import { planCycle } from "../../../shared/scheduler/plan.js";
import { chunk, cycle, job, node, queue, running } from "./helpers.js";

const one = (id: string, opts: Parameters<typeof job>[2] = {}) => job(id, [chunk(1, 1)], opts);

describe("plan.closed", () => {
  it("closes after the job whose reservation was the last to make, not when the cpus run out", () => {
    const nodes = [node("n1", 1), node("n2", 1)];
    // the cpus are gone after j2, but a reservation is still to be made: open
    const open = planCycle(cycle({ nodes, candidates: [one("j1"), one("j2")] }));
    expect(open.start.map((d) => d.jobId)).toEqual(["j1", "j2"]);
    expect(open.closed).toBeUndefined();
    const r = planCycle(cycle({ nodes, candidates: [one("j1"), one("j2"), one("j3"), one("j4")] }));
    expect(r.reservations.map((x) => x.jobId)).toEqual(["j3"]);
    expect(r.closed).toEqual({ after: "j3" });
  });

  it("closes before the first candidate when nothing is free and no reservation may be made", () => {
    const r = planCycle(
      cycle({
        nodes: [node("n1", 1)],
        running: [running("r1", "n1", 1)],
        candidates: [one("j1")],
        backfillDepth: 0,
      }),
    );
    expect(r.closed).toEqual({});
  });

  it("without backfill, closes at the blocked top job even with cpus free", () => {
    const r = planCycle(
      cycle({
        nodes: [node("n1", 2)],
        candidates: [one("j1"), job("big", [chunk(1, 2)]), one("j3")],
        backfill: false,
      }),
    );
    expect(r.start.map((d) => d.jobId)).toEqual(["j1"]);
    expect(r.closed).toEqual({ after: "big" });
  });

  it("stays open while a cpu is free", () => {
    const r = planCycle(cycle({ nodes: [node("n1", 4)], candidates: [one("j1"), one("j2")] }));
    expect(r.closed).toBeUndefined();
  });
});

describe("prefixSize", () => {
  it("is the cpus free on nodes taking work plus the margin, within 1..max", () => {
    const nodes = [node("n1", 8), node("n2", 8), node("off", 8, undefined, 0, "offline")];
    expect(prefixSize(nodes, [running("r1", "n1", 6)], 200)).toBe(2 + 8 + LOOKAHEAD_MARGIN);
    expect(prefixSize(nodes, [], 5)).toBe(5);
    expect(prefixSize([], [], 200)).toBe(LOOKAHEAD_MARGIN);
  });
});

describe("prefixSuffices", () => {
  const nodes = [node("n1", 1)];
  const queues = [queue("hi", { priority: 10 }), queue("lo")];

  it("trusts a prefix nobody cut, and one whose walk closed before each cut queue's last read job", () => {
    const cands = [one("a1", { queue: "lo" }), one("a2", { queue: "lo" }), one("a3", { queue: "lo" })];
    const plan = planCycle(cycle({ nodes, queues, candidates: cands }));
    expect(plan.closed).toEqual({ after: "a2" });
    expect(prefixSuffices(plan, cands, queues, new Set())).toBe(true);
    expect(prefixSuffices(plan, cands, queues, new Set(["lo"]))).toBe(true);
  });

  it("reads everything when the walk was still open at the end of a cut queue", () => {
    const cands = [one("a1", { queue: "lo" })];
    const plan = planCycle(cycle({ nodes, queues, candidates: cands }));
    expect(plan.closed).toBeUndefined();
    expect(prefixSuffices(plan, cands, queues, new Set(["lo"]))).toBe(false);
  });

  it("reads everything when a cut queue's unread jobs could sort before the point where the walk closed", () => {
    // hi was cut after h1, and the walk closed only in lo: an unread job of hi (higher priority)
    // would have been walked before lo's jobs and taken their cpu
    const cands = [
      one("h1", { queue: "hi", owner: "bob" }),
      one("l1", { queue: "lo" }),
      one("l2", { queue: "lo" }),
      one("l3", { queue: "lo" }),
    ];
    const plan = planCycle(
      cycle({
        nodes: [node("n1", 2)],
        queues: [queue("hi", { priority: 10, maxUserRun: 5 }), queue("lo")],
        candidates: cands,
      }),
    );
    expect(plan.closed).toEqual({ after: "l2" });
    expect(prefixSuffices(plan, cands, queues, new Set(["hi"]))).toBe(false);
    expect(prefixSuffices(plan, cands, queues, new Set(["lo"]))).toBe(true);
  });

  it("reads everything when a cut queue has no waiting job in its prefix (the backlog told to peers)", () => {
    const cands = [one("h1", { queue: "hi" }), one("l1", { queue: "lo" }), one("l2", { queue: "lo" })];
    const plan = planCycle(cycle({ nodes: [node("n1", 1)], queues, candidates: cands, backfillDepth: 0 }));
    expect(plan.start.map((d) => d.jobId)).toEqual(["h1"]);
    expect(plan.closed).toEqual({ after: "h1" });
    expect(prefixSuffices(plan, cands, queues, new Set(["hi"]))).toBe(false);
    expect(prefixSuffices(plan, cands, queues, new Set(["lo"]))).toBe(true);
  });
});
