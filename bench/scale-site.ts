/**
 * The site bench/scale.ts measures: the real API handler and scheduler cycle over a store of one
 * kind (memory, or DynamoDB Local on a throw-away data dir with the product's table definition),
 * loaded with N queued jobs, with counters of what each operation asks of the store.
 *
 * Loading goes around the port, as test/e2e/dashboard-scale.test.ts loads its history: on
 * DynamoDB, BatchWriteItem of the exact items createJob writes (newJobItem and the script item,
 * 25 a request, several in flight); in memory, createJob itself (no network to save).
 */
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { BatchWriteCommand } from "@aws-sdk/lib-dynamodb";
import { makeApiHandler } from "../lambdas/handlers.js";
import { startDynamoDbLocal } from "../infra/local/dynamodb.js";
import { LOCAL_CREDENTIALS, makeDynamoClients, requestCounts } from "../shared/adapters/aws-clients.js";
import { DynamoSiteStore } from "../shared/adapters/dynamodb/index.js";
import { newJobItem } from "../shared/adapters/dynamodb/items.js";
import { scriptPut } from "../shared/adapters/dynamodb/job-script.js";
import { createTableInput } from "../shared/adapters/dynamodb/table.js";
import { MemorySiteStore } from "../shared/adapters/memory/index.js";
import { MemoryBus } from "../shared/adapters/memory/bus.js";
import { hashToken, tokenAuthenticator } from "../shared/api/identity.js";
import { parseConfig } from "../shared/config/site-config.js";
import { systemClock } from "../shared/ports/clock.js";
import type { SiteStore } from "../shared/ports/index.js";
import type { SiteContext } from "../shared/server/context.js";
import { withHistory } from "../shared/server/history.js";
import type { JobRecord } from "../shared/server/job.js";
import { seedSite } from "../shared/server/seed.js";
import { DEFAULT_SETTINGS } from "../shared/server/settings.js";
import { FakeExecutor } from "../test/fixtures/memory-site.js";
import { jobRecord } from "../test/fixtures/job.js";

export type StoreKind = "memory" | "dynamodb";

/**
 * One queue (workq) on one 4-core node: the cycle's work does not depend on the node count, and
 * a small node keeps the cluster full, as it is at a site with a million queued.
 */
const SCALE_SITE = {
  sites: [
    {
      name: "casper",
      server: "casper-pbs",
      queues: [{ name: "workq" }],
      nodes: [{ name: "n1", ncpus: 4, mem: "8gb" }],
    },
  ],
};

/** What a store did, summed over the bench so far (requests; on DynamoDB, capacity units). */
export interface StoreCounts {
  calls: number;
  rcu: number;
  wcu: number;
}

export interface ScaleSite {
  ctx: SiteContext;
  executor: FakeExecutor;
  bus: MemoryBus;
  counts(): StoreCounts;
  /** queue jobs 1..n (qtime = seq), and move the job counter past them */
  load(n: number): Promise<void>;
  /** an API request as alice; the parsed answer */
  api(method: string, path: string, query?: Record<string, string>, body?: unknown): Promise<unknown>;
  close(): Promise<void>;
}

const TOKEN = "tok-alice";

export const queuedJob = (seq: number): JobRecord => jobRecord(seq, { qtime: seq, ctime: seq, mtime: seq });

