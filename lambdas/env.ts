/** Lambda configuration: validated environment, clients built once per container. */
import { systemClock } from "../shared/ports/clock.js";
import { S3Client } from "@aws-sdk/client-s3";
import { SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { claimsAuthenticator } from "../shared/api/identity.js";
import { type Env, readEnv } from "../shared/config/env.js";
import { PowertoolsMetrics } from "../shared/observability/metrics.js";
import type { SiteContext } from "../shared/server/context.js";
import { DEFAULT_SETTINGS } from "../shared/server/settings.js";
import { makeDynamoClients, makeSqsClient } from "../shared/adapters/aws-clients.js";
import { s3OutputReader } from "../shared/adapters/s3/output-reader.js";
import { SqsBus } from "../shared/adapters/sqs/bus.js";
import { DynamoSiteStore } from "../shared/adapters/dynamodb/index.js";
import { PeerPacing } from "../shared/peers/pacing.js";
import type { Executor } from "../shared/ports/index.js";
import { logger, metrics as containerMetrics } from "./middleware.js";
import { loadPeers, parsePeersEnv, ssmSecrets } from "./peers-env.js";

/**
 * What every Lambda of a site reads (infra/aws/site-stack.ts sets it; AWS_REGION is Lambda's
 * own). PEERS and MOM_SECRET_PARAMETER are optional: a site on its own, a site without MOM
 * report signatures (see README).
 */
export const LambdaEnvSchema = z.object({
  AWS_REGION: z.string().min(1),
  SITE_SHORT: z.string().min(1),
  SITE_SERVER: z.string().min(1),
  TABLE_NAME: z.string().min(1),
  SCHED_QUEUE_URL: z.string().url(),
  EVENTS_QUEUE_URL: z.string().url(),
  KILL_DELAY: z.coerce.number().int().nonnegative().default(10),
  MOM_STALE_SECONDS: z.coerce.number().int().positive().default(120),
  /** JSON (lambdas/peers-env.ts PeerEnvSchema); absent or empty: no peers */
  PEERS: z.string().optional(),
  /** the job-output bucket ECS MOMs upload to: the API serves output from it; absent: 501 */
  OUTPUT_BUCKET: z.preprocess((x) => (x === "" ? undefined : x), z.string().optional()),
  /** SSM SecureString holding the site's MOM secret; absent or empty: none */
  MOM_SECRET_PARAMETER: z.preprocess((x) => (x === "" ? undefined : x), z.string().optional()),
});
export type LambdaEnv = z.infer<typeof LambdaEnvSchema>;

/** The part of it the MOM secret needs (the executor reads it alone, before any context). */
const MomSecretEnvSchema = LambdaEnvSchema.pick({ AWS_REGION: true, MOM_SECRET_PARAMETER: true }).partial({
  AWS_REGION: true,
});

const WHO = "Lambda";

let cached: SiteContext | undefined;

/** Build the site context from the environment (once per container). */
export function contextFromEnv(executor: Executor, env: Env = process.env): SiteContext {
  if (cached) return cached;
  const e = readEnv(WHO, LambdaEnvSchema, env);
  const { doc } = makeDynamoClients({ region: e.AWS_REGION });
  // the container's logger and metrics (lambdas/middleware.ts flushes the metrics per invocation)
  const metrics = new PowertoolsMetrics(e.SITE_SHORT, containerMetrics);
  logger.appendPersistentKeys({ site: e.SITE_SHORT });
  const text = (m: unknown) => (m instanceof Error ? m.message : String(m));
  cached = {
    site: { server: e.SITE_SERVER, short: e.SITE_SHORT },
    store: new DynamoSiteStore(doc, e.TABLE_NAME),
    bus: new SqsBus(makeSqsClient({ region: e.AWS_REGION })),
    queueUrls: { sched: e.SCHED_QUEUE_URL, events: e.EVENTS_QUEUE_URL },
    executor,
    clock: systemClock,
    // one per container, as the context: resends, offers and heartbeats are paced per process
    pacing: new PeerPacing(),
    settings: {
      ...DEFAULT_SETTINGS,
      killDelay: e.KILL_DELAY,
      momStaleMs: e.MOM_STALE_SECONDS * 1000,
      dispatchGraceMs: 300_000,
    },
    log: {
      info: (m: unknown) => logger.info(text(m)),
      warn: (m: unknown) => logger.warn(text(m)),
      error: (m: unknown) => (m instanceof Error ? logger.error(m.message, m) : logger.error(text(m))),
      debug: (m: unknown) => logger.debug(text(m)),
    },
    metrics,
    // API Gateway's JWT authorizer verified the token; the claims name the PBS user
    authenticate: claimsAuthenticator(),
    output: e.OUTPUT_BUCKET
      ? s3OutputReader(new S3Client({ region: e.AWS_REGION, maxAttempts: 3 }), e.OUTPUT_BUCKET)
      : undefined,
  };
  return cached;
}

let peersLoaded: Promise<void> | undefined;
let momSecretLoaded: Promise<string | undefined> | undefined;

/**
 * The site's MOM secret (SSM SecureString named by MOM_SECRET_PARAMETER), read once per
 * container: the events and sweeper functions verify MOM reports with it, the scheduler derives
 * each ECS task's MOM_KEY from it. Unset: MOM reports are not authenticated (see README).
 */
export function momSecretFromEnv(env: Env = process.env): Promise<string | undefined> {
  const e = readEnv(WHO, MomSecretEnvSchema, env);
  const name = e.MOM_SECRET_PARAMETER;
  if (!name) return Promise.resolve(undefined);
  momSecretLoaded ??= ssmSecrets(new SSMClient({ region: e.AWS_REGION }))(name).catch((err) => {
    momSecretLoaded = undefined; // try again on the next invocation
    throw err;
  });
  return momSecretLoaded;
}

/**
 * The site context with its peers (PEERS, secrets from SSM), built once per container. Every
 * entry uses this one: any handler may need to message a peer (a dependency release, a
 * transfer step, a forwarded qdel).
 */
export async function siteContext(executor: Executor, env: Env = process.env): Promise<SiteContext> {
  const ctx = contextFromEnv(executor, env);
  ctx.momSecret ??= await momSecretFromEnv(env);
  peersLoaded ??= (async () => {
    const e = readEnv(WHO, LambdaEnvSchema, env);
    const defs = parsePeersEnv(e.PEERS);
    if (!defs.length) return;
    ctx.peers = await loadPeers(defs, ssmSecrets(new SSMClient({ region: e.AWS_REGION })));
  })().catch((err) => {
    peersLoaded = undefined; // try again on the next invocation
    throw err;
  });
  await peersLoaded;
  return ctx;
}

/**
 * Until the ECS executor lands (issue "Deploy to AWS with CDK"), a deployed site refuses to
 * dispatch with a clear reason: the scheduler puts the job back with that comment.
 */
export const unconfiguredExecutor: Executor = {
  momIdFor: (_host, key, runCount) => `ecs:${key}:${runCount}`,
  dispatch: async () => {
    throw new Error("no executor configured for this deployment (ECS executor not deployed)");
  },
  kill: async () => {
    throw new Error("no executor configured for this deployment");
  },
  signal: async () => {
    throw new Error("no executor configured for this deployment");
  },
};
