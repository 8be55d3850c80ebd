/** Lambda entry: scheduler cycles, fed by the site's FIFO queue (group = partition). */
import type { SQSEvent } from "aws-lambda";
import { lazyExecutorFromEnv } from "./ecs-env.js";
import { siteContext } from "./env.js";
import { siteHandler } from "./middleware.js";
import { makeSchedulerHandler } from "./handlers.js";

// dispatch = ECS RunTask of the site's MOM task definition
const executor = lazyExecutorFromEnv();

export const handler = siteHandler(async (event: SQSEvent) =>
  makeSchedulerHandler(await siteContext(executor))(event),
);
