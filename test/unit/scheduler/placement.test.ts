import { describe, expect, it } from "vitest";
import type { Placement } from "../../../shared/pbs/types.js";
import { effectiveSharing } from "../../../shared/scheduler/placement.js";
import { planCycle, REASON } from "../../../shared/scheduler/plan.js";
import type { Allocation, NodeInfo, NodeSharing } from "../../../shared/scheduler/types.js";
import { chunk, cycle, HOUR, job, node, NOW, running } from "./helpers.js";

const place = (arrangement: Placement["arrangement"], sharing?: Placement["sharing"]): Placement =>
  sharing ? { arrangement, sharing } : { arrangement };
const nodes = (alloc: Allocation[]) => alloc.map((a) => a.node);
const shared = (n: NodeInfo, sharing: NodeSharing): NodeInfo => ({ ...n, sharing });

describe("place arrangements", () => {
  it("free: two chunks may share a node, and stay two allocations", () => {
    const r = planCycle(
      cycle({
        nodes: [node("n1", 8), node("n2", 8)],
        candidates: [job("j", [chunk(2, 4)], { place: place("free") })],
      }),
    );
    expect(r.start[0].alloc).toEqual([
      { node: "n1", ncpus: 4, mem: 0, ngpus: 0 },
      { node: "n1", ncpus: 4, mem: 0, ngpus: 0 },
    ]);
  });

  it("scatter: at most one chunk per host, else the job never runs here", () => {
    const two = planCycle(
      cycle({
        nodes: [node("n1", 8), node("n2", 8)],
        candidates: [job("j", [chunk(2, 1)], { place: place("scatter") })],
      }),
    );
    expect(nodes(two.start[0].alloc)).toEqual(["n1", "n2"]);
    const one = planCycle(
      cycle({ nodes: [node("n1", 8)], candidates: [job("j", [chunk(2, 1)], { place: place("scatter") })] }),
    );
    expect(one.start).toEqual([]);
    expect(one.waiting.j).toBe(REASON.neverRun);
  });

  it("scatter counts hosts, vscatter vnodes (h.a and h.b are one host)", () => {
    const vn = [node("h.a", 4), node("h.b", 4)];
    const scatter = planCycle(
      cycle({ nodes: vn, candidates: [job("j", [chunk(2, 1)], { place: place("scatter") })] }),
    );
    expect(scatter.waiting.j).toBe(REASON.neverRun);
    const vscatter = planCycle(
      cycle({ nodes: vn, candidates: [job("j", [chunk(2, 1)], { place: place("vscatter") })] }),
    );
    expect(nodes(vscatter.start[0].alloc)).toEqual(["h.a", "h.b"]);
  });

  it("pack: every chunk on one host, the fullest that holds them all", () => {
    const r = planCycle(
      cycle({
        nodes: [node("n1", 4), node("n2", 8), node("n3", 16)],
        candidates: [job("j", [chunk(3, 2)], { place: place("pack") })],
      }),
    );
    expect(nodes(r.start[0].alloc)).toEqual(["n2", "n2", "n2"]);
    const never = planCycle(
      cycle({
        nodes: [node("n1", 4), node("n2", 4)],
        candidates: [job("j", [chunk(3, 2)], { place: place("pack") })],
      }),
    );
    expect(never.waiting.j).toBe(REASON.neverRun);
  });
});

