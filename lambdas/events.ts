/** Lambda entry: MOM reports (obituaries, boots) and dependency releases. */
import type { SQSEvent } from "aws-lambda";
import { siteContext, unconfiguredExecutor } from "./env.js";
import { siteHandler } from "./middleware.js";
import { makeEventsHandler } from "./handlers.js";

export const handler = siteHandler(async (event: SQSEvent) =>
  makeEventsHandler(await siteContext(unconfiguredExecutor))(event),
);
