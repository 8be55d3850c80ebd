import { mkdtemp, rm, stat } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  CreateTableCommand,
  DescribeTableCommand,
  DynamoDBClient,
  GetItemCommand,
  ListTablesCommand,
  PutItemCommand,
  QueryCommand,
} from "@aws-sdk/client-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DynamoDbLocal, startDynamoDbLocal } from "../../infra/local/dynamodb.js";
import { freePort } from "../../infra/local/ports.js";
import { endpointOptions } from "../../shared/adapters/aws-clients.js";
import {
  createTableInput,
  LIST_ATTRS,
  LIST_INDEX,
  siteTableDefinition,
} from "../../shared/adapters/dynamodb/table.js";
import { ensureTable, projectionText } from "../../infra/local/runtime.js";

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function client(endpoint: string, accessKeyId: string, region: string): DynamoDBClient {
  return new DynamoDBClient({
    ...endpointOptions(endpoint),
    region,
    credentials: { accessKeyId, secretAccessKey: "x" },
  });
}

describe("DynamoDB Local", () => {
  let dataDir: string;
  let ddb: DynamoDbLocal;

  beforeAll(async () => {
    // a folder that does not exist yet: startDynamoDbLocal creates it
    dataDir = join(await mkdtemp(join(tmpdir(), "mq-ddb-")), "data");
    ddb = await startDynamoDbLocal({ dataDir });
  });

  afterAll(async () => {
    await ddb?.stop();
    await rm(join(dataDir, ".."), { recursive: true, force: true });
  });

  it("starts on a free port with the data dir created, and shares tables across credentials and regions", async () => {
    expect((await stat(dataDir)).isDirectory()).toBe(true);
    expect(ddb.endpoint).toBe(`unix:${ddb.socketPath}`);
    expect((await stat(ddb.socketPath)).mode & 0o777).toBe(0o600);
    if (process.getuid?.() === 0) expect(ddb.isolation).toBe("netns");
    expect(isAlive(ddb.pid)).toBe(true);

    const a = client(ddb.endpoint, "alice", "us-east-1");
    await a.send(
      new CreateTableCommand({
        TableName: "jobs",
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: [{ AttributeName: "pk", AttributeType: "S" }],
        KeySchema: [{ AttributeName: "pk", KeyType: "HASH" }],
      }),
    );
    await a.send(
      new PutItemCommand({ TableName: "jobs", Item: { pk: { S: "1.server" }, state: { S: "Q" } } }),
    );
    const b = client(ddb.endpoint, "bob", "eu-west-1");
    expect((await b.send(new ListTablesCommand({}))).TableNames).toEqual(["jobs"]);
    a.destroy();
    b.destroy();
  });

  it("keeps tables and items across stop + start on the same dir, and stop() leaves no java process", async () => {
    const oldPid = ddb.pid;
    const t0 = Date.now();
    await ddb.stop();
    expect(Date.now() - t0).toBeLessThan(5_500);
    expect(isAlive(oldPid)).toBe(false);
    await ddb.stop(); // idempotent

    const port = await freePort();
    ddb = await startDynamoDbLocal({ dataDir, port });
    expect(ddb.port).toBe(port);
    expect(ddb.pid).not.toBe(oldPid);
    const c = client(ddb.endpoint, "carol", "ap-south-1");
    expect((await c.send(new ListTablesCommand({}))).TableNames).toEqual(["jobs"]);
    const got = await c.send(new GetItemCommand({ TableName: "jobs", Key: { pk: { S: "1.server" } } }));
    expect(got.Item?.state?.S).toBe("Q");
    c.destroy();
  });

  it("brings a data folder's table to the definition: the list index once projected ALL is rebuilt, its jobs kept", async () => {
    const c = client(ddb.endpoint, "dave", "us-east-1");
    // the table as an earlier version made it: the list index projected ALL, no wait index
    const old = createTableInput("site_old", {
      ...siteTableDefinition,
      indexes: siteTableDefinition.indexes
        .filter((i) => i.name !== "wait")
        .map((i) => (i.name === LIST_INDEX ? { ...i, projection: "ALL" as const } : i)),
    });
    await c.send(new CreateTableCommand(old));
    await c.send(
      new PutItemCommand({
        TableName: "site_old",
        Item: {
          pk: { S: "JOB#7" },
          sk: { S: "A" },
          id: { S: "7.casper" },
          state: { S: "Q" },
          comment: { S: "not in the index any more" },
          lst: { S: "A#workq" },
          lstSk: { S: "000000000007" },
        },
      }),
    );
    await ensureTable(c, "site_old");
    await ensureTable(c, "site_old"); // a second start finds nothing to do
    const d = await c.send(new DescribeTableCommand({ TableName: "site_old" }));
    const byName = new Map((d.Table?.GlobalSecondaryIndexes ?? []).map((g) => [g.IndexName, g]));
    expect([...byName.keys()].sort()).toEqual(siteTableDefinition.indexes.map((i) => i.name).sort());
    expect(projectionText(byName.get(LIST_INDEX)?.Projection)).toBe(
      `INCLUDE:${[...LIST_ATTRS].sort().join(",")}`,
    );
    const listed = await c.send(
      new QueryCommand({
        TableName: "site_old",
        IndexName: LIST_INDEX,
        KeyConditionExpression: "lst = :k",
        ExpressionAttributeValues: { ":k": { S: "A#workq" } },
      }),
    );
    expect(listed.Items?.map((it) => [it.id?.S, it.state?.S, it.comment?.S])).toEqual([
      ["7.casper", "Q", undefined],
    ]);
    c.destroy();
  });

  it("without a namespace, rejects when the port is taken instead of mistaking the other server for its own", async () => {
    const other = createServer();
    await new Promise<void>((r) => other.listen({ port: 0, host: "0.0.0.0" }, r));
    const port = (other.address() as { port: number }).port;
    try {
      await expect(startDynamoDbLocal({ port, isolation: "none" })).rejects.toThrow(/already in use/);
    } finally {
      other.close();
    }
  });

  it("rejects with the Java hint when java is not on PATH", async () => {
    const path = process.env.PATH;
    process.env.PATH = "/nonexistent";
    try {
      await expect(startDynamoDbLocal({})).rejects.toThrow(
        /needs Java 17: apt-get install -y openjdk-17-jre-headless/,
      );
    } finally {
      process.env.PATH = path;
    }
  });
});
