/**
 * The ready index as the scheduler reads it, on DynamoDB Local with the real store: a queue's
 * ready jobs are spread over index shards (shared/adapters/dynamodb/table.ts, READY_SHARDS),
 * and `queryReady(queue, limit)` must read every shard of that queue and merge them into one
 * scheduling order (priority, then qtime, then seq), with nothing from other queues and no
 * held job.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DynamoDbLocal, localAwsCredentials, startDynamoDbLocal } from "../../infra/local/dynamodb.js";
import { makeDynamoClients } from "../../shared/adapters/aws-clients.js";
import { DynamoSiteStore } from "../../shared/adapters/dynamodb/index.js";
import { createTableInput, READY_SHARDS } from "../../shared/adapters/dynamodb/table.js";
import { jobRecord } from "../fixtures/job.js";

let ddb: DynamoDbLocal;
let store: DynamoSiteStore;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-ready-"));

beforeAll(async () => {
  ddb = await startDynamoDbLocal({ dataDir: path.join(dir, "ddb") });
  const { ddb: raw, doc } = makeDynamoClients({
    endpoint: ddb.endpoint,
    region: "us-east-1",
    credentials: localAwsCredentials,
  });
  await raw.send(new CreateTableCommand(createTableInput("site")));
  store = new DynamoSiteStore(doc, "site");
}, 60_000);

afterAll(async () => {
  await ddb?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("queryReady", () => {
  it("merges every shard of the queue into scheduling order, and only that queue's ready jobs", async () => {
    // seq % READY_SHARDS picks the shard: these eight cover all four, two each.
    const jobs = [
      jobRecord(201, { priority: 0 }),
      jobRecord(202, { priority: 5 }),
      jobRecord(203, { priority: 5, qtime: 2 }),
      jobRecord(204, { priority: 9 }),
      jobRecord(205, { priority: 0 }),
      jobRecord(206, { priority: 1 }),
      jobRecord(207, { priority: 5 }),
      jobRecord(208, { priority: 0 }),
      // ahead of all of them, but in another queue, or held
      jobRecord(209, { priority: 100, queue: "other" }),
      jobRecord(210, { priority: 100, state: "H", holds: "u" }),
    ];
    expect(new Set(jobs.slice(0, 8).map((j) => j.seq % READY_SHARDS)).size).toBe(READY_SHARDS);
    for (const j of jobs) await store.createJob(j);

    const order = ["204", "202", "207", "203", "206", "201", "205", "208"];
    expect((await store.queryReady("workq", 20)).map((j) => j.key)).toEqual(order);
    // the top three live in three different shards
    expect((await store.queryReady("workq", 3)).map((j) => j.key)).toEqual(order.slice(0, 3));
    expect((await store.queryReady("other", 20)).map((j) => j.key)).toEqual(["209"]);
  });
});
