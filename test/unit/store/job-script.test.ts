/**
 * The script item (shared/adapters/dynamodb/job-script.ts): a typical job script is stored
 * compressed under 1 KB (1 WRU at submit, not 2) and reads back whole; a small one, and one too
 * large for an item, stay text.
 */
import { describe, expect, it } from "vitest";
import { itemSize } from "../../../shared/adapters/dynamodb/item-size.js";
import { scriptExpiryUpdate, scriptPut, withScript } from "../../../shared/adapters/dynamodb/job-script.js";
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

  it("its expiry at the job's end is one UpdateItem of an item still under 1 KB (1 WRU), never creating one", () => {
    const { Item } = scriptPut("t", { key: "7", script: twoKb });
    // DynamoDB bills an UpdateItem by the larger of the item before and after
    expect(itemSize({ ...Item, expiresAt: 1_800_000_000 })).toBeLessThan(1024);
    expect(scriptExpiryUpdate("t", "7", 1_800_000_000)).toEqual({
      TableName: "t",
      Key: { pk: "JOB#7", sk: "B" },
      UpdateExpression: "SET expiresAt = :t",
      ConditionExpression: "attribute_exists(pk)",
      ExpressionAttributeValues: { ":t": 1_800_000_000 },
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