describe("place sharing", () => {
  it("excl: not placed beside another job, and marks its chunks exclusive", () => {
    const r = planCycle(
      cycle({
        nodes: [node("n1", 8), node("n2", 8)],
        running: [running("r", "n1", 1)],
        candidates: [job("j", [chunk(1, 2)], { place: place("free", "excl") })],
      }),
    );
    expect(r.start[0].alloc).toEqual([{ node: "n2", ncpus: 2, mem: 0, ngpus: 0, excl: "excl" }]);
  });

  it("excl: waits for a busy node (with a reservation at its end), does not share it", () => {
    const r = planCycle(
      cycle({
        nodes: [node("n1", 8)],
        running: [running("r", "n1", 1, { walltime: HOUR })],
        candidates: [job("j", [chunk(1, 2)], { place: place("free", "excl") })],
      }),
    );
    expect(r.start).toEqual([]);
    expect(r.reservations).toEqual([
      {
        jobId: "j",
        estimatedStart: NOW + HOUR * 1000,
        alloc: [{ node: "n1", ncpus: 2, mem: 0, ngpus: 0, excl: "excl" }],
      },
    ]);
  });

  it("a node held exclusively takes no other job, whatever its free cpus", () => {
    const held = {
      ...running("r", "n1", 1),
      alloc: [{ node: "n1", ncpus: 1, mem: 0, ngpus: 0, excl: "excl" as const }],
    };
    const r = planCycle(
      cycle({
        nodes: [node("n1", 8), node("n2", 8)],
        running: [held],
        candidates: [job("j", [chunk(1, 1)])],
      }),
    );
    expect(nodes(r.start[0].alloc)).toEqual(["n2"]);
    const full = planCycle(
      cycle({
        nodes: [node("n1", 8)],
        running: [held],
        candidates: [job("j", [chunk(1, 1)])],
        backfill: false,
      }),
    );
    expect(full.start).toEqual([]);
  });

  it("exclhost holds the other vnodes of its host too", () => {
    const held = {
      ...running("r", "h.a", 1),
      alloc: [{ node: "h.a", ncpus: 1, mem: 0, ngpus: 0, excl: "exclhost" as const }],
    };
    const r = planCycle(
      cycle({
        nodes: [node("h.a", 8), node("h.b", 8), node("k", 2)],
        running: [held],
        candidates: [job("j", [chunk(1, 1)])],
      }),
    );
    expect(nodes(r.start[0].alloc)).toEqual(["k"]);
    // and an exclhost job needs the whole host idle
    const r2 = planCycle(
      cycle({
        nodes: [node("h.a", 8), node("h.b", 8), node("k", 8)],
        running: [running("r", "h.b", 1)],
        candidates: [job("j", [chunk(1, 1)], { place: place("free", "exclhost") })],
      }),
    );
    expect(r2.start[0].alloc).toEqual([{ node: "k", ncpus: 1, mem: 0, ngpus: 0, excl: "exclhost" }]);
  });

  it("the same job's chunks may share an exclusive node", () => {
    const r = planCycle(
      cycle({
        nodes: [node("n1", 8)],
        candidates: [job("j", [chunk(2, 4)], { place: place("pack", "excl") })],
      }),
    );
    expect(nodes(r.start[0].alloc)).toEqual(["n1", "n1"]);
  });

  it("the node's sharing: default_excl for jobs that say nothing, force_excl and ignore_excl over the job", () => {
    const byDefault = planCycle(
      cycle({ nodes: [shared(node("n1", 8), "default_excl")], candidates: [job("j", [chunk(1, 1)])] }),
    );
    expect(byDefault.start[0].alloc[0].excl).toBe("excl");
    const sharedAsked = planCycle(
      cycle({
        nodes: [shared(node("n1", 8), "default_excl")],
        candidates: [job("j", [chunk(1, 1)], { place: place("free", "shared") })],
      }),
    );
    expect(sharedAsked.start[0].alloc[0].excl).toBeUndefined();
    const ignored = planCycle(
      cycle({
        nodes: [shared(node("n1", 8), "ignore_excl")],
        running: [running("r", "n1", 1)],
        candidates: [job("j", [chunk(1, 1)], { place: place("free", "excl") })],
      }),
    );
    expect(ignored.start[0].alloc).toEqual([{ node: "n1", ncpus: 1, mem: 0, ngpus: 0 }]);
    expect(effectiveSharing("shared", "force_exclhost")).toBe("exclhost");
    expect(effectiveSharing(undefined, undefined)).toBe("shared");
  });
});
