/**
 * The script item (shared/adapters/dynamodb/job-script.ts): a typical job script is stored
 * compressed under 1 KB (1 WRU at submit, not 2) and reads back whole; a small one, and one too
 * large for an item, stay text.
 */
import { describe, expect, it } from "vitest";
import { itemSize } from "../../../shared/adapters/dynamodb/item-size.js";
import { scriptLeaseRenewal, scriptPut, withScript } from "../../../shared/adapters/dynamodb/job-script.js";
import type { JobRecord } from "../../../shared/server/job.js";

const twoKb = [
  "#!/bin/bash",
  "#PBS -N wrf_postproc_ensemble_member",
  "#PBS -l select=1:ncpus=1:mem=2gb",
  "#PBS -l walltime=00:10:00",
  ...Array.from(
    { length: 28 },
    (_, i) => `# history ${i}: adjusted regrid weights and output naming for the archive`,
  ),
  'echo "job $PBS_JOBID"',
].join("\n");

describe("script item", () => {
  it("stores a 2 KB script compressed, under 1 KB, and reads it back whole", () => {
    expect(Buffer.byteLength(twoKb)).toBeGreaterThan(2000);
    const { Item } = scriptPut("t", { key: "7", script: twoKb });
    expect(Item).not.toHaveProperty("script");
    expect(itemSize(Item)).toBeLessThan(1024);
    expect(withScript({ key: "7" } as JobRecord, Item).script).toBe(twoKb);
  });

  it("carries its lease from the create (the TTL attribute), and a renewal only ever extends it, never creating an item", () => {
    const { Item } = scriptPut("t", { key: "7", script: twoKb, scriptUntil: 1_800_000_000 });
    expect(Item.expiresAt).toBe(1_800_000_000);
    expect(scriptPut("t", { key: "7", script: twoKb }).Item).not.toHaveProperty("expiresAt");
    // DynamoDB bills an UpdateItem by the larger of the item before and after: 1 WRU
    expect(itemSize({ ...Item, expiresAt: 1_900_000_000, rn: true })).toBeLessThan(1024);
    expect(scriptLeaseRenewal("t", "7", 1_900_000_000)).toEqual({
      TableName: "t",
      Key: { pk: "JOB#7", sk: "B" },
      UpdateExpression: "SET expiresAt = :t, rn = :rn",
      ConditionExpression: "attribute_exists(pk) AND (attribute_not_exists(expiresAt) OR expiresAt < :t)",
      ExpressionAttributeValues: { ":t": 1_900_000_000, ":rn": true },
    });
  });

  it("keeps a short script, and one past 300 KB, as text", () => {
    expect(scriptPut("t", { key: "7", script: "true\n" }).Item).toMatchObject({ script: "true\n" });
    const big = "x".repeat(450 * 1024);
    const { Item } = scriptPut("t", { key: "7", script: big });
    expect(Item).toMatchObject({ script: big });
    expect(withScript({ key: "7" } as JobRecord, Item).script).toBe(big);
  });
});
