import { describe, expect, it } from "vitest";
import { PbsParseError } from "../../../shared/errors.js";
import {
  formatExecHost,
  formatExecVnode,
  formatSize,
  parseExecVnode,
} from "../../../shared/scheduler/format.js";
import type { Allocation } from "../../../shared/scheduler/types.js";

const alloc: Allocation[] = [
  { node: "node1", ncpus: 2, mem: 1024 ** 3, ngpus: 0 },
  { node: "node2", ncpus: 1, mem: 0, ngpus: 0 },
  { node: "gpu-3.site", ncpus: 4, mem: 512 * 1024, ngpus: 2 },
];

describe("exec_vnode / exec_host", () => {
  it("formats exec_vnode with mem in kb, omitting zero mem and ngpus", () => {
    expect(formatExecVnode(alloc)).toBe(
      "(node1:ncpus=2:mem=1048576kb)+(node2:ncpus=1)+(gpu-3.site:ncpus=4:mem=512kb:ngpus=2)",
    );
    expect(formatExecVnode([])).toBe("");
  });

  it("rounds partial kilobytes up", () => {
    expect(formatExecVnode([{ node: "n", ncpus: 1, mem: 1025, ngpus: 0 }])).toBe("(n:ncpus=1:mem=2kb)");
  });

  it("formats exec_host, omitting *1", () => {
    expect(formatExecHost(alloc)).toBe("node1/0*2+node2/0+gpu-3.site/0*4");
  });

  it("gives each chunk its own entry: two chunks on one node are n1/0*8+n1/1*8, as PBS prints", () => {
    const two: Allocation[] = [
      { node: "n1", ncpus: 8, mem: 0, ngpus: 0 },
      { node: "n2", ncpus: 1, mem: 0, ngpus: 0 },
      { node: "n1", ncpus: 8, mem: 0, ngpus: 0, excl: "excl" },
    ];
    expect(formatExecHost(two)).toBe("n1/0*8+n2/0+n1/1*8");
    expect(formatExecVnode(two)).toBe("(n1:ncpus=8)+(n2:ncpus=1)+(n1:ncpus=8)");
  });

  it("parses what it formats", () => {
    expect(parseExecVnode(formatExecVnode(alloc))).toEqual(alloc);
    expect(parseExecVnode("")).toEqual([]);
  });

  it("parses PBS variants: grouped chunks, repeated nodes, units, unknown resources", () => {
    expect(parseExecVnode("(a:ncpus=1:mem=1gb+b:ncpus=2:mpiprocs=2)+(a:ncpus=3:mem=512mb:ngpus=1)")).toEqual([
      { node: "a", ncpus: 4, mem: 1.5 * 1024 ** 3, ngpus: 1 },
      { node: "b", ncpus: 2, mem: 0, ngpus: 0 },
    ]);
    expect(parseExecVnode(" (n:mem=100) ")).toEqual([{ node: "n", ncpus: 0, mem: 100, ngpus: 0 }]);
  });

  it("rejects malformed text", () => {
    for (const bad of [
      "(:ncpus=1)",
      "(a:ncpus)",
      "(a:ncpus=x)",
      "(a:mem=1zb)",
      "(a b:ncpus=1)",
      "(a:ncpus=1)+",
    ]) {
      expect(() => parseExecVnode(bad), bad).toThrow(PbsParseError);
    }
  });

  it("formats sizes in the largest exact unit", () => {
    expect(formatSize(4 * 1024 ** 3)).toBe("4gb");
    expect(formatSize(1536 * 1024 ** 2)).toBe("1536mb");
    expect(formatSize(2048)).toBe("2kb");
    expect(formatSize(100)).toBe("100b");
    expect(formatSize(0)).toBe("0kb");
  });
});
