/**
 * The ECS MOM's core (infra/mom/ecs.ts runEcsMom) against the local stack: DynamoDB Local and
 * the SQS emulator stand in for the task's real clients; the spec arrives the way RunTask
 * passes it (JOB_SPEC, or JOB_SPEC_GZ built by the ECS executor).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DynamoDbLocal, startDynamoDbLocal } from "../../infra/local/dynamodb.js";
import { ensureQueues, makeSqsClient, type SqsEmulator, startSqsEmulator } from "../../infra/local/sqs.js";
import { runEcsMom } from "../../infra/mom/ecs.js";
import { seedSite } from "../../shared/server/seed.js";
import { parseConfig } from "../../shared/config/site-config.js";
import { containerEnvironment } from "../../shared/adapters/executor/ecs.js";
import { outputNames } from "../../shared/adapters/s3/output-grant.js";
import { startFakeS3Granter } from "../fixtures/fake-s3.js";
import { jobRecord } from "../fixtures/job.js";
import { memorySite } from "../fixtures/memory-site.js";
import { makeMomChannelHandler } from "../../lambdas/handlers.js";
import { startMomGateway } from "../../infra/local/mom-gateway.js";
import { momKey } from "../../shared/auth/mom-report.js";
import type { JobRunSpec, Obituary } from "../../shared/ports/index.js";
import { LOCAL_CREDENTIALS, makeDynamoClients } from "../../shared/adapters/aws-clients.js";
import { siteQueues } from "../../shared/adapters/sqs/queue-defs.js";
import { DynamoSiteStore } from "../../shared/adapters/dynamodb/index.js";
import { createTableInput } from "../../shared/adapters/dynamodb/table.js";

const TABLE = "mq-ecs-mom-test";
/** a root MOM runs no job without an account to run it as (the image names `node`) */
const JOB_USER_ENV: Record<string, string> = process.getuid?.() === 0 ? { MOM_JOB_USER: "nobody" } : {};

