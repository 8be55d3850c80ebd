/** Lambda entry: scheduler cycles, fed by the site's FIFO queue (group = partition). */
import type { SQSEvent } from "aws-lambda";
import { lazyExecutorFromEnv } from "./ecs-env.js";
import { contextFromEnv } from "./env.js";
import { makeSchedulerHandler } from "./handlers.js";

// dispatch = ECS RunTask of the site's MOM task definition
const executor = lazyExecutorFromEnv();

export const handler = (event: SQSEvent) => makeSchedulerHandler(contextFromEnv(executor))(event);
