/**
 * The local MOM: one child process per virtual node, running the same MOM code an ECS task runs.
 * The local runtime forks it and talks to it over the IPC channel; it reports like a real MOM:
 * obituaries and its boot ("hello") on the site's events queue, heartbeats in the site table.
 * When the parent goes away (even by SIGKILL) the IPC channel closes and this MOM kills its jobs
 * and exits, so no job outlives its runtime.
 */
import { randomUUID } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { Mom } from "../../shared/exec/mom.js";
import type { JobRunSpec, KillReason } from "../../shared/ports.js";
import {
  LOCAL_CREDENTIALS,
  makeDynamoClients,
  makeSqsClient,
  requestCounts,
} from "../../shared/store/clients.js";
import { SiteStore } from "../../shared/store/site-store.js";

export type MomRequest =
  | { type: "run"; reqId: number; spec: JobRunSpec }
  | { type: "kill"; reqId: number; jobId: string; runCount: number; reason: KillReason }
  | { type: "counts"; reqId: number };
export type MomReply =
  | { type: "reply"; reqId: number; ok: boolean; error?: string; data?: unknown }
  | { type: "ready"; momId: string };

function env(name: string): string {
  const v = process.env[name];
  if (!v) throw new Error(`local MOM: ${name} is not set`);
  return v;
}

async function main(): Promise<void> {
  const node = env("MOM_NODE");
  const momId = `${node}:${randomUUID().slice(0, 8)}`;
  const region = "us-east-1";
  const { doc } = makeDynamoClients({
    region,
    endpoint: env("DDB_ENDPOINT"),
    credentials: LOCAL_CREDENTIALS,
  });
  const store = new SiteStore(doc, env("TABLE_NAME"));
  const sqs = makeSqsClient({ region, endpoint: env("SQS_ENDPOINT"), credentials: LOCAL_CREDENTIALS });
  const eventsUrl = env("EVENTS_QUEUE_URL");
  const send = (body: unknown) =>
    sqs
      .send(new SendMessageCommand({ QueueUrl: eventsUrl, MessageBody: JSON.stringify(body) }))
      .then(() => undefined);
  const tmpRoot = path.join(env("MOM_TMP"), node);
  fs.mkdirSync(tmpRoot, { recursive: true });
  const mom = new Mom({
    momId,
    tmpRoot,
    // a host's MOM runs jobs as their submitters (an ECS task is its own sandbox, and has no
    // accounts of the site's users)
    runAsOwner: true,
    heartbeatEveryMs: Number(process.env.MOM_HEARTBEAT_MS ?? 10_000),
    reporter: {
      obituary: (o) => send(o),
      heartbeat: (h) => store.putMomBeat(h),
    },
  });
  // Tell the server this node's MOM (re)started: jobs an earlier MOM ran here are gone.
  await send({ type: "hello", momId, node });
  mom.start();
  const reply = (m: MomReply) => process.send?.(m);
  process.on("message", (m: MomRequest) => {
    try {
      if (m.type === "run") {
        const spec = { ...m.spec, ...deliverable(m.spec) };
        mom.run(spec);
        reply({ type: "reply", reqId: m.reqId, ok: true });
      } else if (m.type === "kill") {
        reply({ type: "reply", reqId: m.reqId, ok: mom.kill(m.jobId, m.runCount, m.reason) });
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
  process.on("disconnect", stop);
  process.on("SIGTERM", stop);
  process.on("SIGINT", () => {}); // the runtime decides: Ctrl-C reaches the whole group
  reply({ type: "ready", momId });
}

/** PBS: an -o/-e path naming an existing directory gets the default file name inside it. */
function deliverable(spec: JobRunSpec): Partial<JobRunSpec> {
  const fix = (p: string | null, kind: "o" | "e") => {
    if (!p) return p;
    try {
      if (fs.statSync(p).isDirectory()) return path.join(p, `${spec.name}.${kind}${spec.seq}`);
    } catch {
      /* not there yet: a file */
    }
    return p;
  };
  return { stdoutPath: fix(spec.stdoutPath, "o") as string, stderrPath: fix(spec.stderrPath, "e") };
}

main().catch((err) => {
  console.error(`local MOM failed: ${(err as Error).stack}`);
  process.exit(1);
});