describe("ECS MOM entry (runEcsMom) on the local stack", () => {
  let ddbLocal: DynamoDbLocal;
  let sqsEmu: SqsEmulator;
  let sqs: SQSClient;
  let eventsUrl: string;
  let dir: string;
  let clients: Parameters<typeof runEcsMom>[1];

  beforeAll(async () => {
    [ddbLocal, sqsEmu] = await Promise.all([startDynamoDbLocal(), startSqsEmulator()]);
    const { ddb, doc } = makeDynamoClients({
      region: "us-east-1",
      endpoint: ddbLocal.endpoint,
      credentials: LOCAL_CREDENTIALS,
    });
    await ddb.send(new CreateTableCommand(createTableInput(TABLE)));
    sqs = makeSqsClient(sqsEmu.endpoint);
    const q = siteQueues("mq-test-", "casper");
    const urls = await ensureQueues(sqs, [q.events]);
    eventsUrl = urls[q.events.name];
    clients = { doc, sqs };
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-ecs-mom-"));
    // a root MOM runs the job as JOB_USER_ENV's account, which writes its output here
    fs.chmodSync(dir, 0o777);
  });

  afterAll(async () => {
    await Promise.all([ddbLocal?.stop(), sqsEmu?.stop()]);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  const spec = (seq: number, script: string): JobRunSpec => ({
    jobId: `${seq}.casper`,
    seq: String(seq),
    runCount: 1,
    name: "STDIN",
    queue: "casper",
    owner: "alice@login1",
    script,
    workdir: dir,
    env: { PBS_O_WORKDIR: dir, PBS_O_HOST: "login1" },
    killDelay: 1,
    stdoutPath: path.join(dir, `STDIN.o${seq}`),
    stderrPath: path.join(dir, `STDIN.e${seq}`),
    nodefile: ["casper-n01"],
    ncpus: 1,
    momId: `ecs:${seq}:1`,
    execHost: "casper-n01",
  });

  async function receiveObit(jobId: string, timeoutMs = 15_000): Promise<Obituary> {
    const until = Date.now() + timeoutMs;
    while (Date.now() < until) {
      const r = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: eventsUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      for (const m of r.Messages ?? []) {
        const body = JSON.parse(m.Body ?? "{}");
        if (body.type === "obit" && body.jobId === jobId) return body as Obituary;
      }
    }
    throw new Error(`no obituary for ${jobId} within ${timeoutMs} ms`);
  }

  it("runs `echo hi` from JOB_SPEC, writes the output file, heartbeats and reports exit 0 on the events queue", async () => {
    const s = spec(41, "echo hi\n");
    const env = {
      JOB_SPEC: JSON.stringify(s),
      TABLE_NAME: TABLE,
      EVENTS_QUEUE_URL: eventsUrl,
      MOM_TMP: path.join(dir, "tmp"),
      ...JOB_USER_ENV,
      MOM_HEARTBEAT_MS: "200",
    };
    const obit = await runEcsMom(env, clients, { log: () => {} });
    expect(obit).toMatchObject({
      type: "obit",
      jobId: "41.casper",
      runCount: 1,
      momId: "ecs:41:1",
      exitStatus: 0,
    });
    const onQueue = await receiveObit("41.casper");
    expect(onQueue.exitStatus).toBe(0);
    expect(onQueue.momId).toBe("ecs:41:1");
    expect(fs.readFileSync(s.stdoutPath, "utf8")).toBe("hi\n");
    // the heartbeat the sweeper watches is in the table under the run's MOM id
    // (the first beat is sent at start without waiting; under load it may land after the job)
    let at = 0;
    for (let i = 0; i < 50 && !at; i++) {
      at = (await new DynamoSiteStore(clients.doc, TABLE).getMomBeats(["ecs:41:1"])).get("ecs:41:1")?.at ?? 0;
      if (!at) await new Promise((r) => setTimeout(r, 100));
    }
    expect(at).toBeGreaterThan(0);
  });

  it("reads a gzipped JOB_SPEC_GZ (large script), re-roots paths under MOM_PATH_ROOT, and reports a stop as a kill", async () => {
    const root = path.join(dir, "root");
    // ~12 KB of script: too big for the plain override, so the executor compresses it
    const filler = `# ${"x".repeat(100)}\n`.repeat(120);
    const s = spec(42, `${filler}echo start; echo "wd=$PWD"; sleep 30\n`);
    const envList = containerEnvironment("mom", s);
    expect(envList.map((e) => e.name)).toContain("JOB_SPEC_GZ");
    const env: Record<string, string> = {
      TABLE_NAME: TABLE,
      EVENTS_QUEUE_URL: eventsUrl,
      MOM_TMP: path.join(dir, "tmp"),
      ...JOB_USER_ENV,
      MOM_PATH_ROOT: root,
    };
    for (const kv of envList) env[kv.name!] = kv.value!;
    const stop = new AbortController();
    const out = path.join(root, s.stdoutPath);
    const running = runEcsMom(env, clients, { stop: stop.signal, log: () => {} });
    const until = Date.now() + 10_000;
    while (!fs.existsSync(out) || !fs.readFileSync(out, "utf8").includes("wd=")) {
      if (Date.now() > until) throw new Error("job did not start");
      await new Promise((r) => setTimeout(r, 50));
    }
    stop.abort();
    const obit = await running;
    expect(obit.killedFor).toBe("shutdown");
    expect(obit.exitStatus).toBe(256 + 15);
    expect(fs.readFileSync(out, "utf8")).toContain(`wd=${path.join(root, dir)}`);
    expect((await receiveObit("42.casper")).killedFor).toBe("shutdown");
  });

  it("uploads a running job's output every MOM_OUTPUT_SYNC_MS that it grew, marked partial, then the whole output last", async () => {
    // S3 has no local engine here: a real HTTP server checking the presigned URLs stands in
    // for it, and the MOM has no S3 client at all: it PUTs to the URLs its spec carries
    const { fake, granter } = await startFakeS3Granter("mq-out");
    const s0 = spec(43, "echo one; sleep 3.5; echo two\n");
    const s = { ...s0, outputGrant: await granter.grant(s0.jobId, s0.runCount, outputNames(s0)) };
    const env = {
      JOB_SPEC: JSON.stringify(s),
      TABLE_NAME: TABLE,
      EVENTS_QUEUE_URL: eventsUrl,
      OUTPUT_BUCKET: "mq-out",
      MOM_OUTPUT_SYNC_MS: "1000",
      MOM_TMP: path.join(dir, "tmp"),
      ...JOB_USER_ENV,
    };
    const obit = await runEcsMom(env, clients, { log: () => {} }).finally(() => fake.stop());
    expect(obit.exitStatus).toBe(0);
    expect(fake.requests.filter((r) => r.status !== 200)).toEqual([]);
    const puts = fake.requests.map((r) => ({ key: r.key, body: r.body, partial: r.meta?.partial === "1" }));
    const out = puts.filter((p) => p.key === `43.casper/${path.basename(s.stdoutPath)}`);
    const err = puts.filter((p) => p.key === `43.casper/${path.basename(s.stderrPath as string)}`);
    // the whole output last, unmarked; before it, only snapshots
    expect(out.at(-1)).toEqual({ key: out[0].key, body: "one\ntwo\n", partial: false });
    expect(out.slice(0, -1).every((p) => p.partial)).toBe(true);
    expect(out.slice(0, -1).map((p) => p.body)).toContain("one\n");
    // a snapshot only when the file changed: never the same content twice in a row, so ~3
    // quiet seconds of the job sent nothing
    const snaps = out.slice(0, -1).map((p) => p.body);
    for (let i = 1; i < snaps.length; i++) expect(snaps[i]).not.toBe(snaps[i - 1]);
    expect(snaps.length).toBeLessThanOrEqual(3);
    // stderr never grew: at most one (empty) snapshot, then the end's upload
    expect(err.filter((p) => p.partial).length).toBeLessThanOrEqual(1);
    expect(err.at(-1)).toMatchObject({ body: "", partial: false });
    await receiveObit("43.casper");
  });

  it("renews its grant for a long run with a signed request on the push channel, for its own run only", async () => {
    const SECRET = "ecs-mom-test-secret";
    // shorter than the MOM's renewal margin: its first PUT asks the channel for a fresh grant
    const { fake, granter } = await startFakeS3Granter("mq-out", { ttlMs: 4 * 60_000 });
    const renewed: string[] = [];
    const store = new DynamoSiteStore(clients.doc, TABLE);
    const site = await memorySite();
    const ctx = {
      ...site.ctx,
      store,
      momSecret: SECRET,
      clock: { now: () => Date.now(), sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)) },
      outputGrants: {
        grant: async (jobId: string, runCount: number, names: string[]) => {
          renewed.push(`${jobId}:${runCount}`);
          return granter.grant(jobId, runCount, names);
        },
      },
    };
    const gw = await startMomGateway({
      socketPath: path.join(dir, "gw.sock"),
      route: makeMomChannelHandler(ctx),
    });
    try {
      const s0 = spec(44, "echo one; sleep 2.5; echo two\n");
      // the job item the server checks: run 1 of job 44 is this task's
      await store.createJob(jobRecord(44, { state: "R", momId: s0.momId, runCount: 1 }));
      const s = { ...s0, outputGrant: await granter.grant(s0.jobId, 1, outputNames(s0)) };
      const env = {
        JOB_SPEC: JSON.stringify(s),
        TABLE_NAME: TABLE,
        EVENTS_QUEUE_URL: eventsUrl,
        OUTPUT_BUCKET: "mq-out",
        MOM_OUTPUT_SYNC_MS: "1000",
        MOM_KEY: momKey(SECRET, s0.momId),
        MOM_CHANNEL_URL: gw.wsUrl,
        MOM_TMP: path.join(dir, "tmp"),
        ...JOB_USER_ENV,
      };
      const obit = await runEcsMom(env, clients, { log: () => {} });
      expect(obit.exitStatus).toBe(0);
    } finally {
      await gw.stop();
      await fake.stop();
    }
    expect(renewed.length).toBeGreaterThanOrEqual(1);
    expect(new Set(renewed)).toEqual(new Set(["44.casper:1"]));
    expect(fake.requests.filter((r) => r.status !== 200)).toEqual([]);
    expect(fake.objects.get(`44.casper/STDIN.o44`)).toEqual({ body: "one\ntwo\n", meta: {} });
  });

  it("the deploy-time seed creates the configured server objects once and keeps later qmgr changes", async () => {
    const store = new DynamoSiteStore(clients.doc, TABLE);
    const sc = parseConfig({
      sites: [
        {
          name: "casper",
          server: "casper-pbs",
          queues: [{ name: "casper", attributes: { priority: 5 } }],
          nodes: [{ name: "casper-n01", ncpus: 16, mem: "64gb" }],
        },
      ],
    }).sites[0];
    expect(await seedSite(store, sc, "alice@*")).toBe(3);
    const objs = await store.getServerObjects();
    const server = objs.find((o) => o.kind === "server");
    expect(server?.attrs).toMatchObject({ managers: "alice@*", default_queue: "casper", scheduling: true });
    expect(objs.find((o) => o.kind === "queue" && o.name === "casper")?.attrs).toMatchObject({
      priority: 5,
      enabled: true,
    });
    expect(objs.find((o) => o.kind === "node")?.attrs).toMatchObject({
      "resources_available.ncpus": 16,
      state: "free",
    });
    // a qmgr change survives a redeploy; a node added to the configuration is created
    const q = objs.find((o) => o.kind === "queue")!;
    await store.putServerObject({ ...q, attrs: { ...q.attrs, priority: 9 } }, q.ver);
    const more = { ...sc, nodes: [...sc.nodes, { name: "casper-n02", ncpus: 8, mem: "32gb", ngpus: 0 }] };
    expect(await seedSite(store, more, "alice@*")).toBe(1);
    const after = await store.getServerObjects();
    expect(after.find((o) => o.kind === "queue")?.attrs.priority).toBe(9);
    expect(
      after
        .filter((o) => o.kind === "node")
        .map((o) => o.name)
        .sort(),
    ).toEqual(["casper-n01", "casper-n02"]);
  });
});
