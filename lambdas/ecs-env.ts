/**
 * The executor of a deployed site, from the environment the CDK stack sets on the scheduler
 * and API functions (infra/aws/constructs/mom.ts executorEnvironment). Built at first use, so
 * importing a handler never reads the environment; without ECS_CLUSTER (events, sweeper, a
 * stack without the MOM cluster) it is the executor that refuses with a clear reason.
 */
import { ECSClient } from "@aws-sdk/client-ecs";
import { z } from "zod";
import { makeDynamoClients } from "../shared/adapters/aws-clients.js";
import { DynamoSiteStore } from "../shared/adapters/dynamodb/index.js";
import { EcsExecutor, RatePacer, RUN_TASK_BURST, RUN_TASK_RATE } from "../shared/adapters/executor/ecs.js";
import { ApiGatewayConnections, makeConnectionsClient } from "../shared/adapters/channel/apigw.js";
import { MomPusher } from "../shared/adapters/channel/push.js";
import { pushChannel } from "../shared/adapters/executor/ecs-channel.js";
import { S3OutputGranter } from "../shared/adapters/s3/output-grant.js";
import { EcsNodes, type MomBeatReader } from "../shared/adapters/executor/ecs-nodes.js";
import { type Env, readEnv } from "../shared/config/env.js";
import type { Executor, MomStore } from "../shared/ports/index.js";
import { jsonVar, momSecretFromEnv, unconfiguredExecutor } from "./env.js";
import { EcsNodePoolsSchema } from "../shared/config/node-pools-doc.js";
import { loadedNodePools } from "./node-pools-env.js";

/** An unset or empty variable is absent (CDK writes "" for an optional value it has none of). */
const opt = <T extends z.ZodType>(t: T) => z.preprocess((x) => (x === "" ? undefined : x), t.optional());
const list = opt(z.string()).transform((x) =>
  (x ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean),
);

/**
 * What the ECS executor reads (infra/aws/constructs/mom.ts executorEnvironment). Without
 * ECS_CLUSTER there is no executor and nothing else is needed; with it, the rest must be there.
 */
export const EcsExecutorEnvSchema = z
  .object({
    AWS_REGION: opt(z.string()),
    /**
     * the MOM push channel's management endpoint (infra/aws/constructs/mom-channel.ts
     * grantPush): runs, kills and signals reach pool nodes' MOMs through it
     */
    MOM_CHANNEL_ENDPOINT: opt(z.string().url()),
    ECS_CLUSTER: opt(z.string()),
    /** the job-output bucket: each dispatched run carries presigned PUT URLs for its output there */
    OUTPUT_BUCKET: opt(z.string()),
    ECS_TASK_DEFINITION: opt(z.string()),
    ECS_CONTAINER_NAME: opt(z.string()).transform((x) => x ?? "mom"),
    ECS_SUBNETS: list,
    ECS_SECURITY_GROUPS: list,
    ECS_ASSIGN_PUBLIC_IP: opt(z.string()).transform((x) => x !== "false"),
    /** JSON list of EC2 pools (Ec2Pool), for GPU and large jobs */
    ECS_EC2_POOLS: jsonVar(
      [],
      z.array(
        z
          .object({
            name: z.string().min(1),
            capacityProvider: z.string().min(1),
            taskDefinition: z.string().min(1),
            vcpus: z.number().positive(),
            memoryMiB: z.number().positive(),
            gpus: z.number().int().nonnegative(),
          })
          .strict(),
      ),
    ),
    /**
     * the site's ECS node pools (issue 12), JSON {pools: [EcsNodePool], nodes: [[name, pool,
     * ncpus, memoryMiB, gpus]]} (infra/aws/constructs/mom.ts nodePoolEnvironment)
     */
    ECS_NODE_POOLS: jsonVar({ pools: [], nodes: [] }, EcsNodePoolsSchema),
    /** set: the pools come from this SSM parameter instead (lambdas/node-pools-env.ts) */
    NODE_POOLS_PARAMETER: opt(z.string()),
  })
  .superRefine((e, ctx) => {
    if (!e.ECS_CLUSTER) return;
    for (const k of ["AWS_REGION", "ECS_TASK_DEFINITION", "ECS_SUBNETS"] as const) {
      if (!e[k]?.length) ctx.addIssue({ code: "custom", path: [k], message: "is not set (ECS_CLUSTER is)" });
    }
  });

