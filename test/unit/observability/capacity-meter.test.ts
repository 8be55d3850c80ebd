/**
 * The cost meter's count of transactions of several items (shared/adapters/capacity-meter.ts):
 * DynamoDB Local reports such a transaction as one item, so the meter bills it from its actions.
 */
import { describe, expect, it } from "vitest";
import { addConsumed, countTransaction, summarizeCapacity } from "../../../shared/adapters/capacity-meter.js";

describe("capacity meter", () => {
  it("bills each Put of a transaction at 2 WRU per KB, and counts its updates apart", () => {
    const counts: Record<string, number> = {};
    const put = (n: number) => ({
      Put: { TableName: "t", Item: { pk: "JOB#1", sk: "A", d: "x".repeat(n) } },
    });
    countTransaction(counts, [put(1500), put(1500), put(1500), put(100), { Update: { TableName: "t" } }]);
    // 3 items of 1.5 KB (2 KB each) and one under 1 KB: 2 * (2 + 2 + 2 + 1)
    expect(counts["ddbtx.put.wru"]).toBe(14);
    expect(counts["ddbtx.update"]).toBe(1);
    expect(counts["ddbtx.actions"]).toBe(5);
    expect(counts["ddbtx.requests"]).toBe(1);
    // marshalled items (what the low-level client sends) weigh about the same
    const low: Record<string, number> = {};
    countTransaction(low, [
      { Put: { TableName: "t", Item: { pk: { S: "JOB#1" }, d: { S: "x".repeat(1500) } } } },
    ]);
    expect(low["ddbtx.put.wru"]).toBe(4);
    // a project's charge (ADD to its small PROJ item): 2 WRU, not a job update
    const charge: Record<string, number> = {};
    countTransaction(charge, [put(100), { Update: { TableName: "t", Key: { pk: "PROJ", sk: "P1" } } }]);
    expect(charge["ddbtx.put.wru"]).toBe(4);
    expect(charge["ddbtx.update"]).toBeUndefined();
  });

  it("keeps the reported units of a transaction apart by command and part, out of the ddbtx counts", () => {
    const counts: Record<string, number> = {};
    addConsumed(counts, "W", "TransactWriteItemsN", [
      {
        CapacityUnits: 6,
        Table: { CapacityUnits: 4 },
        GlobalSecondaryIndexes: { list: { CapacityUnits: 2 } },
      },
    ]);
    countTransaction(counts, [{ Update: { TableName: "t" } }, { Update: { TableName: "t" } }]);
    const s = summarizeCapacity(counts);
    expect(s.wru).toBe(6);
    expect(s.by).toEqual({ "W.TransactWriteItemsN.table": 4, "W.TransactWriteItemsN.gsi:list": 2 });
  });
});
