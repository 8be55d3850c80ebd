/**
 * The ECS MOM in node mode (issue 12): a pool node's long-lived task (shared/adapters/executor/
 * ecs-nodes.ts powerOn). It stays up, says hello (signed, on the events queue: that brings the
 * node up), beats into the site table while idle and busy, and runs every job it is handed,
 * as a node's pbs_mom does, until ECS stops the task (power-off: SIGTERM).
 *
 * The task's overrides name it: MOM_NODE (the node), MOM_ID (`<node>:p<power-on>`) and MOM_KEY
 * = HMAC(site secret, MOM_ID). Runs, kills and signals reach it through the MOM push channel,
 * as the local MOM's do (infra/mom/local.ts): it connects out to the site's WebSocket API
 * (MOM_CHANNEL_URL, set by the CDK on pool task definitions) with a signed connect before its
 * hello, so a run the server pushes once the node is up finds its connection; a pushed run goes
 * to `run(spec)`. A run it refuses goes back as a signed obituary with the reason, and a kill
 * or signal of a run it does not hold as a signed `norun`, on the connection
 * (shared/exec/refusal.ts). Without MOM_CHANNEL_URL nothing reaches it, and the executor refuses runs on
 * its node (`later`).
 *
 * As the per-run MOM (ecs.ts): jobs run as MOM_JOB_USER, never as the root MOM; their paths are
 * re-rooted under MOM_PATH_ROOT; output is snapshotted while a job runs and uploaded before each
 * obituary is sent, through the run's output grant (the pushed run carries its presigned PUT
 * URLs, renewed with a signed `grant` request on the channel; the task role has no S3 right).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { lookupOsUser } from "../../shared/auth/os-user.js";
import { signBeat, signReport } from "../../shared/auth/mom-report.js";
import { envSchema, readEnv, v } from "../../shared/config/env.js";
import { specWithoutSiteSecrets } from "../../shared/exec/job-secrets.js";
import { Mom } from "../../shared/exec/mom.js";
import { MomLink } from "../../shared/exec/mom-link.js";
import { checkRunnable, noRunReport, refusalObituary, refusalOf } from "../../shared/exec/refusal.js";
import type { MomPush } from "../../shared/ports/channel.js";
import type { JobRunSpec, Obituary } from "../../shared/ports/index.js";
import { DynamoSiteStore } from "../../shared/adapters/dynamodb/index.js";
import { type EcsMomClients, type EcsMomEnv, makeDirs, rebaseSpec, uploadOutputs } from "./ecs-files.js";
import { channelRenewer, LiveOutput, OUTPUT_SYNC_MS, RunOutputGrant } from "./output-upload.js";

const WHO = "ECS node MOM";

const NodeMomEnvSchema = envSchema({
  MOM_NODE: v.string(),
  MOM_ID: v.string(),
  MOM_KEY: v.optional(),
  TABLE_NAME: v.string(),
  EVENTS_QUEUE_URL: v.string(),
  OUTPUT_BUCKET: v.optional(),
  MOM_PATH_ROOT: v.optional(),
  MOM_TMP: v.optional(),
  MOM_HEARTBEAT_MS: v.int({ min: 1, default: 10_000 }),
  /** while running no job; default MOM_HEARTBEAT_MS (an idle node's beats say it is alive) */
  MOM_IDLE_HEARTBEAT_MS: v.optionalInt({ min: 1 }),
  MOM_JOB_USER: v.optional(),
  /** the MOM push channel: `wss://...` on AWS (the WebSocket API's stage), `ws+unix:<socket>:/` locally */
  MOM_CHANNEL_URL: v.optional(),
  MOM_OUTPUT_SYNC_MS: v.int({ min: 1000, default: OUTPUT_SYNC_MS }),
});

export interface NodeMom {
  readonly momId: string;
  readonly node: string;
  /** Take one run (the dispatch channel's entry): throws when it is not this MOM's. */
  run(spec: JobRunSpec): void;
  /** the runs it has (the channel's `running` request; power-off checks its beats) */
  running(): { jobId: string; runCount: number }[];
  kill(jobId: string, runCount: number): boolean;
  /** Kill the jobs (their obituaries are sent), stop beating, close the channel. */
  shutdown(): Promise<void>;
  /** its push channel connection, when MOM_CHANNEL_URL is set (tests drop it) */
  readonly link?: MomLink;
}

