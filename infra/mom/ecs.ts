/**
 * The MOM container entry on ECS: one task runs one job run, then exits; or, with MOM_NODE
 * set (a pool node's task, issue 12), it is that node's long-lived MOM (infra/mom/ecs-node.ts).
 *
 * The scheduler's RunTask passes the run spec in the container environment (JOB_SPEC, or
 * JOB_SPEC_GZ = base64 gzip of it; see shared/adapters/executor/ecs.ts); the task definition sets
 * TABLE_NAME, EVENTS_QUEUE_URL, OUTPUT_BUCKET and AWS_REGION. The same `Mom` as the local child
 * process runs the job: heartbeats go to the site table, the obituary to the events queue.
 * Before the obituary is sent, stdout/stderr are uploaded to s3://OUTPUT_BUCKET/<jobId>/<file>,
 * so a job seen as finished has its output in place; while the job runs, a snapshot of each
 * every MOM_OUTPUT_SYNC_MS that it grew, marked partial (infra/mom/output-upload.ts). Both
 * through the run's output grant (presigned PUT URLs in the spec, renewed over the push
 * channel MOM_CHANNEL_URL): the task role has no S3 right (issue 12 point 2).
 *
 * ECS StopTask (qdel, qrerun) sends SIGTERM: the MOM kills the job (TERM, kill_delay, KILL; the
 * task's stopTimeout is 120 s) and still reports it; the server already knows why (the job's
 * delReq/rerunReq), so the report's reason is just "shutdown".
 *
 * MOM_PATH_ROOT (set in the image): the job's directories are the submit host's paths
 * (/home/alice/run); inside the container they are re-rooted under MOM_PATH_ROOT
 * (/scratch/home/alice/run), where the job's account may write.
 *
 * Job code cannot act for the site (issue 12). The MOM runs as root in the container and the
 * job as MOM_JOB_USER (the image's unprivileged `node`), so the job can read neither the MOM's
 * /proc/<pid>/environ (the task credentials' URI and token, MOM_KEY) nor its run records; its
 * environment is its Variable_List and the PBS variables only, cleaned of AWS_*, ECS_* and the
 * MOM's names (shared/exec/job-secrets.ts). A root MOM without MOM_JOB_USER runs no job (they
 * fail with a comment); a MOM that is not root cannot switch and runs jobs as itself, which
 * only a development run does (it says so in its log). Output is uploaded with the file opened
 * as the job's account, so a job cannot make the root MOM upload a file it may not read.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { gunzipSync } from "node:zlib";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { lookupOsUser } from "../../shared/auth/os-user.js";
import { signBeat, signReport } from "../../shared/auth/mom-report.js";
import { envSchema, readEnv, v } from "../../shared/config/env.js";
import { EnvError } from "../../shared/errors.js";
import { specWithoutSiteSecrets } from "../../shared/exec/job-secrets.js";
import { Mom } from "../../shared/exec/mom.js";
import { MomLink } from "../../shared/exec/mom-link.js";
import type { JobRunSpec, Obituary } from "../../shared/ports/index.js";
import { makeDynamoClients, makeSqsClient } from "../../shared/adapters/aws-clients.js";
import { DynamoSiteStore } from "../../shared/adapters/dynamodb/index.js";
import { type EcsMomClients, type EcsMomEnv, makeDirs, rebaseSpec, uploadOutputs } from "./ecs-files.js";
import { startNodeMom } from "./ecs-node.js";
import { channelRenewer, LiveOutput, OUTPUT_SYNC_MS, RunOutputGrant } from "./output-upload.js";

export { type EcsMomClients, type EcsMomEnv, makeDirs, rebaseSpec, uploadOutputs };

export interface EcsMomOptions {
  /** aborting it (SIGTERM) kills the job; its obituary is still sent */
  stop?: AbortSignal;
  log?: (line: string) => void;
}

/** The run spec from JOB_SPEC or JOB_SPEC_GZ, checked for the fields the MOM relies on. */
export function readJobSpec(env: EcsMomEnv): JobRunSpec {
  let text = env.JOB_SPEC;
  if (!text && env.JOB_SPEC_GZ) text = gunzipSync(Buffer.from(env.JOB_SPEC_GZ, "base64")).toString("utf8");
  if (!text) throw new Error("ECS MOM: neither JOB_SPEC nor JOB_SPEC_GZ is set");
  const spec = JSON.parse(text) as JobRunSpec;
  for (const k of ["jobId", "momId", "script", "workdir", "stdoutPath"] as const) {
    if (typeof spec[k] !== "string" || !spec[k]) throw new Error(`ECS MOM: JOB_SPEC has no ${k}`);
  }
  if (!Number.isInteger(spec.runCount)) throw new Error("ECS MOM: JOB_SPEC has no runCount");
  return spec;
}

