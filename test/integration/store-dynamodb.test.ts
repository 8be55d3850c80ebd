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
import { DynamoSiteStore, type DynamoStoreOptions } from "../../shared/adapters/dynamodb/index.js";
import { jobItem } from "../../shared/adapters/dynamodb/items.js";
import { COLD_FIELDS } from "../../shared/adapters/dynamodb/job-pack.js";
import { scriptPut } from "../../shared/adapters/dynamodb/job-script.js";
import { createTableInput, keys, LIST_INDEX } from "../../shared/adapters/dynamodb/table.js";
import type { JobRecord } from "../../shared/server/job.js";
import { jobRecord } from "../fixtures/job.js";
import { jobGroupContract } from "../contract/job-groups.contract.js";
import { storeContract } from "../contract/store.contract.js";
import type { StoreUnderTest } from "../contract/store-fixture.js";

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

/** A fresh table of the site's definition and the store over it, with the contract's hooks. */
async function tableUnderTest(opts: DynamoStoreOptions = {}): Promise<StoreUnderTest> {
  const name = `contract${++tables}`;
  await raw.send(new CreateTableCommand(createTableInput(name)));
  return {
    store: new DynamoSiteStore(doc, name, opts),
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
}

storeContract("dynamodb", () => tableUnderTest());

// The local runtime's store sends groups of plain job writes in shared transactions (DynamoDB
// Local's fast path, dynamodb/jobs.ts PlainGroupWrites); the contract above runs AWS's singles.
describe("dynamodb, plain groups in transactions (the local runtime's store)", () => {
  jobGroupContract(() => tableUnderTest({ plainGroups: "transactions" }));
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

/** A fresh table of the site's definition for `run`, deleted after it. */
async function withTable(run: (name: string, store: DynamoSiteStore) => Promise<void>): Promise<void> {
  const name = `contract${++tables}`;
  await raw.send(new CreateTableCommand(createTableInput(name)));
  try {
    await run(name, new DynamoSiteStore(doc, name));
  } finally {
    await raw.send(new DeleteTableCommand({ TableName: name }));
  }
}

// qstat -x reads a queue's active and finished list partitions side by side. A job that ended
// between the two reads is in both: it was listed twice, and the page's BatchGetItem repeated its
// key, which DynamoDB refuses (a 500 to qstat, seen in the SIGKILL federation test under load).
// The send below holds the finished partition's Query until the active one has answered and the
// job has ended, the interleaving a loaded site met by chance.
describe("dynamodb: a job that ends while a history page is read", () => {
  it("is listed once, as it is now", async () => {
    await withTable(async (name, store) => {
      await store.createJob(jobRecord(1, { state: "Q" }));
      await store.createJob(jobRecord(2, { state: "R" }));
      let activeRead: () => void = () => {};
      const activeDone = new Promise<void>((r) => {
        activeRead = r;
      });
      const hooked = Object.create(doc) as DynamoDBDocumentClient;
      hooked.send = (async (cmd: { input: Record<string, unknown> }) => {
        const values = cmd.input.ExpressionAttributeValues as Record<string, unknown> | undefined;
        const part =
          cmd instanceof QueryCommand && cmd.input.IndexName === LIST_INDEX ? values?.[":k"] : undefined;
        if (part === keys.list("workq", true)) await activeDone;
        const out = await doc.send(cmd as never);
        if (part === keys.list("workq", false)) {
          const r = (await store.getJob("2")) as JobRecord;
          await store.updateJob(r, { ...r, state: "F", mtime: r.mtime + 1 });
          activeRead();
        }
        return out;
      }) as never;
      const page = await new DynamoSiteStore(hooked, name).listJobPage({
        queues: ["workq"],
        history: true,
        limit: 10,
        order: "oldest",
      });
      expect(page.jobs.map((j) => [j.key, j.state])).toEqual([
        ["1", "Q"],
        ["2", "F"],
      ]);
    });
  });
});

// Accounting records put together are packed (acct-packs.ts): fewer, fuller items. The contract
// tests see records only; these look at the items DynamoDB holds.
describe("dynamodb: accounting records packed", () => {
  const T = Date.UTC(2026, 11, 4, 23, 59, 59, 900);
  const rec = (dt: number, n: number, type: string) => ({
    time: T + dt,
    jobId: `${n}.casper`,
    type,
    data: { queue: "workq", user: "alice" },
  });
  const items = async (name: string, day: string) =>
    (
      await doc.send(
        new QueryCommand({
          TableName: name,
          KeyConditionExpression: "pk = :p",
          ExpressionAttributeValues: { ":p": `ACCT#${day}` },
          ConsistentRead: true,
        }),
      )
    ).Items ?? [];

  it("one item per records written within PACK_SPAN_MS of each other on one day; each found again, none put twice", async () => {
    await withTable(async (name, store) => {
      const qs = Array.from({ length: 10 }, (_, i) => rec(i, i + 1, "Q"));
      // 80 ms after the first: a pack of their own; the next day's: an item of its own there
      const ss = [rec(80, 1, "S"), rec(85, 2, "S")];
      const next = rec(150, 3, "S");
      expect(await store.putAccts([...qs, ...ss, next].reverse())).toEqual(new Array(13).fill(undefined));

      const day1 = await items(name, "2026-12-04");
      expect(day1.map((it) => String(it.sk).endsWith("#pack"))).toEqual([true, true]);
      expect(day1.map((it) => JSON.parse(String(it.recs)).length).sort()).toEqual([10, 2]);
      const day2 = await items(name, "2026-12-05");
      expect(day2).toHaveLength(1);
      expect(day2[0].recs).toBeUndefined();
      expect(day2[0].jobId).toBe("3.casper");
      expect(await store.listAcct("2026-12-04")).toEqual([...qs, ...ss]);
      expect(await store.listAcct("2026-12-05")).toEqual([next]);

      // the end's repair check: every record found where it was packed (a pack's last member
      // too, checked alone: its pack's key is its first member's), only the missing put
      await store.ensureAcct([qs[9]]);
      await store.ensureAcct([ss[1]]);
      expect(await items(name, "2026-12-04")).toHaveLength(2);
      const missing = rec(30, 11, "Q");
      await store.ensureAcct([...qs, ...ss, next, missing]);
      expect(await items(name, "2026-12-04")).toHaveLength(3);
      expect(await items(name, "2026-12-05")).toHaveLength(1);
      expect(await store.listAcct("2026-12-04")).toEqual(
        [...qs.slice(0, 10), missing, ...ss].sort((a, b) => a.time - b.time),
      );
    });
  });

  it("records seconds apart: a window each, more windows than Queries in flight at once", async () => {
    await withTable(async (name, store) => {
      const recs = Array.from({ length: 20 }, (_, i) => rec(-60_000 + i * 1000, i + 1, "S"));
      const there = recs.filter((_, i) => i % 3 === 0);
      await store.putAccts(there);
      expect(await items(name, "2026-12-04")).toHaveLength(there.length);
      await store.ensureAcct(recs);
      expect(await items(name, "2026-12-04")).toHaveLength(20);
      expect(await store.listAcct("2026-12-04")).toEqual(recs);
    });
  });

  it("a day of more records than one Query page reads whole", async () => {
    await withTable(async (_name, store) => {
      // ~1.3 MB of single records (a second apart, so none packs): past a Query's 1 MB page
      const big = "x".repeat(4000);
      const recs = Array.from({ length: 320 }, (_, i) => ({
        time: Date.UTC(2026, 11, 4, 1) + i * 1000,
        jobId: `${i + 1}.casper`,
        type: "E",
        data: { note: big },
      }));
      expect((await store.putAccts(recs)).every((e) => e === undefined)).toBe(true);
      expect((await store.listAcct("2026-12-04")).map((r) => r.jobId)).toEqual(recs.map((r) => r.jobId));
    });
  }, 60_000);
});
