/**
 * npm run bench:ddb — the ceiling of the local stack: how many requests per second DynamoDB
 * Local answers on this machine for the site table (with its three indexes), at concurrency
 * 16. Divide by the requests per job from `npm run bench` to see the most jobs/s the local
 * mode can do here.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { GetCommand, PutCommand, TransactWriteCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { startDynamoDbLocal } from "../infra/local/dynamodb.js";
import { LOCAL_CREDENTIALS, makeDynamoClients } from "../shared/adapters/aws-clients.js";
import { createTableInput } from "../shared/adapters/dynamodb/table.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-ddb-"));
const ddbLocal = await startDynamoDbLocal({ dataDir: dir });
const { ddb, doc } = makeDynamoClients({
  region: "us-east-1",
  endpoint: ddbLocal.endpoint,
  credentials: LOCAL_CREDENTIALS,
});
await ddb.send(new CreateTableCommand(createTableInput("ceiling")));
const item = (i: number) => ({
  pk: `JOB#${i}`,
  sk: "A",
  id: `${i}.x`,
  key: String(i),
  state: "Q",
  queue: "workq",
  script: "/bin/true\n",
  rdy: `workq#${i % 4}`,
  rdySk: `1023#${Date.now()}#${i}`,
  lst: "A#workq",
  lstSk: String(i).padStart(12, "0"),
  ver: 0,
});
async function measure(name: string, op: (i: number) => Promise<unknown>, seconds = 5): Promise<void> {
  let n = 0;
  const end = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      while (Date.now() < end) await op(n++);
    }),
  );
  console.log(`| ${name} | ${(n / seconds).toFixed(0)} requests/s |`);
}
console.log("| request (concurrency 16, site table with 3 GSIs) | DynamoDB Local |\n|---|---|");
await measure("PutItem (new job item)", (i) =>
  doc.send(new PutCommand({ TableName: "ceiling", Item: item(i) })),
);
await measure("UpdateItem (Q to R: moves 3 index keys)", (i) =>
  doc.send(
    new UpdateCommand({
      TableName: "ceiling",
      Key: { pk: `JOB#${i % 1000}`, sk: "A" },
      UpdateExpression: "SET #s = :r, run = :p, runSk = :k, ver = ver + :one REMOVE rdy, rdySk",
      ExpressionAttributeNames: { "#s": "state" },
      ExpressionAttributeValues: { ":r": "R", ":p": "default", ":k": String(i), ":one": 1 },
    }),
  ),
);
// what group commit buys on DynamoDB Local (shared/adapters/dynamodb/jobs.ts, PlainGroupWrites):
// the same conditional claim, 25 to a TransactWriteItems; counted in items, not requests
{
  let n = 0;
  const seconds = 5;
  const end = Date.now() + seconds * 1000;
  await Promise.all(
    Array.from({ length: 2 }, async () => {
      while (Date.now() < end) {
        const first = n;
        n += 25;
        await doc.send(
          new TransactWriteCommand({
            TransactItems: Array.from({ length: 25 }, (_, k) => ({
              Update: {
                TableName: "ceiling",
                Key: { pk: `JOB#${(first + k) % 1000}`, sk: "A" },
                UpdateExpression: "SET #s = :r, run = :p, runSk = :k, ver = ver + :one REMOVE rdy, rdySk",
                ExpressionAttributeNames: { "#s": "state" },
                ExpressionAttributeValues: { ":r": "R", ":p": "default", ":k": String(first + k), ":one": 1 },
              },
            })),
          }),
        );
      }
    }),
  );
  console.log(`| TransactWriteItems of 25 such updates (2 at once) | ${(n / seconds).toFixed(0)} items/s |`);
}
await measure("GetItem", (i) =>
  doc.send(new GetCommand({ TableName: "ceiling", Key: { pk: `JOB#${i % 1000}`, sk: "A" } })),
);
await ddbLocal.stop();
fs.rmSync(dir, { recursive: true, force: true });
process.exit(0);
