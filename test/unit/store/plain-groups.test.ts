/**
 * How the DynamoDB store sends a group of plain job writes (PlainGroupWrites, dynamodb/jobs.ts):
 * one conditional UpdateItem each by default (AWS bills a transaction's items twice), or shared
 * TransactWriteItems when asked (the local runtime: DynamoDB Local pays per commit). Writes with
 * an accounting record go in transactions either way. The outcomes are the same (the group
 * contract, on DynamoDB Local, for both); this pins which requests each choice sends.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DynamoDBDocumentClient,
  PutCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { DynamoSiteStore, type PlainGroupWrites } from "../../../shared/adapters/dynamodb/index.js";
import type { JobWrite } from "../../../shared/ports/store.js";
import { jobRecord } from "../../fixtures/job.js";

const store = (plainGroups?: PlainGroupWrites) =>
  new DynamoSiteStore(
    DynamoDBDocumentClient.from(new DynamoDBClient({ region: "us-east-1" })),
    "T",
    plainGroups ? { plainGroups } : {},
  );
const claims = (n: number): JobWrite[] =>
  Array.from({ length: n }, (_, i) => {
    const j = jobRecord(i + 1, { state: "Q" });
    return { before: j, after: { ...j, state: "R" } };
  });

describe("a group of plain job writes", () => {
  const ddb = mockClient(DynamoDBDocumentClient);
  afterEach(() => ddb.reset());

  it("goes as one conditional UpdateItem a job by default (AWS)", async () => {
    ddb.on(UpdateCommand).resolves({});
    const res = await store().writeJobs(claims(5));
    expect(res.map((r) => (r instanceof Error ? r.message : r.ver))).toEqual([1, 1, 1, 1, 1]);
    const sent = ddb.commandCalls(UpdateCommand).map((c) => c.args[0].input);
    expect(sent).toHaveLength(5);
    for (const u of sent) expect(u.ConditionExpression).toMatch(/ver/);
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });

  it("goes in one shared transaction when the store is asked to (the local runtime)", async () => {
    ddb.on(TransactWriteCommand).resolves({});
    const res = await store("transactions").writeJobs(claims(5));
    expect(res.map((r) => (r instanceof Error ? r.message : r.ver))).toEqual([1, 1, 1, 1, 1]);
    const tx = ddb.commandCalls(TransactWriteCommand);
    expect(tx).toHaveLength(1);
    expect(tx[0].args[0].input.TransactItems).toHaveLength(5);
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(0);
    expect(ddb.commandCalls(PutCommand)).toHaveLength(0);
  });

  it("a group of one is the single write either way", async () => {
    ddb.on(UpdateCommand).resolves({});
    await store("transactions").writeJobs(claims(1));
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(1);
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(0);
  });
});