/** What an executor built from the environment may share with another (lazyExecutorFromEnv). */
export interface EcsExecutorShared {
  pacer?: RatePacer;
  /** the push channel's pusher (it remembers each MOM's connection: one per process) */
  pusher?: MomPusher;
  /** where MOMs' connections are recorded; default the site table (TABLE_NAME) */
  connections?: Pick<MomStore, "getMomConnection" | "dropMomConnection">;
}

export function executorFromEnv(
  env: Env = process.env,
  momSecret?: string,
  pacerOrShared?: RatePacer | EcsExecutorShared,
): Executor {
  const shared: EcsExecutorShared =
    pacerOrShared instanceof RatePacer ? { pacer: pacerOrShared } : (pacerOrShared ?? {});
  const pacer = shared.pacer;
  const e = readEnv("Lambda", EcsExecutorEnvSchema, env);
  if (!e.ECS_CLUSTER || !e.ECS_TASK_DEFINITION || !e.AWS_REGION) return unconfiguredExecutor;
  const ecs = new ECSClient({ region: e.AWS_REGION, maxAttempts: 5 });
  const np = loadedNodePools(env)?.ecs ?? e.ECS_NODE_POOLS;
  const pusher = np.pools.length ? (shared.pusher ?? pusherFromEnv(env, shared.connections)) : undefined;
  const nodes = np.pools.length
    ? new EcsNodes(ecs, {
        cluster: e.ECS_CLUSTER,
        containerName: e.ECS_CONTAINER_NAME,
        subnets: e.ECS_SUBNETS,
        securityGroups: e.ECS_SECURITY_GROUPS,
        assignPublicIp: e.ECS_ASSIGN_PUBLIC_IP,
        pools: np.pools,
        nodes: np.nodes.map(([name, pool, ncpus, memoryMiB, gpus]) => ({
          name,
          pool,
          ncpus,
          memoryMiB,
          gpus,
        })),
        momSecret,
        beats: momBeatsFromEnv(env),
        channel: pusher && pushChannel(pusher),
      })
    : undefined;
  return new EcsExecutor(ecs, {
    cluster: e.ECS_CLUSTER,
    taskDefinition: e.ECS_TASK_DEFINITION,
    containerName: e.ECS_CONTAINER_NAME,
    subnets: e.ECS_SUBNETS,
    securityGroups: e.ECS_SECURITY_GROUPS,
    assignPublicIp: e.ECS_ASSIGN_PUBLIC_IP,
    momSecret,
    ec2Pools: e.ECS_EC2_POOLS,
    nodes,
    pacer,
    outputGrants: e.OUTPUT_BUCKET
      ? new S3OutputGranter(e.OUTPUT_BUCKET, { region: e.AWS_REGION })
      : undefined,
  });
}

/**
 * The push channel to MOMs (issue 12), when the stack deployed it (MOM_CHANNEL_ENDPOINT): the
 * gateway's management API, and the connection records of the site table the `$connect` route
 * writes. Undefined without it: runs on pool nodes are then refused as `later`.
 */
export function pusherFromEnv(
  env: Env,
  connections?: Pick<MomStore, "getMomConnection" | "dropMomConnection">,
): MomPusher | undefined {
  const e = readEnv("Lambda", EcsExecutorEnvSchema, env);
  if (!e.MOM_CHANNEL_ENDPOINT || !e.AWS_REGION) return undefined;
  let store: DynamoSiteStore | undefined;
  const table = () => {
    const { AWS_REGION, TABLE_NAME } = readEnv("Lambda", TableEnvSchema, env);
    store ??= new DynamoSiteStore(makeDynamoClients({ region: AWS_REGION }).doc, TABLE_NAME);
    return store;
  };
  return new MomPusher(
    connections ?? {
      getMomConnection: (momId) => table().getMomConnection(momId),
      dropMomConnection: (momId, connectionId) => table().dropMomConnection(momId, connectionId),
    },
    new ApiGatewayConnections(
      makeConnectionsClient({ region: e.AWS_REGION, endpoint: e.MOM_CHANNEL_ENDPOINT }),
    ),
  );
}

