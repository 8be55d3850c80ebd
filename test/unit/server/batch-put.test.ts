/**
 * Accounting records put together (Ledger.putAccts: the Q records of submissions arriving
 * together, the S records of a cycle's claims) go in BatchWriteItem, 25 a request
 * (adapters/dynamodb/batch-put.ts). What DynamoDB Local never does on demand comes from
 * aws-sdk-client-mock: items left unprocessed (throttling), a request refused whole. The real
 * round trip is in the records contract (test/contract/records.contract.ts, DynamoDB Local).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { BatchWriteCommand, DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { StoreError } from "../../../shared/errors.js";
import { DynamoSiteStore } from "../../../shared/adapters/dynamodb/index.js";
import { acctItem } from "../../../shared/adapters/dynamodb/items.js";
import { STORE_ATTEMPTS } from "../../../shared/adapters/dynamodb/errors.js";
import { PACK_SPAN_MS } from "../../../shared/adapters/dynamodb/acct-packs.js";
import type { AcctRecord } from "../../../shared/server/records.js";

const meta = { $metadata: {} };
const named = (name: string, message: string) => Object.assign(new Error(message), { name, ...meta });
// a second apart: each record is an item of its own (records within PACK_SPAN_MS share one: the
// packing tests below)
const rec = (n: number, type = "S"): AcctRecord => ({
  time: 1_780_000_000_000 + n * 1000,
  jobId: `${n}.casper`,
  type,
  data: { user: "alice", queue: "workq" },
});
type Put = { PutRequest: { Item: Record<string, unknown> } };
const sentIn = (call: { args: [{ input: unknown }] }) =>
  ((call.args[0].input as { RequestItems: Record<string, Put[]> }).RequestItems.T ?? []).map(
    (w) => w.PutRequest.Item.jobId,
  );

describe("putAccts: BatchWriteItem with UnprocessedItems retried", () => {
  const ddb = mockClient(DynamoDBDocumentClient);
  afterEach(() => ddb.reset());
  const store = new DynamoSiteStore(
    DynamoDBDocumentClient.from(new DynamoDBClient({ region: "us-east-1" })),
    "T",
  );

  it("sends 25 records a request, each record once, no PutItem", async () => {
    ddb.on(BatchWriteCommand).resolves({ UnprocessedItems: {} });
    const recs = Array.from({ length: 60 }, (_, i) => rec(i));
    expect(await store.putAccts(recs)).toEqual(recs.map(() => undefined));
    const calls = ddb.commandCalls(BatchWriteCommand);
    expect(calls.map((c) => sentIn(c as never).length)).toEqual([25, 25, 10]);
    expect(calls.flatMap((c) => sentIn(c as never)).sort()).toEqual(recs.map((r) => r.jobId).sort());
    expect(ddb.commandCalls(PutCommand)).toHaveLength(0);
  });

  it("sends items DynamoDB left unprocessed again, only those, until they land", async () => {
    const recs = Array.from({ length: 5 }, (_, i) => rec(i));
    const left = (...ns: number[]) => ({
      UnprocessedItems: { T: ns.map((n) => ({ PutRequest: { Item: acctItem(recs[n]) } })) },
    });
    ddb
      .on(BatchWriteCommand)
      .resolvesOnce(left(1, 3))
      .resolvesOnce(left(3))
      .resolves({ UnprocessedItems: {} });
    expect(await store.putAccts(recs)).toEqual(recs.map(() => undefined));
    expect(ddb.commandCalls(BatchWriteCommand).map((c) => sentIn(c as never))).toEqual([
      recs.map((r) => r.jobId),
      ["1.casper", "3.casper"],
      ["3.casper"],
    ]);
  });

  it("items still unprocessed after the retries are put one by one; only one that fails alone fails", async () => {
    const recs = Array.from({ length: 3 }, (_, i) => rec(i));
    ddb.on(BatchWriteCommand).resolves({
      UnprocessedItems: { T: [{ PutRequest: { Item: acctItem(recs[2]) } }] },
    });
    ddb.on(PutCommand).resolves({});
    expect(await store.putAccts(recs)).toEqual([undefined, undefined, undefined]);
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(STORE_ATTEMPTS);
    expect(ddb.commandCalls(PutCommand).map((c) => c.args[0].input.Item?.jobId)).toEqual(["2.casper"]);

    ddb.reset();
    ddb.on(BatchWriteCommand).resolves({
      UnprocessedItems: { T: [{ PutRequest: { Item: acctItem(recs[2]) } }] },
    });
    ddb.on(PutCommand).rejects(named("ThrottlingException", "Rate exceeded"));
    const errs = await store.putAccts(recs);
    expect(errs.slice(0, 2)).toEqual([undefined, undefined]);
    expect(errs[2]).toBeInstanceOf(StoreError);
    expect((errs[2] as StoreError).retryable).toBe(true);
  });

  it("a request refused whole settles its records one by one", async () => {
    const recs = Array.from({ length: 3 }, (_, i) => rec(i));
    ddb.on(BatchWriteCommand).rejects(named("ValidationException", "Item size has exceeded the maximum"));
    ddb.on(PutCommand).callsFake((input: { Item: { jobId: string } }) => {
      if (input.Item.jobId === "1.casper")
        throw named("ValidationException", "Item size has exceeded the maximum allowed size");
      return {};
    });
    const errs = await store.putAccts(recs);
    expect(errs[0]).toBeUndefined();
    expect(errs[2]).toBeUndefined();
    expect((errs[1] as StoreError).code).toBe("JobTooLarge");
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(1);
    expect(ddb.commandCalls(PutCommand)).toHaveLength(3);
  });

  it("a record named twice is sent once (DynamoDB refuses a batch naming a key twice)", async () => {
    ddb.on(BatchWriteCommand).resolves({ UnprocessedItems: {} });
    const recs = [rec(1), rec(2), rec(1), rec(3, "Q")];
    expect(await store.putAccts(recs)).toEqual([undefined, undefined, undefined, undefined]);
    const sent = ddb.commandCalls(BatchWriteCommand).flatMap((c) => sentIn(c as never));
    expect(sent).toHaveLength(3);
  });

  it("one record is a PutItem, as before", async () => {
    ddb.on(PutCommand).resolves({});
    expect(await store.putAccts([rec(1)])).toEqual([undefined]);
    expect(ddb.commandCalls(BatchWriteCommand)).toHaveLength(0);
    expect(ddb.commandCalls(PutCommand)).toHaveLength(1);
  });

  const at = (ms: number, n: number): AcctRecord => ({
    ...rec(0),
    time: 1_780_000_000_000 + ms,
    jobId: `${n}.casper`,
  });

  it("packs the close ones (their records as JSON in `recs`), and a pack's failure is each of its records'", async () => {
    const recs = [at(0, 1), at(PACK_SPAN_MS, 2), at(PACK_SPAN_MS + 1, 3), at(PACK_SPAN_MS + 2, 4)];
    ddb.on(BatchWriteCommand).rejects(named("ThrottlingException", "Rate exceeded"));
    ddb.on(PutCommand).callsFake((input: { Item: Record<string, unknown> }) => {
      if (typeof input.Item.recs === "string")
        throw named("ValidationException", "Item size has exceeded the maximum");
      return {};
    });
    const errs = await store.putAccts(recs);
    const puts = ddb.commandCalls(PutCommand).map((c) => c.args[0].input.Item ?? {});
    // 1 and 2 (PACK_SPAN_MS apart) in one pack; 3 is over PACK_SPAN_MS from 1: the next, with 4
    expect(puts.map((it) => JSON.parse(String(it.recs)).map((r: AcctRecord) => r.jobId))).toEqual([
      ["1.casper", "2.casper"],
      ["3.casper", "4.casper"],
    ]);
    expect(puts[0].sk).toMatch(/#1\.casper#S#pack$/);
    expect(errs.map((e) => (e as StoreError).code)).toEqual([
      "JobTooLarge",
      "JobTooLarge",
      "JobTooLarge",
      "JobTooLarge",
    ]);
    expect((errs[3] as StoreError).message).toMatch(/S record of 3\.casper and 1 more/);
  });
});
