/**
 * The store contract (test/contract/store.contract.ts) against the DynamoDB adapter on DynamoDB
 * Local: one DynamoDB Local for the file, a fresh table (from the site table's definition) for
 * each test, deleted after it.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CreateTableCommand, DeleteTableCommand, type DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DeleteCommand, type DynamoDBDocumentClient, QueryCommand, ScanCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll } from "vitest";
import { type DynamoDbLocal, localAwsCredentials, startDynamoDbLocal } from "../../infra/local/dynamodb.js";
import { makeDynamoClients } from "../../shared/adapters/aws-clients.js";
import { DynamoSiteStore } from "../../shared/adapters/dynamodb/index.js";
import { createTableInput } from "../../shared/adapters/dynamodb/table.js";
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
