/** What the MOM is told about a placed job: node file, thread count, first node (pure). */
import { describe, expect, it } from "vitest";
import { buildJobEnv } from "../../../shared/exec/run-job.js";
import { parseSelect } from "../../../shared/pbs/select.js";
import type { Allocation } from "../../../shared/scheduler/types.js";
import { buildRunSpec } from "../../../shared/server/run-spec.js";
import { jobRecord } from "../../fixtures/job.js";

const placed = (select: string, nodes: string[]) => {
  const sel = parseSelect(select);
  const chunks = sel.flatMap((c) => Array.from({ length: c.count }, () => c));
  const alloc: Allocation[] = nodes.map((node, i) => ({
    node,
    ncpus: chunks[i].ncpus,
    mem: chunks[i].mem,
    ngpus: chunks[i].ngpus,
  }));
  return buildRunSpec(jobRecord(4, { state: "R", sel, alloc, runCount: 1 }), 10);
};

describe("buildRunSpec: the placement as the MOM sees it", () => {
  it("writes one node-file line per MPI rank: mpiprocs of each chunk, on that chunk's node", () => {
    expect(placed("2:ncpus=1", ["n1", "n2"]).nodefile).toEqual(["n1", "n2"]);
    expect(placed("2:ncpus=8", ["n1", "n1"]).nodefile).toEqual(["n1", "n1"]);
    expect(placed("1:ncpus=4:mpiprocs=4+2:ncpus=2:mpiprocs=2", ["a", "b", "a"]).nodefile).toEqual([
      "a",
      "a",
      "a",
      "a",
      "b",
      "b",
      "a",
      "a",
    ]);
    expect(placed("1:ncpus=2:mpiprocs=0", ["a"]).nodefile).toEqual([]);
  });

  it("takes NCPUS/OMP_NUM_THREADS from the first chunk's ompthreads, else its ncpus", () => {
    expect(placed("1:ncpus=8:ompthreads=2+1:ncpus=4:ompthreads=4", ["a", "b"])).toMatchObject({
      ncpus: 8,
      threads: 2,
    });
    expect(placed("2:ncpus=8", ["a", "b"])).toMatchObject({ ncpus: 8, threads: 8 });
    expect(placed("1:ncpus=4", ["a"]).execHost).toBe("a");
  });

  it("the MOM sets NCPUS and OMP_NUM_THREADS to that thread count", () => {
    const spec = placed("1:ncpus=8:ompthreads=2", ["a"]);
    const env = buildJobEnv({ ...spec, owner: "alice@h" }, "/tmp/x", "/tmp/x/nodefile");
    expect([env.NCPUS, env.OMP_NUM_THREADS]).toEqual(["2", "2"]);
    const old = buildJobEnv({ ...spec, threads: undefined }, "/tmp/x", "/tmp/x/nodefile");
    expect([old.NCPUS, old.OMP_NUM_THREADS]).toEqual(["8", "8"]);
  });
});
