/**
 * Reads by key (adapters/dynamodb/batch-get.ts, behind getJobs, getMomBeats, the accounting
 * check and the script leases): 100 keys a request, and the keys DynamoDB left unprocessed
 * asked again, only those, until none is left. DynamoDB Local never leaves keys unprocessed on
 * demand, so aws-sdk-client-mock does; the real round trips are in the contract suite.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { BatchGetCommand, DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { batchGet } from "../../../shared/adapters/dynamodb/batch-get.js";

type Key = { pk: string; sk: string };
type Asked = { RequestItems: Record<string, { Keys: Key[]; ConsistentRead?: boolean }> };
const asked = (c: { args: [{ input: unknown }] }) => (c.args[0].input as Asked).RequestItems.T;

describe("batchGet", () => {
  const ddb = mockClient(DynamoDBDocumentClient);
  afterEach(() => ddb.reset());
  const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: "us-east-1" }));
  const key = (i: number): Key => ({ pk: `JOB#${i}`, sk: "A" });

  it("asks 100 keys a request, with the read's consistency, and returns every item found", async () => {
    ddb.on(BatchGetCommand).callsFake((input: Asked) => ({
      Responses: { T: input.RequestItems.T.Keys.map((k) => ({ ...k, v: 1 })) },
      UnprocessedKeys: {},
    }));
    const keys = Array.from({ length: 250 }, (_, i) => key(i));
    const got = await batchGet(doc, "T", keys, { consistent: true });
    const calls = ddb.commandCalls(BatchGetCommand);
    expect(calls.map((c) => asked(c as never).Keys.length)).toEqual([100, 100, 50]);
    expect(calls.every((c) => asked(c as never).ConsistentRead === true)).toBe(true);
    expect(got.map((it) => it.pk).sort()).toEqual(keys.map((k) => k.pk).sort());
  });

  it("asks the keys DynamoDB left unprocessed again, only those, until none is left", async () => {
    const keys = [key(1), key(2), key(3)];
    ddb
      .on(BatchGetCommand)
      .resolvesOnce({
        Responses: { T: [{ ...keys[0] }] },
        UnprocessedKeys: { T: { Keys: [keys[1], keys[2]] } },
      })
      .resolvesOnce({ Responses: { T: [{ ...keys[2] }] }, UnprocessedKeys: { T: { Keys: [keys[1]] } } })
      .resolvesOnce({ Responses: { T: [{ ...keys[1] }] }, UnprocessedKeys: {} });
    const got = await batchGet(doc, "T", keys);
    const calls = ddb.commandCalls(BatchGetCommand);
    expect(calls.map((c) => asked(c as never).Keys.map((k) => k.pk))).toEqual([
      ["JOB#1", "JOB#2", "JOB#3"],
      ["JOB#2", "JOB#3"],
      ["JOB#2"],
    ]);
    expect(got.map((it) => it.pk).sort()).toEqual(["JOB#1", "JOB#2", "JOB#3"]);
  });
});
