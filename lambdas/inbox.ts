/** Lambda entry: the peer inbox (signed messages from the configured peer sites). */
import type { SQSEvent } from "aws-lambda";
import { lazyExecutorFromEnv } from "./ecs-env.js";
import { siteContext } from "./env.js";
import { siteHandler } from "./middleware.js";
import { makeInboxHandler } from "./handlers.js";

// a peer's qdel of a job moved here stops its ECS task
const executor = lazyExecutorFromEnv();

export const handler = siteHandler(async (event: SQSEvent) =>
  makeInboxHandler(await siteContext(executor))(event),
);
