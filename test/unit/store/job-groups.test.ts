/**
 * planJobGroups (shared/adapters/dynamodb/job-groups.ts): how a group of job writes is cut into
 * transactions DynamoDB accepts: at most 100 actions and 3.5 MB, never one item twice, order
 * kept between writes of one item.
 */
import { describe, expect, it } from "vitest";
import {
  MAX_TRANSACT_ACTIONS,
  MAX_TRANSACT_BYTES,
  mergeCharges,
  planJobGroups,
  writeFootprint,
} from "../../../shared/adapters/dynamodb/job-groups.js";
import type { JobWrite } from "../../../shared/ports/store.js";
import { jobRecord } from "../../fixtures/job.js";

const T0 = Date.UTC(2026, 11, 2, 8);
const end = (seq: number, over: { account?: string; script?: string } = {}): JobWrite => {
  const j = jobRecord(seq, { state: "R", script: over.script ?? "true\n" });
  return {
    before: j,
    after: { ...j, state: "F" },
    acct: { time: T0, jobId: j.id, type: "E", data: {} },
    charge: over.account
      ? { account: over.account, where: "casper", coreSeconds: 1, walltime: 1 }
      : undefined,
  };
};

function check(writes: JobWrite[], groups: number[][]): void {
  expect(groups.flat().sort((a, b) => a - b)).toEqual(writes.map((_, i) => i));
  for (const g of groups) {
    const fs = g.map((i) => writeFootprint(writes[i]));
    const projects = new Set(fs.map((f) => f.project).filter(Boolean)).size;
    expect(fs.reduce((n, f) => n + f.items.length, 0) + projects).toBeLessThanOrEqual(MAX_TRANSACT_ACTIONS);
    expect(fs.reduce((n, f) => n + f.bytes, 0)).toBeLessThanOrEqual(MAX_TRANSACT_BYTES);
    const items = fs.flatMap((f) => f.items);
    expect(new Set(items).size).toBe(items.length);
  }
}

describe("planJobGroups", () => {
  it("puts small writes together, up to 100 actions a transaction", () => {
    const writes = Array.from({ length: 120 }, (_, i) => end(i + 1));
    const groups = planJobGroups(writes);
    check(writes, groups);
    expect(groups.map((g) => g.length)).toEqual([50, 50, 20]);
  });

  it("cuts at 3.5 MB", () => {
    const big = "x".repeat(300 * 1024);
    const writes = Array.from({ length: 16 }, (_, i) => end(i + 1, { script: big }));
    const groups = planJobGroups(writes);
    check(writes, groups);
    expect(groups.length).toBe(2);
  });

  it("never one job twice: its writes go in turns, in order; one project's charges share a group, summed", () => {
    const writes = [end(1, { account: "P1" }), end(2, { account: "P1" }), end(3, { account: "P2" }), end(1)];
    const groups = planJobGroups(writes);
    check(writes, groups);
    expect(groups).toEqual([[0, 1, 2], [3]]);
    expect(mergeCharges(groups[0].map((i) => writes[i]))).toEqual([
      [{ account: "P1", where: "casper", coreSeconds: 2, walltime: 2 }],
      [{ account: "P2", where: "casper", coreSeconds: 1, walltime: 1 }],
    ]);
  });

  it("counts one action per project and group: 49 ends of one project and its ADD make 99", () => {
    const writes = Array.from({ length: 60 }, (_, i) => end(i + 1, { account: "P1" }));
    expect(planJobGroups(writes).map((g) => g.length)).toEqual([49, 11]);
  });
});
