/**
 * The store contract (test/contract/store.contract.ts) against the DynamoDB adapter on DynamoDB
 * Local: one DynamoDB Local for the file, a fresh table (from the site table's definition) for
 * each test, deleted after it.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CreateTableCommand, DeleteTableCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  DeleteCommand,
  type DynamoDBDocumentClient,
  GetCommand,
  PutCommand,
  QueryCommand,
  ScanCommand,
} from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DynamoDbLocal, localAwsCredentials, startDynamoDbLocal } from "../../infra/local/dynamodb.js";
import { makeDynamoClients } from "../../shared/adapters/aws-clients.js";
import { DynamoSiteStore } from "../../shared/adapters/dynamodb/index.js";
import { jobItem } from "../../shared/adapters/dynamodb/items.js";
import { COLD_FIELDS } from "../../shared/adapters/dynamodb/job-pack.js";
import { scriptPut } from "../../shared/adapters/dynamodb/job-script.js";
import { createTableInput, keys } from "../../shared/adapters/dynamodb/table.js";
import { jobRecord } from "../fixtures/job.js";
import { storeContract } from "../contract/store.contract.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-store-contract-"));
let ddb: DynamoDbLocal | undefined;
let raw: DynamoDBClient;
let doc: DynamoDBDocumentClient;
let tables = 0;

beforeAll(async () => {
  ddb = await startDynamoDbLocal({ dataDir: path.join(dir, "ddb") });
  ({ ddb: raw, doc } = makeDynamoClients({
    endpoint: ddb.endpoint,
    region: "us-east-1",
    credentials: localAwsCredentials,
  }));
}, 60_000);

afterAll(async () => {
  raw?.destroy();
  await ddb?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

storeContract("dynamodb", async () => {
  const name = `contract${++tables}`;
  await raw.send(new CreateTableCommand(createTableInput(name)));
  return {
    store: new DynamoSiteStore(doc, name),
    cleanup: async () => {
      await raw.send(new DeleteTableCommand({ TableName: name }));
    },
    // DynamoDB Local never deletes on TTL: this does what DynamoDB's TTL does, eventually
    ttlSweep: async (nowS) => {
      let start: Record<string, unknown> | undefined;
      do {
        const r = await doc.send(
          new ScanCommand({
            TableName: name,
            FilterExpression: "expiresAt <= :now",
            ExpressionAttributeValues: { ":now": nowS },
            ExclusiveStartKey: start,
          }),
        );
        for (const it of r.Items ?? [])
          await doc.send(new DeleteCommand({ TableName: name, Key: { pk: it.pk, sk: it.sk } }));
        start = r.LastEvaluatedKey;
      } while (start);
    },
    partition: async (pk) =>
      (
        await doc.send(
          new QueryCommand({
            TableName: name,
            KeyConditionExpression: "pk = :pk",
            ExpressionAttributeValues: { ":pk": pk },
            ConsistentRead: true,
          }),
        )
      ).Items ?? [],
  };
});

// A table written by a version before the packed cold fields (job-pack.ts): the job item holds
// env, trace, paths inline. It must read as it did, and take the packed shape at its first write.
describe("dynamodb: a job item of the earlier shape", () => {
  it("reads whole, and is packed by its next write that changes a cold field", async () => {
    const name = `contract${++tables}`;
    await raw.send(new CreateTableCommand(createTableInput(name)));
    try {
      const store = new DynamoSiteStore(doc, name);
      const job = jobRecord(5, {
        env: { PBS_O_HOME: "/home/a", PBS_O_WORKDIR: "/w" },
        hist: [{ time: 1, source: "S", message: "Job Queued at request of alice@h" }],
        comment: "old shape",
      });
      const { script: _s, ...old } = jobItem(job);
      await doc.send(new PutCommand({ TableName: name, Item: old }));
      await doc.send(new PutCommand(scriptPut(name, job)));
      const read = await store.getJob("5");
      expect(read).toEqual(job);
      const after = await store.updateJob(read as never, { ...job, state: "H", holds: "u", comment: "held" });
      const item = (await doc.send(new GetCommand({ TableName: name, Key: keys.job("5") }))).Item ?? {};
      for (const f of COLD_FIELDS) expect(item).not.toHaveProperty(f);
      expect(item.z).toBeInstanceOf(Uint8Array);
      expect(await store.getJob("5")).toEqual({ ...after, script: job.script });
      expect((await store.getJob("5"))?.env).toEqual(job.env);
    } finally {
      await raw.send(new DeleteTableCommand({ TableName: name }));
    }
  });
});