/**
 * The run as this task runs it: the spec from its environment, its Variable_List cleaned of the
 * site's secrets (job-secrets.ts), its paths re-rooted under `root`. A task container has no
 * account or home directory of the job's owner: the job starts in its (re-rooted) submit
 * directory, where its files are, whatever the site's jobStart says.
 */
export function taskJobSpec(env: EcsMomEnv, root: string | undefined): JobRunSpec {
  return { ...rebaseSpec(specWithoutSiteSecrets(readJobSpec(env)), root), start: "workdir" };
}

const WHO = "ECS MOM";

/**
 * What runEcsMom reads (see EcsMomEnv). No zod: the task starts for one job, and what it loads
 * before the job runs delays the job.
 */
const ECS_MOM_FIELDS = {
  TABLE_NAME: v.string(),
  EVENTS_QUEUE_URL: v.string(),
  OUTPUT_BUCKET: v.optional(),
  MOM_PATH_ROOT: v.optional(),
  MOM_TMP: v.optional(),
  MOM_HEARTBEAT_MS: v.int({ min: 1, default: 10_000 }),
  MOM_KEY: v.optional(),
  MOM_JOB_USER: v.optional(),
  MOM_OUTPUT_SYNC_MS: v.int({ min: 1000, default: OUTPUT_SYNC_MS }),
  /** the MOM push channel: a per-run MOM connects only to renew its output grant (a long job) */
  MOM_CHANNEL_URL: v.optional(),
};
const EcsMomEnvSchema = envSchema(ECS_MOM_FIELDS);
/** The container's: the same, and the region (ECS sets both names). */
const EcsMomMainEnvSchema = envSchema({
  ...ECS_MOM_FIELDS,
  AWS_REGION: v.optional(),
  AWS_DEFAULT_REGION: v.optional(),
  /** a local run of the entry (tests): DynamoDB Local and the SQS emulator, as the local MOM's */
  DDB_ENDPOINT: v.optional(),
  SQS_ENDPOINT: v.optional(),
});

/**
 * Run one job and report it; resolves with the obituary once the events queue has it.
 * Throws only when the task cannot even start (bad environment or spec).
 */
