/**
 * The cost meter's count of transactions of several items (shared/adapters/capacity-meter.ts):
 * DynamoDB Local reports such a transaction as one item, so the meter bills it from its actions.
 */
import { describe, expect, it } from "vitest";
import {
  addConsumed,
  countKeysWritten,
  countTransaction,
  keyClass,
  summarizeCapacity,
} from "../../../shared/adapters/capacity-meter.js";

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

describe("keys written (ddbkey)", () => {
  it("counts each write's table key by class, in single, batch and transaction writes", () => {
    const counts: Record<string, number> = {};
    countKeysWritten(counts, "PutItem", { Item: { pk: "JOB#12", sk: "A" } });
    countKeysWritten(counts, "UpdateItem", { Key: { pk: "SRV", sk: "SEQ" } });
    countKeysWritten(counts, "BatchWriteItem", {
      RequestItems: {
        t: [
          { PutRequest: { Item: { pk: "JOB#13", sk: "B" } } },
          { DeleteRequest: { Key: { pk: "JOB#14", sk: "A" } } },
        ],
      },
    });
    countKeysWritten(counts, "TransactWriteItems", {
      TransactItems: [
        { Update: { Key: { pk: { S: "PROJ" }, sk: { S: "P1" } } } },
        { Put: { Item: { pk: "ACCT#2026-12-03", sk: "2026-12-03T06:00:00.000Z#1.casper#E" } } },
        { ConditionCheck: { Key: { pk: "JOB#1", sk: "A" } } },
        { Update: { Key: { pk: "SRV", sk: "Q#workq" } } },
      ],
    });
    expect(counts).toEqual({
      "ddbkey.JOB#<id>/A": 2,
      "ddbkey.JOB#<id>/B": 1,
      "ddbkey.SRV/SEQ": 1,
      "ddbkey.PROJ/<account>": 1,
      "ddbkey.ACCT#<day>/…": 1,
      "ddbkey.SRV/Q#<name>": 1,
    });
    expect(keyClass("PMSG#derecho#abc", "M")).toBe("PMSG#<peer>#<id>/…");
  });
});
