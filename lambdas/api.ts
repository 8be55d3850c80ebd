/** Lambda entry: the HTTP API. */
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { lazyExecutorFromEnv } from "./ecs-env.js";
import { siteContext } from "./env.js";
import { siteHandler } from "./middleware.js";
import { makeApiHandler } from "./handlers.js";

// qdel and qrerun stop the job's ECS task
const executor = lazyExecutorFromEnv();

export const handler = siteHandler(async (event: APIGatewayProxyEventV2) =>
  makeApiHandler(await siteContext(executor))(event),
);
