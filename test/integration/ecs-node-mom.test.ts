/**
 * The ECS MOM in node mode (infra/mom/ecs-node.ts, issue 12) against the local stack: DynamoDB
 * Local and the SQS emulator stand in for the task's clients; its identity arrives the way a
 * pool node's RunTask passes it (MOM_NODE, MOM_ID, MOM_KEY). It says a signed hello, beats
 * while idle, runs the runs it is handed (the dispatch channel's entry: `run(spec)`), reports
 * each signed, and refuses a run meant for another MOM. With MOM_CHANNEL_URL it connects to
 * the local MOM gateway (what API Gateway's WebSocket API is on AWS, running the channel's route
 * handler over the site table): a run pushed through the executor's channel (ecs-channel.ts,
 * the AWS SDK's management client) is run and its obituary arrives; a kill pushed ends a run;
 * a run for a MOM with no connection is refused as `later`.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeMomChannelHandler } from "../../lambdas/handlers.js";
import { type MomGateway, startMomGateway } from "../../infra/local/mom-gateway.js";
import { ApiGatewayConnections, makeConnectionsClient } from "../../shared/adapters/channel/apigw.js";
import { MomPusher } from "../../shared/adapters/channel/push.js";
import { pushChannel } from "../../shared/adapters/executor/ecs-channel.js";
import { DispatchError } from "../../shared/ports/index.js";
import { type MemorySite, memorySite } from "../fixtures/memory-site.js";
import { startFakeS3Granter } from "../fixtures/fake-s3.js";
import { jobRecord } from "../fixtures/job.js";
import { outputNames } from "../../shared/adapters/s3/output-grant.js";
import type { OutputGrant } from "../../shared/ports/index.js";
import { type DynamoDbLocal, startDynamoDbLocal } from "../../infra/local/dynamodb.js";
import { ensureQueues, makeSqsClient, type SqsEmulator, startSqsEmulator } from "../../infra/local/sqs.js";
import { type NodeMom, startNodeMom } from "../../infra/mom/ecs-node.js";
import { beatIsGenuine, type MomEnvelope, momKey, verifyReport } from "../../shared/auth/mom-report.js";
import { nodeMomId } from "../../shared/adapters/executor/ecs-nodes.js";
import type { JobRunSpec, Obituary } from "../../shared/ports/index.js";
import { LOCAL_CREDENTIALS, makeDynamoClients } from "../../shared/adapters/aws-clients.js";
import { siteQueues } from "../../shared/adapters/sqs/queue-defs.js";
import { DynamoSiteStore } from "../../shared/adapters/dynamodb/index.js";
import { createTableInput } from "../../shared/adapters/dynamodb/table.js";

const TABLE = "mq-ecs-node-mom-test";
const SECRET = "node-mom-test-secret";
const JOB_USER_ENV: Record<string, string> = process.getuid?.() === 0 ? { MOM_JOB_USER: "nobody" } : {};
const MOM_ID = nodeMomId("f1", Date.UTC(2026, 11, 3));

describe("ECS node MOM (a pool node's long-lived task) on the local stack", () => {
  let ddbLocal: DynamoDbLocal;
  let sqsEmu: SqsEmulator;
  let sqs: SQSClient;
  let eventsUrl: string;
  let dir: string;
  let clients: Parameters<typeof startNodeMom>[1];
  let mom: NodeMom | undefined;
  const seen: MomEnvelope[] = [];

  beforeAll(async () => {
    [ddbLocal, sqsEmu] = await Promise.all([startDynamoDbLocal(), startSqsEmulator()]);
    const { ddb, doc } = makeDynamoClients({
      region: "us-east-1",
      endpoint: ddbLocal.endpoint,
      credentials: LOCAL_CREDENTIALS,
    });
    await ddb.send(new CreateTableCommand(createTableInput(TABLE)));
    sqs = makeSqsClient(sqsEmu.endpoint);
    const q = siteQueues("mq-node-test-", "casper");
    eventsUrl = (await ensureQueues(sqs, [q.events]))[q.events.name];
    clients = { doc, sqs };
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-ecs-node-mom-"));
    fs.chmodSync(dir, 0o777);
  });

  let linked: NodeMom | undefined;
  let snapper: NodeMom | undefined;
  let gw: MomGateway | undefined;
  /** the channel route's site context (the push channel test builds it) */
  let ctx: MemorySite["ctx"];
  afterAll(async () => {
    await mom?.shutdown();
    await linked?.shutdown();
    await snapper?.shutdown();
    await gw?.stop();
    await Promise.all([ddbLocal?.stop(), sqsEmu?.stop()]);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** the next report of `kind` (and job) from the events queue, its signature checked */
  async function receive(
    kind: "hello" | "obit",
    jobId?: string,
    timeoutMs = 20_000,
    momId?: string,
  ): Promise<MomEnvelope> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = seen.find(
        (e) =>
          e.kind === kind &&
          (!jobId || (e.body as { jobId?: string }).jobId === jobId) &&
          (!momId || e.momId === momId),
      );
      if (hit) return hit;
      if (Date.now() > until) throw new Error(`no ${kind} report within ${timeoutMs} ms`);
      const r = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: eventsUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
      );
      for (const m of r.Messages ?? [])
        seen.push(verifyReport(SECRET, JSON.parse(m.Body ?? "{}"), Date.now(), 60_000));
    }
  }

  const spec = (seq: number, script: string, momId = MOM_ID): JobRunSpec => ({
    jobId: `${seq}.casper`,
    seq: String(seq),
    runCount: 1,
    name: "STDIN",
    queue: "casper",
    owner: "alice@login1",
    script,
    workdir: dir,
    env: { PBS_O_WORKDIR: dir, AWS_SECRET_ACCESS_KEY: "leak" },
    killDelay: 1,
    stdoutPath: path.join(dir, `STDIN.o${seq}`),
    stderrPath: null,
    nodefile: ["f1"],
    ncpus: 1,
    momId,
    execHost: "f1",
  });

  it("says a signed hello naming its node, beats while idle, runs two jobs it is handed and reports them", async () => {
    mom = await startNodeMom(
      {
        MOM_NODE: "f1",
        MOM_ID,
        MOM_KEY: momKey(SECRET, MOM_ID),
        TABLE_NAME: TABLE,
        EVENTS_QUEUE_URL: eventsUrl,
        MOM_TMP: path.join(dir, "tmp"),
        MOM_HEARTBEAT_MS: "200",
        ...JOB_USER_ENV,
      },
      clients,
      { log: () => {} },
    );
    const hello = await receive("hello");
    expect(hello.momId).toBe(MOM_ID);
    expect(hello.body).toMatchObject({ type: "hello", momId: MOM_ID, node: "f1", running: [], ended: [] });

    // idle, it beats: the sweeper and power-off read this (no job listed)
    const store = new DynamoSiteStore(clients.doc, TABLE);
    let beat: Awaited<ReturnType<typeof store.getMomBeats>> extends Map<string, infer B> ? B : never;
    for (let i = 0; i < 50; i++) {
      const b = (await store.getMomBeats([MOM_ID])).get(MOM_ID);
      if (b) {
        beat = b;
        break;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(beat!).toBeDefined();
    expect(beat!.jobs).toEqual([]);
    expect(beatIsGenuine(SECRET, beat!)).toBe(true);

    // two runs, one after the other, on the same MOM: a node runs many jobs
    mom.run(spec(51, `echo "one \${AWS_SECRET_ACCESS_KEY:-clean}"\n`));
    mom.run(spec(52, "echo two; exit 3\n"));
    const [o1, o2] = [
      (await receive("obit", "51.casper")).body,
      (await receive("obit", "52.casper")).body,
    ] as Obituary[];
    expect(o1).toMatchObject({ jobId: "51.casper", momId: MOM_ID, exitStatus: 0 });
    expect(o2).toMatchObject({ jobId: "52.casper", momId: MOM_ID, exitStatus: 3 });
    // the site's secrets are out of the job's environment, as in a per-run task
    expect(fs.readFileSync(path.join(dir, "STDIN.o51"), "utf8")).toBe("one clean\n");
    expect(fs.readFileSync(path.join(dir, "STDIN.o52"), "utf8")).toBe("two\n");
    expect(mom.running()).toEqual([]);
  }, 60_000);

  it("refuses a run meant for another MOM", () => {
    expect(() => mom?.run(spec(53, "true\n", "f1:pother"))).toThrow(/is for f1:pother, not f1:p/);
  });

  it("on the push channel: a pushed run is run and reported, a pushed kill ends one, a MOM with no connection is refused as later", async () => {
    // the channel's routes as on AWS (the $connect handler checks the MOM's signed connect and
    // records its connection in the site table), over DynamoDB Local
    const store = new DynamoSiteStore(clients.doc, TABLE);
    const site = await memorySite();
    ctx = {
      ...site.ctx,
      store,
      momSecret: SECRET,
      clock: { now: () => Date.now(), sleep: (ms: number) => new Promise<void>((r) => setTimeout(r, ms)) },
    };
    gw = await startMomGateway({ socketPath: path.join(dir, "gw.sock"), route: makeMomChannelHandler(ctx) });
    const channel = pushChannel(
      new MomPusher(
        store,
        new ApiGatewayConnections(
          makeConnectionsClient({
            region: "us-east-1",
            endpoint: gw.endpoint,
            credentials: LOCAL_CREDENTIALS,
          }),
        ),
      ),
    );
    const at = Date.UTC(2026, 11, 3, 1);
    const momId = channel.momIdOf("f1", at) as string;
    expect(momId).toBe(nodeMomId("f1", at));
    linked = await startNodeMom(
      {
        MOM_NODE: "f1",
        MOM_ID: momId,
        MOM_KEY: momKey(SECRET, momId),
        TABLE_NAME: TABLE,
        EVENTS_QUEUE_URL: eventsUrl,
        MOM_TMP: path.join(dir, "tmp2"),
        MOM_HEARTBEAT_MS: "200",
        MOM_CHANNEL_URL: gw.wsUrl,
        ...JOB_USER_ENV,
      },
      clients,
      { log: () => {} },
    );
    // connected before its hello
    expect((await store.getMomConnection(momId))?.connectionId).toBe(gw.connectionIds()[0]);
    expect((await receive("hello", undefined, 20_000, momId)).body).toMatchObject({ momId, node: "f1" });

    await channel.send(momId, spec(61, "echo pushed\n", momId));
    const o = (await receive("obit", "61.casper")).body as Obituary;
    expect(o).toMatchObject({ jobId: "61.casper", momId, exitStatus: 0 });
    expect(fs.readFileSync(path.join(dir, "STDIN.o61"), "utf8")).toBe("pushed\n");

    await channel.send(momId, spec(62, "sleep 30\n", momId));
    for (let i = 0; i < 100 && !linked.running().some((r) => r.jobId === "62.casper"); i++)
      await new Promise((r) => setTimeout(r, 50));
    await channel.kill?.({ jobId: "62.casper", momId, runCount: 1 }, "qdel");
    const killed = (await receive("obit", "62.casper")).body as Obituary;
    expect(killed).toMatchObject({ jobId: "62.casper", momId });
    expect(killed.exitStatus).not.toBe(0);

    // the first test's MOM (an earlier power-on of f1) never connected: no run reaches it
    const e = await channel.send(MOM_ID, spec(63, "true\n")).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DispatchError);
    expect((e as DispatchError).retry).toBe("later");
    expect(gw.counts.posts).toBe(3); // run, run, kill: nothing posted for the unconnected MOM
  }, 90_000);

  it("snapshots a pushed run's output while it runs and uploads it at the end, through its grant renewed on the channel", async () => {
    expect(gw, "the push channel test ran first").toBeDefined();
    // shorter than the MOM's renewal margin: its first PUT asks for a fresh grant
    const { fake, granter } = await startFakeS3Granter("mq-out", { ttlMs: 4 * 60_000 });
    const minted: OutputGrant[] = [];
    ctx.outputGrants = {
      grant: async (...a) => {
        const g = await granter.grant(...a);
        minted.push(g);
        return g;
      },
    };
    const store = new DynamoSiteStore(clients.doc, TABLE);
    const momId = nodeMomId("f1", Date.UTC(2026, 11, 3, 2));
    snapper = await startNodeMom(
      {
        MOM_NODE: "f1",
        MOM_ID: momId,
        MOM_KEY: momKey(SECRET, momId),
        TABLE_NAME: TABLE,
        EVENTS_QUEUE_URL: eventsUrl,
        MOM_TMP: path.join(dir, "tmp3"),
        MOM_HEARTBEAT_MS: "200",
        MOM_OUTPUT_SYNC_MS: "1000",
        MOM_CHANNEL_URL: (gw as MomGateway).wsUrl,
        ...JOB_USER_ENV,
      },
      clients,
      { log: () => {} },
    );
    // the job item the server checks a renewal against: this MOM holds run 1 of job 64
    await store.createJob(jobRecord(64, { state: "R", momId, runCount: 1 }));
    const s = spec(64, "echo one; sleep 3.5; echo two\n", momId);
    const pushed = { ...s, outputGrant: await granter.grant(s.jobId, s.runCount, outputNames(s)) };
    const channel = pushChannel(
      new MomPusher(
        store,
        new ApiGatewayConnections(
          makeConnectionsClient({
            region: "us-east-1",
            endpoint: (gw as MomGateway).endpoint,
            credentials: LOCAL_CREDENTIALS,
          }),
        ),
      ),
    );
    await channel.send(momId, pushed);
    const o = (await receive("obit", "64.casper", 30_000)).body as Obituary;
    await fake.stop();
    expect(o).toMatchObject({ jobId: "64.casper", momId, exitStatus: 0 });
    // every PUT verified (signature, key, expiry); renewed on the channel for this run only
    expect(fake.requests.filter((r) => r.status !== 200)).toEqual([]);
    expect(minted.length).toBeGreaterThanOrEqual(1);
    expect(minted.every((g) => g.jobId === "64.casper" && g.runCount === 1)).toBe(true);
    const out = fake.requests.filter((r) => r.key === "64.casper/STDIN.o64");
    // snapshots while it ran (marked partial), then the whole output last, unmarked
    expect(out.at(-1)).toMatchObject({ body: "one\ntwo\n", meta: {} });
    const snaps = out.slice(0, -1);
    expect(snaps.length).toBeGreaterThanOrEqual(1);
    expect(snaps.every((r) => r.meta?.partial === "1")).toBe(true);
    expect(snaps.map((r) => r.body)).toContain("one\n");
  }, 60_000);
});
