/**
 * A deployed site's node pools, from the SSM parameter NODE_POOLS_PARAMETER names
 * (shared/config/node-pools-doc.ts; written by infra/aws/constructs/node-pools.ts), read once
 * per container before the site context is built (lambdas/env.ts siteContext), as the peers'
 * parameter is. Why not the environment: all of a function's variables hold 4 KB, which capped
 * a site at ~40 pool nodes; the parameter holds 4 KB (standard) or 8 KB (advanced) of runs of
 * node names, thousands of nodes.
 *
 * Read again after NODE_POOLS_TTL_MS, as the peers' parameter is: a deploy that changes the
 * pools (a node added, a task definition's new revision) rewrites the parameter, not the
 * functions' configuration, so warm containers would keep the old pools. A changed document is
 * a new object (an unchanged one stays the same object), which is how the site context and the
 * lazy executor see that they must rebuild (lambdas/env.ts, lambdas/ecs-env.ts).
 *
 * Without NODE_POOLS_PARAMETER the inline NODE_POOLS / ECS_NODE_POOLS variables are read, as
 * before (tests, a stack from before the parameter).
 */
import { SSMClient } from "@aws-sdk/client-ssm";
import { z } from "zod";
import { decodeNodePools, type NodePoolsDoc } from "../shared/config/node-pools-doc.js";
import { type Env, readEnv } from "../shared/config/env.js";
import { EnvError } from "../shared/errors.js";
import { ParameterCache } from "./peers-env.js";

const NodePoolsEnvSchema = z.object({
  AWS_REGION: z.preprocess((x) => (x === "" ? undefined : x), z.string().optional()),
  NODE_POOLS_PARAMETER: z.preprocess((x) => (x === "" ? undefined : x), z.string().optional()),
});

/** Whether this function reads its pools from the parameter. */
export function nodePoolsParameter(env: Env = process.env): string | undefined {
  return readEnv("Lambda", NodePoolsEnvSchema, env).NODE_POOLS_PARAMETER;
}

/** How long a function keeps the pools before reading their parameter again. */
export const NODE_POOLS_TTL_MS = 5 * 60_000;

let loaded: { name: string; text: string; doc: NodePoolsDoc } | undefined;
let cache: ParameterCache | undefined;

/**
 * Read the pools' parameter (through a NODE_POOLS_TTL_MS cache: one GetParameter per container
 * per TTL). A failed refresh keeps the pools already read, and the next call tries again; only
 * a container that never read them fails. Resolves at once without NODE_POOLS_PARAMETER.
 * `ssm` and `now` for tests.
 */
export async function loadNodePools(
  env: Env = process.env,
  opts: { ssm?: SSMClient; now?: () => number } = {},
): Promise<void> {
  const e = readEnv("Lambda", NodePoolsEnvSchema, env);
  const name = e.NODE_POOLS_PARAMETER;
  if (!name) return;
  cache ??= new ParameterCache(
    opts.ssm ?? new SSMClient({ region: e.AWS_REGION }),
    NODE_POOLS_TTL_MS,
    opts.now,
  );
  let text: string;
  try {
    text = await cache.get(name);
  } catch (err) {
    if (loaded?.name === name) return; // keep what was read; the next call tries again
    throw err;
  }
  if (loaded?.name === name && loaded.text === text) return;
  loaded = { name, text, doc: decodeNodePools(text) };
}

/**
 * The pools read by loadNodePools (undefined without NODE_POOLS_PARAMETER: the caller reads
 * the inline variables). Throws when the parameter is set but not read yet: building an
 * executor without its pools would treat pool nodes as nodes it has no MOM for.
 */
export function loadedNodePools(env: Env = process.env): NodePoolsDoc | undefined {
  const name = nodePoolsParameter(env);
  if (!name) return undefined;
  if (loaded?.name !== name)
    throw new EnvError("Lambda", [`NODE_POOLS_PARAMETER ${name} is not read yet (loadNodePools)`]);
  return loaded.doc;
}

/** Forget what was read (tests). */
export function forgetNodePools(): void {
  loaded = undefined;
  cache = undefined;
}
