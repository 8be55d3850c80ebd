/** Lambda configuration: validated environment, clients built once per container. */
import { systemClock } from "../shared/ports/clock.js";
import { S3Client } from "@aws-sdk/client-s3";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { LambdaClient } from "@aws-sdk/client-lambda";
import { SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { claimsAuthenticator } from "../shared/api/identity.js";
import { type Env, readEnv } from "../shared/config/env.js";
import { PowertoolsMetrics } from "../shared/observability/metrics.js";
import type { SiteContext } from "../shared/server/context.js";
import { DEFAULT_SETTINGS } from "../shared/server/settings.js";
import { withHistory } from "../shared/server/history.js";
import { makeDynamoClients, makeSqsClient } from "../shared/adapters/aws-clients.js";
import { S3OutputGranter } from "../shared/adapters/s3/output-grant.js";
import { AwsIntake } from "../shared/adapters/lambda/intake.js";
import { s3OutputReader } from "../shared/adapters/s3/output-reader.js";
import { SqsBus } from "../shared/adapters/sqs/bus.js";
import { DynamoSiteStore } from "../shared/adapters/dynamodb/index.js";
import { PeerPacing } from "../shared/peers/pacing.js";
import type { Executor } from "../shared/ports/index.js";
import { logger, metrics as containerMetrics } from "./middleware.js";
import { siteLog } from "./site-log.js";
import { loadPeers, ParameterCache, PEERS_TTL_MS, parsePeersEnv, ssmSecrets } from "./peers-env.js";
import {
  type NodePoolPolicy,
  NodePoolPoliciesSchema,
  type NodePoolsDoc,
} from "../shared/config/node-pools-doc.js";
import { loadedNodePools, loadNodePools } from "./node-pools-env.js";

/**
 * A variable holding JSON (what the CDK stack serialises for the functions): absent or empty is
 * `whenUnset`, text that is not JSON is "is not JSON", and the parsed value must pass `schema`.
 */
export function jsonVar<T extends z.ZodType>(whenUnset: z.input<T>, schema: T) {
  return z
    .preprocess((x) => (x === "" ? undefined : x), z.string().optional())
    .transform((x, ctx): unknown => {
      if (x === undefined) return whenUnset;
      try {
        return JSON.parse(x) as unknown;
      } catch {
        ctx.addIssue({ code: "custom", message: "is not JSON" });
        return z.NEVER;
      }
    })
    .pipe(schema);
}

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
  /** accounting records are kept this many days (0: for ever); job history is qmgr's job_history_duration */
  ACCOUNTING_KEEP_DAYS: z.coerce.number().int().nonnegative().default(DEFAULT_SETTINGS.acctKeepDays),
  SCRIPT_LEASE_MARGIN_DAYS: z.coerce.number().positive().default(DEFAULT_SETTINGS.scriptLeaseMarginDays),
  /** refusals of one job's runs by MOMs before it is held (PBS holds after 20 failed starts) */
  MAX_RUN_REFUSALS: z.coerce.number().int().positive().default(DEFAULT_SETTINGS.maxRunRefusals),
  /**
   * SSM String parameter holding the peers' JSON (lambdas/peers-env.ts PeerEnvSchema), read
   * with a PEERS_TTL_MS cache; absent or empty: PEERS, else no peers
   */
  PEERS_PARAMETER: z.preprocess((x) => (x === "" ? undefined : x), z.string().optional()),
  /** the same JSON inline (tests, a stack from before PEERS_PARAMETER); absent or empty: none */
  PEERS: z.string().optional(),
  /** the job-output bucket ECS MOMs upload to: the API serves output from it; absent: 501 */
  OUTPUT_BUCKET: z.preprocess((x) => (x === "" ? undefined : x), z.string().optional()),
  /** SSM SecureString holding the site's MOM secret; absent or empty: none */
  MOM_SECRET_PARAMETER: z.preprocess((x) => (x === "" ? undefined : x), z.string().optional()),
  /**
   * the site's node pools' power policies (issue 12), JSON [{name, idleOff, bootTimeout,
   * startsPerMinute}] in seconds as in the configuration; absent or empty: no pools
   */
  NODE_POOLS: jsonVar([], NodePoolPoliciesSchema),
  /**
   * SSM parameter holding the pools' policies and the ECS pools with their nodes
   * (lambdas/node-pools-env.ts); set, it replaces NODE_POOLS and ECS_NODE_POOLS
   */
  NODE_POOLS_PARAMETER: z.preprocess((x) => (x === "" ? undefined : x), z.string().optional()),
  /**
   * the queues whose Lambda pollers an idle site pauses (shared/server/dormancy.ts), JSON
   * [arn, ...]; absent or empty with no TICK_RULE: the site never sleeps (a stack from before)
   */
  INTAKE_QUEUE_ARNS: jsonVar([], z.array(z.string().min(1))),
  /** the tick's EventBridge rule, paused with them (kept while the site has peers) */
  TICK_RULE: z.preprocess((x) => (x === "" ? undefined : x), z.string().optional()),
  /** idle seconds before the site sleeps (0: never) */
  INTAKE_SLEEP_AFTER_SECONDS: z.coerce
    .number()
    .int()
    .nonnegative()
    .default(DEFAULT_SETTINGS.intakeSleepAfterMs / 1000),
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
  const settings = {
    ...DEFAULT_SETTINGS,
    killDelay: e.KILL_DELAY,
    momStaleMs: e.MOM_STALE_SECONDS * 1000,
    dispatchGraceMs: 300_000,
    acctKeepDays: e.ACCOUNTING_KEEP_DAYS,
    scriptLeaseMarginDays: e.SCRIPT_LEASE_MARGIN_DAYS,
    maxRunRefusals: e.MAX_RUN_REFUSALS,
    intakeSleepAfterMs: e.INTAKE_SLEEP_AFTER_SECONDS * 1000,
  };
  cached = {
    site: { server: e.SITE_SERVER, short: e.SITE_SHORT },
    // finished jobs, audit and accounting carry their TTL, and reads leave out what has
    // expired but is not deleted yet (DynamoDB deletes within days)
    store: withHistory(new DynamoSiteStore(doc, e.TABLE_NAME), { clock: systemClock, settings }),
    // a peer's inbox in another region gets a client signed for that region
    bus: new SqsBus(
      makeSqsClient({ region: e.AWS_REGION }),
      (region) => makeSqsClient({ region }),
      e.AWS_REGION,
    ),
    queueUrls: { sched: e.SCHED_QUEUE_URL, events: e.EVENTS_QUEUE_URL },
    executor,
    clock: systemClock,
    // one per container, as the context: resends, offers and heartbeats are paced per process
    pacing: new PeerPacing(),
    settings,
    log: siteLog(logger),
    metrics,
    // API Gateway's JWT authorizer verified the token; the claims name the PBS user
    authenticate: claimsAuthenticator(),
    output: e.OUTPUT_BUCKET
      ? s3OutputReader(new S3Client({ region: e.AWS_REGION, maxAttempts: 3 }), e.OUTPUT_BUCKET)
      : undefined,
    // the MOM channel renews runs' output grants (presigned PUT URLs: no request is made)
    outputGrants: e.OUTPUT_BUCKET
      ? new S3OutputGranter(e.OUTPUT_BUCKET, { region: e.AWS_REGION })
      : undefined,
    // node pools (issue 12): the scheduler powers their nodes on and off, a hello brings one up
    pools: poolMap(loadedNodePools(env)?.policies ?? e.NODE_POOLS),
  };
  if (e.INTAKE_QUEUE_ARNS.length || e.TICK_RULE) {
    const ctx = cached;
    // an idle site pauses its queues' pollers and its tick (issue 14: idle costs nothing)
    ctx.intake = new AwsIntake({
      lambda: new LambdaClient({ region: e.AWS_REGION, maxAttempts: 3 }),
      events: new EventBridgeClient({ region: e.AWS_REGION, maxAttempts: 3 }),
      queueArns: e.INTAKE_QUEUE_ARNS,
      tickRule: e.TICK_RULE,
      // peers are read after the context is built, and again when their parameter changes
      keepTick: () => (ctx.peers?.size ?? 0) > 0,
    });
  }
  return cached;
}