/**
 * Start a node MOM: recover what an earlier MOM of this container left (nothing, in a fresh
 * task), say hello, beat. Resolves once the hello is on the events queue.
 */
export async function startNodeMom(
  env: EcsMomEnv,
  clients: EcsMomClients,
  opts: { log?: (line: string) => void } = {},
): Promise<NodeMom> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const e = readEnv(WHO, NodeMomEnvSchema, env);
  const node = e.MOM_NODE;
  const momId = e.MOM_ID;
  if (!momId.startsWith(`${node}:`)) throw new Error(`${WHO}: ${momId} is not a MOM of node ${node}`);
  const key = e.MOM_KEY;
  if (!key) log(`${WHO}: no MOM_KEY: the server refuses this MOM's unsigned reports`);
  const root = process.getuid?.() === 0;
  const jobUser = e.MOM_JOB_USER ?? (root ? "" : undefined);
  const account = root && jobUser ? lookupOsUser(jobUser) : undefined;
  const store = new DynamoSiteStore(clients.doc, e.TABLE_NAME);
  const tmpRoot = path.join(e.MOM_TMP ?? os.tmpdir(), "metaqueue-mom", node);
  fs.mkdirSync(tmpRoot, { recursive: true, mode: 0o711 });
  fs.chmodSync(tmpRoot, 0o711);

  // signed at every send, so a retry carries a fresh time
  const send = async (kind: "obit" | "hello" | "norun", body: unknown) => {
    const msg = key ? { type: "mom", ...signReport(key, momId, kind, body) } : body;
    await clients.sqs.send(
      new SendMessageCommand({ QueueUrl: e.EVENTS_QUEUE_URL, MessageBody: JSON.stringify(msg) }),
    );
  };
  // the spec of each run, for its output upload at the end, with its output grant and snapshots
  const specs = new Map<string, JobRunSpec & { grant?: RunOutputGrant; live?: LiveOutput }>();
  const ref = (jobId: string, runCount: number) => `${runCount}\u0000${jobId}`;
  const mom = new Mom({
    momId,
    tmpRoot,
    heartbeatEveryMs: e.MOM_HEARTBEAT_MS,
    idleHeartbeatEveryMs: e.MOM_IDLE_HEARTBEAT_MS,
    jobUser,
    reporter: {
      heartbeat: (h) => store.putMomBeat(key ? signBeat(key, momId, h.jobs, h.at) : h),
      obituary: async (o: Obituary) => {
        const spec = specs.get(ref(o.jobId, o.runCount));
        if (spec) {
          const d = o.delivered;
          const files = d ? { ...spec, stdoutPath: d.o ?? spec.stdoutPath, stderrPath: d.e ?? null } : spec;
          // the last snapshot lands before the end's upload, which is the last write of each key
          await spec.live?.stop();
          await uploadOutputs(files, spec.grant, log, account);
        }
        await send("obit", o);
        specs.delete(ref(o.jobId, o.runCount));
      },
    },
  });
  const run = (pushed: JobRunSpec): void => {
    if (pushed.momId !== momId)
      throw new Error(`${WHO}: run of ${pushed.jobId} is for ${pushed.momId}, not ${momId}`);
    // the output grant stays with the MOM: never in the run records or the job's reach
    const { outputGrant, ...raw } = pushed;
    // as the per-run task: the site's secrets out of its Variable_List, paths re-rooted, and
    // it starts in its submit directory (a container has no account or home of the owner)
    const spec: JobRunSpec = {
      ...rebaseSpec(specWithoutSiteSecrets(raw), e.MOM_PATH_ROOT),
      start: "workdir",
    };
    for (const p of [spec.workdir, spec.stdoutPath, spec.stderrPath]) {
      const dir = p === spec.workdir ? p : p ? path.dirname(p) : null;
      try {
        if (dir) makeDirs(dir, account);
      } catch (err) {
        log(`${WHO}: cannot create ${dir}: ${(err as Error).message}`);
      }
    }
    checkRunnable(spec, { jobUser });
    // its output as the per-run MOM's (ecs.ts): snapshots while it runs, through its grant,
    // renewed over this MOM's channel as it nears expiry
    const grant = outputGrant && new RunOutputGrant(outputGrant, renew);
    const live =
      grant &&
      new LiveOutput({
        grant,
        files: [spec.stdoutPath, spec.stderrPath].filter((p): p is string => !!p),
        account,
        everyMs: e.MOM_OUTPUT_SYNC_MS,
        log,
      });
    specs.set(ref(spec.jobId, spec.runCount), { ...spec, grant, live });
    mom.run(spec);
    live?.start();
  };

  // A run this MOM refuses goes back as a signed obituary with the reason, and a kill or signal
  // of a run it does not hold as a signed `norun` (shared/exec/refusal.ts): on the connection,
  // else on the events queue, as the local MOM's. The server requeues a refused run once, by its
  // runCount, and records a `norun` on the job.
  const answer = (kind: "obit" | "norun", body: unknown, what: string) => {
    if (!(key && link?.send({ type: "report", report: signReport(key, momId, kind, body) })))
      void send(kind, body).catch((err) => log(`${WHO}: ${what}: ${(err as Error).message}`));
  };
  const noRun = (m: Extract<MomPush, { type: "kill" | "signal" }>) => {
    if (mom.hasEnded(m.jobId, m.runCount)) return; // its obituary answers
    answer("norun", noRunReport(m, momId), `norun of ${m.jobId}`);
  };
  const onPush = (m: MomPush) => {
    try {
      if (m.type === "run") {
        // a run for another MOM (an earlier power-on's) is not this one's to report: the
        // sweeper finds it unreported
        if (m.spec.momId !== momId)
          return log(`${WHO}: run of ${m.spec.jobId} is for ${m.spec.momId}, not ${momId}`);
        try {
          run(m.spec);
        } catch (err) {
          const refusal = refusalOf(err);
          if (refusal)
            answer("obit", refusalObituary(m.spec, momId, refusal, Date.now()), `refusal of ${m.spec.jobId}`);
        }
      } else if (m.type === "kill") {
        if (!mom.kill(m.jobId, m.runCount, m.reason)) noRun(m);
      } else if (m.type === "signal") {
        if (!mom.signal(m.jobId, m.runCount, m.signal)) noRun(m);
      }
    } catch (err) {
      log(`${WHO}: ${m.type}: ${(err as Error).message}`);
    }
  };
  let link: MomLink | undefined;
  const renew =
    e.MOM_CHANNEL_URL && key
      ? channelRenewer(
          async () => {
            if (!link) throw new Error("no push channel");
            return link;
          },
          key,
          momId,
        )
      : undefined;
  if (e.MOM_CHANNEL_URL && key) {
    link = new MomLink({
      url: e.MOM_CHANNEL_URL,
      momId,
      key,
      onPush,
      log: (l) => log(`${WHO} ${momId}: ${l}`),
    });
    // connected before the hello: once the node is up, runs pushed to it find the connection
    await link.start();
  } else if (e.MOM_CHANNEL_URL)
    log(`${WHO}: no MOM_KEY: not connecting to the push channel (it refuses unsigned connects)`);
  else log(`${WHO}: no MOM_CHANNEL_URL: no run can reach this MOM`);

  const recovered = mom.recover();
  await send("hello", { type: "hello", momId, node, ...recovered });
  mom.start();
  log(`${WHO}: ${momId} up on node ${node}`);
  return {
    momId,
    node,
    link,
    run,
    running: () => mom.running(),
    kill: (jobId, runCount) => mom.kill(jobId, runCount, "qdel"),
    shutdown: async () => {
      await mom.shutdown();
      await Promise.all([...specs.values()].map((r) => r.live?.stop()));
      link?.close();
    },
  };
}
