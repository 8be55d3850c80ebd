/**
 * The executor of a deployed site, from the environment the CDK stack sets on the scheduler
 * and API functions (infra/aws/constructs/mom.ts executorEnvironment). Built at first use, so
 * importing a handler never reads the environment; without ECS_CLUSTER (events, sweeper, a
 * stack without the MOM cluster) it is the executor that refuses with a clear reason.
 */
import { ECSClient } from "@aws-sdk/client-ecs";
import { EcsExecutor } from "../shared/adapters/executor/ecs.js";
import type { Executor } from "../shared/ports/index.js";
import { momSecretFromEnv, unconfiguredExecutor } from "./env.js";

export function executorFromEnv(env: NodeJS.ProcessEnv = process.env, momSecret?: string): Executor {
  if (!env.ECS_CLUSTER) return unconfiguredExecutor;
  const need = (name: string): string => {
    const v = env[name];
    if (!v) throw new Error(`bad Lambda environment: ${name} is not set (ECS_CLUSTER is)`);
    return v;
  };
  const list = (v: string | undefined) =>
    (v ?? "")
      .split(",")
      .map((s) => s.trim())
      .filter(Boolean);
  return new EcsExecutor(new ECSClient({ region: need("AWS_REGION"), maxAttempts: 5 }), {
    cluster: need("ECS_CLUSTER"),
    taskDefinition: need("ECS_TASK_DEFINITION"),
    containerName: env.ECS_CONTAINER_NAME || "mom",
    subnets: list(need("ECS_SUBNETS")),
    securityGroups: list(env.ECS_SECURITY_GROUPS),
    assignPublicIp: env.ECS_ASSIGN_PUBLIC_IP !== "false",
    momSecret,
  });
}

/** The same, built on first call. */
export function lazyExecutorFromEnv(env: NodeJS.ProcessEnv = process.env): Executor {
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
  };
}
