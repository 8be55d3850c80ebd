/** Lambda entry: MOM reports (obituaries, boots) and dependency releases. */
import type { SQSEvent } from "aws-lambda";
import { siteContext, instrumented, unconfiguredExecutor } from "./env.js";
import { makeEventsHandler } from "./handlers.js";

export const handler = instrumented(async (event: SQSEvent) =>
  makeEventsHandler(await siteContext(unconfiguredExecutor))(event),
);