export async function openScaleSite(
  kind: StoreKind,
  opts: { loadConcurrency?: number } = {},
): Promise<ScaleSite> {
  const config = parseConfig(SCALE_SITE).sites[0];
  let store: SiteStore;
  let counts: () => StoreCounts;
  let load: (n: number) => Promise<void>;
  let close = async () => {};
  if (kind === "memory") {
    let calls = 0;
    const mem = new MemorySiteStore({ fail: () => void calls++ });
    store = mem;
    // in memory there are no capacity units: `rcu` counts the items the index reads return
    // (what a DynamoDB Query would read and bill), so a read that grows with the queue shows
    let listed = 0;
    const counted = <K extends "listJobs" | "listJobPage" | "queryReady" | "queryRunning">(
      k: K,
      size: (r: Awaited<ReturnType<MemorySiteStore[K]>>) => number,
    ) => {
      const f = (mem[k] as (...a: unknown[]) => Promise<Awaited<ReturnType<MemorySiteStore[K]>>>).bind(mem);
      (mem as unknown as Record<string, unknown>)[k] = async (...a: unknown[]) => {
        const r = await f(...a);
        listed += size(r);
        return r;
      };
    };
    counted("listJobs", (r) => r.length);
    counted("listJobPage", (r) => r.jobs.length);
    counted("queryReady", (r) => r.length);
    counted("queryRunning", (r) => r.length);
    counts = () => ({ calls, rcu: listed, wcu: 0 });
    load = async (n) => {
      for (let seq = 1; seq <= n; seq++) await mem.createJob(queuedJob(seq));
    };
  } else {
    // capacity units per request, as AWS reports them (capacity-meter.ts); read at client creation
    process.env.METAQUEUE_COST_METER = "1";
    // -inMemory (no data dir): on disk, under this machine's load, it loaded 16 jobs/s
    const local = await startDynamoDbLocal();
    const { ddb, doc } = makeDynamoClients({
      region: "us-east-1",
      endpoint: local.endpoint,
      credentials: LOCAL_CREDENTIALS,
    });
    await ddb.send(new CreateTableCommand(createTableInput("scale")));
    const dyn = new DynamoSiteStore(doc, "scale");
    store = dyn;
    const sum = (re: RegExp) =>
      Object.entries(requestCounts)
        .filter(([k]) => re.test(k))
        .reduce((a, [, v]) => a + v, 0);
    counts = () => ({ calls: sum(/^dynamodb\./), rcu: sum(/^ddbcu\.R\./), wcu: sum(/^ddbcu\.W\./) });
    load = (n) => batchLoad(dyn, n, opts.loadConcurrency ?? 8);
    close = async () => {
      ddb.destroy();
      await local.stop();
    };
  }
  await seedSite(store, config, "root");
  const executor = new FakeExecutor();
  const bus = new MemoryBus();
  const ctx: SiteContext = {
    site: { server: config.server, short: config.name },
    store: withHistory(store, { clock: systemClock, settings: DEFAULT_SETTINGS }),
    bus,
    queueUrls: { sched: "sched", events: "events" },
    executor,
    clock: systemClock,
    settings: DEFAULT_SETTINGS,
    momSecret: "scale-bench-mom-secret",
    authenticate: tokenAuthenticator((h) =>
      h === hashToken(TOKEN) ? { user: "alice", groups: ["users"] } : undefined,
    ),
    log: { info: () => {}, debug: () => {}, warn: () => {}, error: (...a) => console.error(...a) },
  };
  const handler = makeApiHandler(ctx);
  let reqId = 0;
  return {
    ctx,
    executor,
    bus,
    counts,
    load: async (n) => {
      await load(n);
      await store.reserveSeq(n);
    },
    async api(method, p, query, body) {
      const event = {
        rawPath: p,
        headers: {
          authorization: `Bearer ${TOKEN}`,
          ...(body !== undefined ? { "content-type": "application/json" } : {}),
        },
        queryStringParameters: query,
        body: body === undefined ? undefined : JSON.stringify(body),
        isBase64Encoded: false,
        requestContext: { http: { method, sourceIp: "127.0.0.1", path: p }, requestId: `r${++reqId}` },
      } as unknown as APIGatewayProxyEventV2;
      const r = await handler(event);
      const text = typeof r.body === "string" ? r.body : "";
      if ((r.statusCode ?? 0) >= 400) throw new Error(`${method} ${p}: ${r.statusCode} ${text}`);
      return text ? JSON.parse(text) : undefined;
    },
    close,
  };
}

/**
 * BatchWriteItem of createJob's two items per job (its own builders: newJobItem, scriptPut), 24
 * items a request, `inFlight` requests at a time. DynamoDB Local is CPU-bound (Java): more in
 * flight than its cores only queues.
 */
async function batchLoad(store: DynamoSiteStore, n: number, inFlight: number): Promise<void> {
  let seq = 1;
  const nextBatch = (): Record<string, unknown>[] | undefined => {
    if (seq > n) return undefined;
    const items: Record<string, unknown>[] = [];
    while (items.length < 24 && seq <= n) {
      const job = queuedJob(seq++);
      items.push(newJobItem(job), scriptPut(store.table, job).Item);
    }
    return items;
  };
  const t0 = performance.now();
  let done = 0;
  const worker = async () => {
    for (let b = nextBatch(); b; b = nextBatch()) {
      let req: Record<string, unknown[]> | undefined = {
        [store.table]: b.map((Item) => ({ PutRequest: { Item } })),
      };
      while (req && Object.keys(req).length) {
        const r = await store.doc.send(new BatchWriteCommand({ RequestItems: req as never }));
        req = r.UnprocessedItems as typeof req;
      }
      done += b.length / 2;
      if (done % 10_000 < 12 && done >= 10_000)
        console.error(
          `  ${done} jobs loaded, ${(done / ((performance.now() - t0) / 1000)).toFixed(0)} jobs/s`,
        );
    }
  };
  await Promise.all(Array.from({ length: inFlight }, worker));
}
