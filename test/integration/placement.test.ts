/**
 * PBS placement on the real local stack (two 4-core nodes, n1 and n2), driven with the real
 * `qsub`: where chunks land is read back from the job's own PBS_NODEFILE and from qstat -f.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, startStack } from "./helpers.js";

let s: Stack;

beforeAll(async () => {
  s = await startStack();
}, 90_000);

afterAll(async () => {
  await s?.mq.stop();
});

const REPORT = 'cat "$PBS_NODEFILE"; echo "OMP=$OMP_NUM_THREADS NCPUS=$NCPUS"\n';

async function submit(args: string[], body = REPORT): Promise<string> {
  const r = await s.cli("qsub", args, { input: body });
  expect(r.stderr, `qsub ${args.join(" ")}`).toBe("");
  return r.stdout.trim();
}

/** The job's stdout once it has finished (`STDIN.o<seq>` in the submit directory). */
async function output(id: string): Promise<string[]> {
  await s.waitState(id, ["F"]);
  return fs
    .readFileSync(path.join(s.dir, `STDIN.o${id.split(".")[0]}`), "utf8")
    .trim()
    .split("\n");
}

/** Node of each exec_vnode entry, in order. */
async function vnodes(id: string): Promise<string[]> {
  const ev = (await s.attr(id, "exec_vnode")) ?? "";
  return [...ev.matchAll(/\(([^:)]+):/g)].map((m) => m[1]);
}

/** A 1-cpu job that runs until deleted, and the node it runs on. */
async function blocker(args: string[] = []): Promise<{ id: string; node: string }> {
  const id = await submit(["-l", "select=1:ncpus=1", ...args], "sleep 300\n");
  await s.waitState(id, ["R"]);
  const [node] = await vnodes(id);
  return { id, node };
}

const other = (node: string) => (node === "n1" ? "n2" : "n1");

describe("placement, as PBS places", () => {
  it("place=scatter puts each chunk on its own node, one node-file line per chunk", async () => {
    const id = await submit(["-l", "select=2:ncpus=1", "-l", "place=scatter"]);
    const out = await output(id);
    expect(out.slice(0, 2).sort()).toEqual(["n1", "n2"]);
    expect((await vnodes(id)).sort()).toEqual(["n1", "n2"]);
    expect((await s.cli("qstat", ["-x", "-f", id])).stdout).toMatch(/Resource_List\.place = scatter\n/);
  });

  it("place=pack keeps every chunk on one node, each chunk its own exec_vnode entry", async () => {
    // With a 1-cpu job on one node, best fit alone (place=free) would put the first 2-cpu chunk
    // beside it and the second on the other node; pack must take the other node whole.
    const b = await blocker();
    try {
      const id = await submit(["-l", "select=2:ncpus=2", "-l", "place=pack"]);
      const out = await output(id);
      expect(out.slice(0, 2)).toEqual([other(b.node), other(b.node)]);
      expect(await s.attr(id, "exec_vnode")).toBe(`(${other(b.node)}:ncpus=2)+(${other(b.node)}:ncpus=2)`);
      expect(await s.attr(id, "exec_host")).toBe(`${other(b.node)}/0*2+${other(b.node)}/1*2`);
    } finally {
      await s.cli("qdel", [b.id]);
    }
  });

  it("place=excl keeps other jobs off its node while it runs, and pbsnodes says job-exclusive", async () => {
    const b = await blocker(["-l", "place=excl"]);
    try {
      const nodes = (await s.cli("pbsnodes", ["-a", "-F", "json"])).stdout;
      expect(JSON.parse(nodes).nodes[b.node].state).toBe("job-exclusive");
      expect(JSON.parse(nodes).nodes[other(b.node)].state).toBe("free");
      // best fit would pick the excl job's node (3 cpus free, the fewest that fit)
      const id = await submit(["-l", "select=2:ncpus=1"]);
      const out = await output(id);
      expect(out.slice(0, 2)).toEqual([other(b.node), other(b.node)]);
    } finally {
      await s.cli("qdel", [b.id]);
    }
  });

  it("ompthreads sets OMP_NUM_THREADS and NCPUS; without it they are the chunk's ncpus", async () => {
    const omp = await output(await submit(["-l", "select=1:ncpus=4:ompthreads=2"]));
    expect(omp).toContain("OMP=2 NCPUS=2");
    const plain = await output(await submit(["-l", "select=1:ncpus=3"]));
    expect(plain).toContain("OMP=3 NCPUS=3");
  });

  it("refuses a bad place and group= with PBS's message and exit status", async () => {
    const bad = await s.cli("qsub", ["-l", "place=scatter:pack"], { input: "true\n" });
    expect(bad.code).toBe(166);
    expect(bad.stderr).toMatch(/^qsub: Illegal attribute or resource value Resource_List\.place/);
    const group = await s.cli("qsub", ["-l", "place=scatter:group=switch"], { input: "true\n" });
    expect(group.code).toBe(187);
    expect(group.stderr).toMatch(/^qsub: Unknown resource Resource_List\.place/);
  });
});
