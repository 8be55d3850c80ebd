/** Lambda entry: the periodic tick (EventBridge schedule): silent MOMs, then a cycle per partition. */
import { lazyExecutorFromEnv } from "./ecs-env.js";
import { siteContext } from "./env.js";
import { siteHandler } from "./middleware.js";
import { makeSweeperHandler } from "./handlers.js";

// stopLost: a lost run's ECS task is stopped before its job is requeued
const executor = lazyExecutorFromEnv();

export const handler = siteHandler(async () => makeSweeperHandler(await siteContext(executor))());
