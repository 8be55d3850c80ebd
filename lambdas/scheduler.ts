/** Lambda entry: scheduler cycles, fed by the site's FIFO queue (group = partition). */
import type { SQSEvent } from "aws-lambda";
import { contextFromEnv, unconfiguredExecutor } from "./env.js";
import { makeSchedulerHandler } from "./handlers.js";

export const handler = (event: SQSEvent) => makeSchedulerHandler(contextFromEnv(unconfiguredExecutor))(event);
