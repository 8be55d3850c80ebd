/**
 * The executor of a deployed site, from the environment the CDK stack sets on the scheduler
 * and API functions (infra/aws/constructs/mom.ts executorEnvironment). Built at first use, so
 * importing a handler never reads the environment; without ECS_CLUSTER (events, sweeper, a
 * stack without the MOM cluster) it is the executor that refuses with a clear reason.
 */
import { ECSClient } from "@aws-sdk/client-ecs";
import { z } from "zod";
import { EcsExecutor } from "../shared/adapters/executor/ecs.js";
import { type Env, readEnv } from "../shared/config/env.js";
import type { Executor } from "../shared/ports/index.js";
import { momSecretFromEnv, unconfiguredExecutor } from "./env.js";

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
    ECS_CLUSTER: opt(z.string()),
    ECS_TASK_DEFINITION: opt(z.string()),
    ECS_CONTAINER_NAME: opt(z.string()).transform((x) => x ?? "mom"),
    ECS_SUBNETS: list,
    ECS_SECURITY_GROUPS: list,
    ECS_ASSIGN_PUBLIC_IP: opt(z.string()).transform((x) => x !== "false"),
    /** JSON list of EC2 pools (Ec2Pool), for GPU and large jobs */
    ECS_EC2_POOLS: opt(z.string()).pipe(
      z
        .string()
        .optional()
        .transform((x, ctx) => {
          if (!x) return [];
          try {
            return JSON.parse(x) as unknown;
          } catch {
            ctx.addIssue({ code: "custom", message: "is not JSON" });
            return z.NEVER;
          }
        })
        .pipe(
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
    ),
  })
  .superRefine((e, ctx) => {
    if (!e.ECS_CLUSTER) return;
    for (const k of ["AWS_REGION", "ECS_TASK_DEFINITION", "ECS_SUBNETS"] as const) {
      if (!e[k]?.length) ctx.addIssue({ code: "custom", path: [k], message: "is not set (ECS_CLUSTER is)" });
    }
  });

export function executorFromEnv(env: Env = process.env, momSecret?: string): Executor {
  const e = readEnv("Lambda", EcsExecutorEnvSchema, env);
  if (!e.ECS_CLUSTER || !e.ECS_TASK_DEFINITION || !e.AWS_REGION) return unconfiguredExecutor;
  return new EcsExecutor(new ECSClient({ region: e.AWS_REGION, maxAttempts: 5 }), {
    cluster: e.ECS_CLUSTER,
    taskDefinition: e.ECS_TASK_DEFINITION,
    containerName: e.ECS_CONTAINER_NAME,
    subnets: e.ECS_SUBNETS,
    securityGroups: e.ECS_SECURITY_GROUPS,
    assignPublicIp: e.ECS_ASSIGN_PUBLIC_IP,
    momSecret,
    ec2Pools: e.ECS_EC2_POOLS,
  });
}

/** The same, built on first call. */
export function lazyExecutorFromEnv(env: Env = process.env): Executor {
  let ex: Executor | undefined;
  const get = () => {
    ex ??= executorFromEnv(env);
    return ex;
  };
  return {
    momIdFor: (host, key, runCount) => get().momIdFor(host, key, runCount),
    // the task's MOM_KEY needs the MOM secret (read once, at the first dispatch)
    dispatch: async (spec) => {
      if (!ex) ex = executorFromEnv(env, await momSecretFromEnv(env));
      return ex.dispatch(spec);
    },
    kill: (job, reason) => get().kill(job, reason),
    signal: (job, signal) => get().signal(job, signal),
  };
}