/**
 * What node MOMs' last heartbeats list (powerOff stops only a MOM running nothing): the
 * site table the MOMs beat into, read with the function's own table grant.
 */
function momBeatsFromEnv(env: Env): MomBeatReader {
  let store: DynamoSiteStore | undefined;
  return async (momIds) => {
    const { AWS_REGION, TABLE_NAME } = readEnv("Lambda", TableEnvSchema, env);
    store ??= new DynamoSiteStore(makeDynamoClients({ region: AWS_REGION }).doc, TABLE_NAME);
    return store.getMomBeats(momIds);
  };
}
const TableEnvSchema = z.object({ AWS_REGION: z.string().min(1), TABLE_NAME: z.string().min(1) });

/**
 * The same, built on first call. `momIdFor` needs no secret; `dispatch` and `powerOn` give each
 * task its MOM_KEY, so they use an executor built with the MOM secret (read once): one built
 * for `momIdFor` first (a claim names the MOM before the dispatch) is replaced, never used to
 * start a task without a key. Both share one RunTask pacer.
 */
export function lazyExecutorFromEnv(env: Env = process.env): Executor {
  let ex: Executor | undefined;
  let keyed = false;
  // one pacer and one pusher (with the connections it remembers) for both executors
  const shared: EcsExecutorShared = { pacer: new RatePacer(RUN_TASK_RATE, RUN_TASK_BURST) };
  let pushed = false;
  const sharedOnce = () => {
    if (!pushed) {
      shared.pusher = pusherFromEnv(env);
      pushed = true;
    }
    return shared;
  };
  // the pools' document the executor was built from: a refresh that changed it (a deploy added
  // a node, a task definition's new revision) builds it again (lambdas/node-pools-env.ts)
  let builtFrom: unknown;
  const stale = () => {
    const pools = loadedNodePools(env);
    if (ex && pools !== builtFrom) {
      ex = undefined;
      keyed = false;
    }
    builtFrom = pools;
  };
  const get = () => {
    stale();
    ex ??= executorFromEnv(env, undefined, sharedOnce());
    return ex;
  };
  const withKey = async (): Promise<Executor> => {
    stale();
    if (!keyed || !ex) {
      ex = executorFromEnv(env, await momSecretFromEnv(env), sharedOnce());
      keyed = true;
    }
    return ex;
  };
  return {
    // what the server reads off the executor without calling it (staging refused at submit, a
    // per-run MOM's heartbeat dropped at its obituary): the real executor's, not the lazy shell's
    get refusesStaging() {
      return get().refusesStaging;
    },
    get momPerRun() {
      return get().momPerRun;
    },
    momIdFor: (host, key, runCount, at) => get().momIdFor(host, key, runCount, at),
    dispatch: async (spec) => (await withKey()).dispatch(spec),
    kill: (job, reason) => get().kill(job, reason),
    signal: (job, signal) => get().signal(job, signal),
    powerOn: async (node, at) => {
      const e = await withKey();
      if (!e.powerOn) throw new Error(`node ${node}: this deployment has no ECS node pools`);
      return e.powerOn(node, at);
    },
    powerOff: (node) => get().powerOff?.(node) ?? Promise.resolve(),
    // the sweeper stops a lost run's task (or its node's) before requeueing it (issue 12 point 4):
    // without this the lazy shell had no stopLost, and the sweeper requeued beside a live task
    stopLost: (job, why) => {
      const e = get();
      return e.stopLost ? e.stopLost(job, why) : Promise.resolve();
    },
  };
}