function poolMap(policies: NodePoolPolicy[]): SiteContext["pools"] {
  return new Map(
    policies.map((p) => [
      p.name,
      {
        name: p.name,
        idleOffMs: p.idleOff * 1000,
        bootTimeoutMs: p.bootTimeout * 1000,
        startsPerMinute: p.startsPerMinute,
      },
    ]),
  );
}

/** the pools' document the context's pools were built from (a refresh that changed it rebuilds them) */
let poolsFrom: NodePoolsDoc | undefined;

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
  // the pools' parameter before anything reads the pools (the context, the executor)
  await loadNodePools(env);
  const ctx = contextFromEnv(executor, env);
  const pools = loadedNodePools(env);
  if (pools && pools !== poolsFrom) {
    ctx.pools = poolMap(pools.policies);
    poolsFrom = pools;
  }
  ctx.momSecret ??= await momSecretFromEnv(env);
  peersEnv ??= readEnv(WHO, LambdaEnvSchema, env);
  const e = peersEnv;
  // the peers' parameter again once its cache has expired: a changed peering applies without a
  // deploy. A failed refresh keeps the peers known (and is tried again at the next invocation);
  // only a container that never read them fails.
  if (peersLoaded && e.PEERS_PARAMETER && Date.now() - peersLoadedAt >= PEERS_TTL_MS) {
    await loadPeersInto(ctx, e).catch((err) =>
      ctx.log.warn(`peers: could not refresh ${e.PEERS_PARAMETER}: ${(err as Error).message}`),
    );
  }
  peersLoaded ??= loadPeersInto(ctx, e).catch((err) => {
    peersLoaded = undefined; // try again on the next invocation
    throw err;
  });
  await peersLoaded;
  return ctx;
}

let peersLoadedAt = 0;
let peersEnv: LambdaEnv | undefined;
let ssmClient: SSMClient | undefined;
let peerParameters: ParameterCache | undefined;

/** Read the peers (PEERS_PARAMETER, else PEERS) and their pair secrets into ctx.peers. */
async function loadPeersInto(ctx: SiteContext, e: LambdaEnv): Promise<void> {
  peersLoadedAt = Date.now();
  ssmClient ??= new SSMClient({ region: e.AWS_REGION });
  peerParameters ??= new ParameterCache(ssmClient, PEERS_TTL_MS);
  const text = e.PEERS_PARAMETER ? await peerParameters.get(e.PEERS_PARAMETER) : e.PEERS;
  const defs = parsePeersEnv(text);
  ctx.peers = defs.length ? await loadPeers(defs, ssmSecrets(ssmClient)) : undefined;
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
