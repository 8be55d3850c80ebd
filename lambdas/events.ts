/** Lambda entry: MOM reports (obituaries, boots) and dependency releases. */
import type { SQSEvent } from "aws-lambda";
import { lazyExecutorFromEnv } from "./ecs-env.js";
import { siteContext } from "./env.js";
import { siteHandler } from "./middleware.js";
import { makeEventsHandler } from "./handlers.js";

// momPerRun: a per-run MOM's heartbeat item goes with its obituary
const executor = lazyExecutorFromEnv();

export const handler = siteHandler(async (event: SQSEvent) =>
  makeEventsHandler(await siteContext(executor))(event),
);
