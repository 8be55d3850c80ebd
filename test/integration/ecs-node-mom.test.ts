/**
 * The ECS MOM in node mode (infra/mom/ecs-node.ts, issue 12) against the local stack: DynamoDB
 * Local and the SQS emulator stand in for the task's clients; its identity arrives the way a
 * pool node's RunTask passes it (MOM_NODE, MOM_ID, MOM_KEY). It says a signed hello, beats
 * while idle, runs the runs it is handed (the dispatch channel's entry: `run(spec)`), reports
 * each signed, and refuses a run meant for another MOM.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
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

  afterAll(async () => {
    await mom?.shutdown();
    await Promise.all([ddbLocal?.stop(), sqsEmu?.stop()]);
    if (dir) fs.rmSync(dir, { recursive: true, force: true });
  });

  /** the next report of `kind` (and job) from the events queue, its signature checked */
  async function receive(kind: "hello" | "obit", jobId?: string, timeoutMs = 20_000): Promise<MomEnvelope> {
    const until = Date.now() + timeoutMs;
    for (;;) {
      const hit = seen.find(
        (e) => e.kind === kind && (!jobId || (e.body as { jobId?: string }).jobId === jobId),
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
});
