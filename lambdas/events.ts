/** Lambda entry: MOM reports (obituaries, boots) and dependency releases. */
import type { SQSEvent } from "aws-lambda";
import { contextFromEnv, instrumented, unconfiguredExecutor } from "./env.js";
import { makeEventsHandler } from "./handlers.js";

export const handler = instrumented(async (event: SQSEvent) =>
  makeEventsHandler(contextFromEnv(unconfiguredExecutor))(event),
);
