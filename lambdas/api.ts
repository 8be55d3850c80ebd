/** Lambda entry: the HTTP API. */
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { lazyExecutorFromEnv } from "./ecs-env.js";
import { siteContext, instrumented } from "./env.js";
import { makeApiHandler } from "./handlers.js";

// qdel and qrerun stop the job's ECS task
const executor = lazyExecutorFromEnv();

export const handler = instrumented(async (event: APIGatewayProxyEventV2) =>
  makeApiHandler(await siteContext(executor))(event),
);