export async function runEcsMom(
  env: EcsMomEnv,
  clients: EcsMomClients,
  opts: EcsMomOptions = {},
): Promise<Obituary> {
  const log = opts.log ?? ((l: string) => console.error(l));
  const e = readEnv(WHO, EcsMomEnvSchema, env);
  const table = e.TABLE_NAME;
  const eventsUrl = e.EVENTS_QUEUE_URL;
  const { outputGrant, ...spec } = taskJobSpec(env, e.MOM_PATH_ROOT);
  const root = process.getuid?.() === 0;
  // a root MOM without a job account refuses every job (jobAccount), rather than run it as root
  const jobUser = e.MOM_JOB_USER ?? (root ? "" : undefined);
  if (!root) log(`${WHO}: not root, so jobs run as the MOM's own user and can read its environment`);
  const account = root && jobUser ? lookupOsUser(jobUser) : undefined;
  for (const dir of [spec.workdir, spec.stdoutPath, spec.stderrPath].map((p, i) =>
    i === 0 ? p : p ? path.dirname(p) : null,
  )) {
    try {
      if (dir) makeDirs(dir, account);
    } catch (err) {
      // the job's own start then fails and its obituary says why
      log(`ECS MOM: cannot create ${dir}: ${(err as Error).message}`);
    }
  }
  const store = new DynamoSiteStore(clients.doc, table);
  const key = e.MOM_KEY;
  const tmpRoot = path.join(e.MOM_TMP ?? os.tmpdir(), "metaqueue-mom");
  // 0711: the job reaches its own TMPDIR (0700, its account's) but lists nothing; runs/ is 0700
  fs.mkdirSync(tmpRoot, { recursive: true, mode: 0o711 });
  fs.chmodSync(tmpRoot, 0o711);

  // The run's output grant (issue 12 point 2: this task's role has no S3 right): the URLs its
  // dispatch carried, renewed over the push channel, to which this MOM connects only then.
  let link: MomLink | undefined;
  const renew =
    e.MOM_CHANNEL_URL && key
      ? channelRenewer(
          async () => {
            if (!link) {
              link = new MomLink({
                url: e.MOM_CHANNEL_URL as string,
                momId: spec.momId,
                key,
                onPush: () => {},
              });
              await link.start();
            }
            return link;
          },
          key,
          spec.momId,
        )
      : undefined;
  const grant = outputGrant && new RunOutputGrant(outputGrant, renew);
  if (!grant && e.OUTPUT_BUCKET)
    log(`${WHO}: ${spec.jobId} came without an output grant: its output stays here`);
  // snapshots while the job runs, at the paths the API reads for a running job (its outPath
  // and errPath, re-rooted here); stopped, and the one in flight awaited, before the end's upload
  const live = grant
    ? new LiveOutput({
        grant,
        files: [spec.stdoutPath, spec.stderrPath].filter((p): p is string => !!p),
        account,
        everyMs: e.MOM_OUTPUT_SYNC_MS,
        log,
      })
    : undefined;
  let uploaded: Promise<void> | undefined;
  // what the MOM delivered (an -o naming a directory got the default file name in it; output
  // refused at its path went to undelivered/): that is the output there is to keep
  const upload = (o: Obituary) => {
    const d = o.delivered;
    const files = d ? { ...spec, stdoutPath: d.o ?? spec.stdoutPath, stderrPath: d.e ?? null } : spec;
    uploaded ??= (async () => {
      await live?.stop();
      await uploadOutputs(files, grant, log, account);
    })();
    return uploaded;
  };
  let delivered!: (o: Obituary) => void;
  const done = new Promise<Obituary>((r) => {
    delivered = r;
  });
  const mom = new Mom({
    momId: spec.momId,
    tmpRoot,
    heartbeatEveryMs: e.MOM_HEARTBEAT_MS,
    jobUser,
    reporter: {
      heartbeat: (h) => store.putMomBeat(key ? signBeat(key, spec.momId, h.jobs, h.at) : h),
      obituary: async (o) => {
        await upload(o);
        // signed at every send (a retry carries a fresh time); unsigned only without a key,
        // which the server refuses (a deployment without the MOM secret: see README)
        const body = key ? { type: "mom", ...signReport(key, spec.momId, "obit", o) } : o;
        await clients.sqs.send(
          new SendMessageCommand({ QueueUrl: eventsUrl, MessageBody: JSON.stringify(body) }),
        );
        delivered(o);
      },
    },
  });
  const onStop = () => {
    log(`ECS MOM: stop requested, killing ${spec.jobId} run ${spec.runCount}`);
    mom.kill(spec.jobId, spec.runCount, "shutdown");
  };
  opts.stop?.addEventListener("abort", onStop, { once: true });
  try {
    mom.start();
    mom.run(spec);
    live?.start();
    if (opts.stop?.aborted) onStop();
    const obit = await done;
    log(`ECS MOM: ${spec.jobId} run ${spec.runCount} ended, Exit_status=${obit.exitStatus}`);
    return obit;
  } finally {
    opts.stop?.removeEventListener("abort", onStop);
    await live?.stop();
    link?.close();
    await mom.shutdown();
  }
}

async function main(): Promise<void> {
  const env = { ...process.env } as EcsMomEnv;
  // what only the MOM may know leaves the process's environment (children it forks inherit
  // it); the SDK's credential variables stay: it reads them again at each credential refresh,
  // and the job's other uid keeps it from reading them in /proc
  for (const k of ["MOM_KEY", "JOB_SPEC", "JOB_SPEC_GZ"]) delete process.env[k];
  // every problem at once, before any client is built
  const e = readEnv(WHO, EcsMomMainEnvSchema, env);
  const region = e.AWS_REGION ?? e.AWS_DEFAULT_REGION;
  if (!region) throw new EnvError(WHO, ["AWS_REGION: is not set"]);
  const { doc } = makeDynamoClients({ region, endpoint: e.DDB_ENDPOINT });
  const sqs = makeSqsClient({ region, endpoint: e.SQS_ENDPOINT });
  const stop = new AbortController();
  process.on("SIGTERM", () => stop.abort());
  process.on("SIGINT", () => stop.abort());
  if (env.MOM_NODE) {
    // node mode (a pool node's long-lived task): up until ECS stops it (power-off). Its runs
    // are pushed on the MOM channel (MOM_CHANNEL_URL), which calls mom.run (infra/mom/ecs-node.ts).
    const mom = await startNodeMom(env, { doc, sqs });
    await new Promise<void>((resolve) =>
      stop.signal.addEventListener("abort", () => resolve(), { once: true }),
    );
    console.error(`ECS MOM: node ${mom.node} stopping (${mom.running().length} job(s) to kill)`);
    await mom.shutdown();
    return;
  }
  await runEcsMom(env, { doc, sqs }, { stop: stop.signal });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(`ECS MOM failed: ${(err as Error).stack ?? err}`);
      process.exit(1);
    },
  );
}
