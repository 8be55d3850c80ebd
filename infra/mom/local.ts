/**
 * The local MOM: one child process per virtual node, running the same MOM code an ECS task runs.
 * The local runtime forks it and hands it its name and key over IPC (first message: never in
 * env, argv or a file, which jobs of the same uid could read through /proc). Jobs reach it
 * through the MOM push channel, as an ECS MOM's do: it connects out to the site's gateway
 * (MOM_GATEWAY_URL) with a signed connect and takes runs, kills and signals pushed there. It
 * reports like a real MOM: obituaries and its boot ("hello") on the site's events queue,
 * heartbeats in the site table, all signed; a run it cannot start goes back on its connection.
 * When the parent goes away (even by SIGKILL) the IPC channel closes and this MOM exits
 * WITHOUT killing its jobs: the next MOM of this node adopts them (pbs_mom -p), so a crash of
 * the runtime neither loses a job nor starts one twice. A SIGTERM (graceful stop) kills them.
 */
import fs from "node:fs";
import path from "node:path";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { signBeat, signReport } from "../../shared/auth/mom-report.js";
import { envSchema, readEnv, v } from "../../shared/config/env.js";
import { Mom } from "../../shared/exec/mom.js";
import { MomLink } from "../../shared/exec/mom-link.js";
import type { MomPush } from "../../shared/ports/channel.js";
import { checkRunnable, noRunReport, refusalObituary, refusalOf } from "../../shared/exec/refusal.js";
import type { JobRunSpec } from "../../shared/ports/executor.js";
import { keyOfId } from "../../shared/server/mutate.js";
import type { MomReply, MomRequest } from "../../shared/adapters/executor/local.js";
import {
  LOCAL_CREDENTIALS,
  makeDynamoClients,
  makeSqsClient,
  requestCounts,
} from "../../shared/adapters/aws-clients.js";
import { DynamoSiteStore } from "../../shared/adapters/dynamodb/index.js";

/**
 * What the local executor sets on the MOM it forks (shared/adapters/executor/local.ts and
 * infra/local/runtime.ts). No zod: a MOM is forked per node, so its start-up time counts.
 */
const LocalMomEnvSchema = envSchema({
  MOM_NODE: v.string(),
  DDB_ENDPOINT: v.string(),
  TABLE_NAME: v.string(),
  SITE_SHORT: v.string(),
  SQS_ENDPOINT: v.string(),
  EVENTS_QUEUE_URL: v.string(),
  /** the site's MOM gateway (infra/local/mom-gateway.ts) */
  MOM_GATEWAY_URL: v.string(),
  MOM_TMP: v.string(),
  MOM_HEARTBEAT_MS: v.int({ min: 1, default: 10_000 }),
  /** while running no job (shared/exec/mom.ts idleHeartbeatEveryMs); default MOM_HEARTBEAT_MS */
  MOM_IDLE_HEARTBEAT_MS: v.optionalInt({ min: 1 }),
  MOM_KEEP_SENT_MS: v.optionalInt({ min: 0 }),
});

/** The executor names this MOM and gives it its key; ask for them once listening. */
function identity(): Promise<{ momId: string; key: string }> {
  return new Promise((resolve) => {
    const onInit = (m: MomRequest) => {
      if (m?.type !== "init") return;
      process.off("message", onInit);
      resolve({ momId: m.momId, key: m.key });
    };
    process.on("message", onInit);
    process.send?.({ type: "boot" } satisfies MomReply);
  });
}

