/** Lambda entry: the HTTP API. */
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { contextFromEnv, unconfiguredExecutor } from "./env.js";
import { makeApiHandler } from "./handlers.js";

export const handler = (event: APIGatewayProxyEventV2) =>
  makeApiHandler(contextFromEnv(unconfiguredExecutor))(event);