async function main(): Promise<void> {
  const env = readEnv("local MOM", LocalMomEnvSchema);
  const node = env.MOM_NODE;
  // exit with the runtime, before or after init, leaving the jobs to the next MOM
  process.on("disconnect", () => process.exit(0));
  const { momId, key } = await identity();
  if (!momId.startsWith(`${node}:`)) throw new Error(`local MOM: ${momId} is not a MOM of ${node}`);
  const region = "us-east-1";
  const { doc } = makeDynamoClients({
    region,
    endpoint: env.DDB_ENDPOINT,
    credentials: LOCAL_CREDENTIALS,
  });
  const store = new DynamoSiteStore(doc, env.TABLE_NAME);
  const sqs = makeSqsClient({ region, endpoint: env.SQS_ENDPOINT, credentials: LOCAL_CREDENTIALS });
  const eventsUrl = env.EVENTS_QUEUE_URL;
  // signed at every send, so a retry carries a fresh time
  const send = (kind: "obit" | "hello" | "norun", body: unknown) =>
    sqs
      .send(
        new SendMessageCommand({
          QueueUrl: eventsUrl,
          MessageBody: JSON.stringify({ type: "mom", ...signReport(key, momId, kind, body) }),
        }),
      )
      .then(() => undefined);
  const tmpRoot = path.join(env.MOM_TMP, node);
  // 0711, as the data folder: jobs run as their owners and must reach their own TMPDIR and
  // script below (each 0700, theirs), but nobody may list what the node holds; the run records
  // (runs/) are 0700 and the MOM's own
  fs.mkdirSync(tmpRoot, { recursive: true, mode: 0o711 });
  for (const dir of [env.MOM_TMP, tmpRoot]) fs.chmodSync(dir, 0o711);
  const mom = new Mom({
    momId,
    tmpRoot,
    // a host's MOM runs jobs as their submitters (an ECS task is its own sandbox, and has no
    // accounts of the site's users)
    runAsOwner: true,
    heartbeatEveryMs: env.MOM_HEARTBEAT_MS,
    idleHeartbeatEveryMs: env.MOM_IDLE_HEARTBEAT_MS,
    keepSentMs: env.MOM_KEEP_SENT_MS,
    reporter: {
      obituary: (o) => send("obit", o),
      heartbeat: (h) => store.putMomBeat(signBeat(key, momId, h.jobs, h.at)),
      settled: async (jobId, runCount) => {
        const j = await store.getJob(keyOfId(jobId, env.SITE_SHORT));
        return !j || j.runCount !== runCount || !(j.state === "R" || j.state === "E");
      },
    },
  });
  // Runs earlier MOMs of this node left: obituaries re-sent, live ones adopted. Then tell the
  // server this node's MOM (re)started: what it neither adopted nor reported is gone.
  const recovered = mom.recover();
  await send("hello", { type: "hello", momId, node, ...recovered });
  mom.start();
  const reply = (m: MomReply) => process.send?.(m);
  // A run this MOM refuses (no account for its user here, closing, a spec it cannot run) goes
  // back as a signed obituary with the reason (shared/exec/refusal.ts), and a kill or signal of a
  // run it does not hold as a signed `norun`: on the connection the push came by, else on the
  // events queue. The server requeues a refused run once, by its runCount, and records a `norun`
  // on the job (shared/server/job-end.ts, mom-norun.ts).
  const answer = (kind: "obit" | "norun", body: unknown, what: string) => {
    if (!link.send({ type: "report", report: signReport(key, momId, kind, body) }))
      void send(kind, body).catch((e) => console.error(`local MOM: ${what}: ${e}`));
  };
  const refuseRun = (spec: JobRunSpec, err: unknown) => {
    const refusal = refusalOf(err);
    if (!refusal) return console.error(`local MOM: ${(err as Error).message}`);
    answer("obit", refusalObituary(spec, momId, refusal, Date.now()), `refusal of ${spec.jobId}`);
  };
  const noRun = (m: Extract<MomPush, { type: "kill" | "signal" }>) => {
    if (mom.hasEnded(m.jobId, m.runCount)) return; // its obituary answers
    answer("norun", noRunReport(m, momId), `norun of ${m.jobId}`);
  };
  const onPush = (m: MomPush) => {
    try {
      if (m.type === "run") {
        // a run for another MOM is not this one's to report (the sweeper finds it unreported)
        if (m.spec.momId !== momId)
          return console.error(`local MOM: run of ${m.spec.jobId} is for ${m.spec.momId}, not ${momId}`);
        try {
          checkRunnable(m.spec, { runAsOwner: true });
          mom.run(m.spec);
        } catch (err) {
          refuseRun(m.spec, err);
        }
      } else if (m.type === "kill") {
        if (!mom.kill(m.jobId, m.runCount, m.reason)) noRun(m);
      } else if (m.type === "signal") {
        if (!mom.signal(m.jobId, m.runCount, m.signal)) noRun(m);
      }
    } catch (err) {
      console.error(`local MOM: ${m.type}: ${(err as Error).message}`);
    }
  };
  const link = new MomLink({
    url: env.MOM_GATEWAY_URL,
    momId,
    key,
    onPush,
    log: (l) => console.error(`local MOM ${momId}: ${l}`),
  });
  await link.start();
  process.on("message", (m: MomRequest) => {
    if (m.type === "init") return; // already named
    try {
      if (m.type === "retire") {
        // one step: no run pushed after this check starts here (it is refused back instead)
        const runs = mom.running();
        if (runs.length > 0) return reply({ type: "reply", reqId: m.reqId, ok: false, data: runs });
        void mom.shutdown();
        reply({ type: "reply", reqId: m.reqId, ok: true, data: [] });
      } else if (m.type === "counts") {
        reply({ type: "reply", reqId: m.reqId, ok: true, data: { ...requestCounts } });
      }
    } catch (err) {
      reply({ type: "reply", reqId: m.reqId, ok: false, error: (err as Error).message });
    }
  });
  let stopping = false;
  const stop = async () => {
    if (stopping) return;
    stopping = true;
    await mom.shutdown();
    process.exit(0);
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", () => {}); // the runtime decides: Ctrl-C reaches the whole group
  reply({ type: "ready", momId });
}

main().catch((err) => {
  console.error(`local MOM failed: ${(err as Error).stack}`);
  process.exit(1);
});
