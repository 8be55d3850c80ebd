/** Lambda entry: the periodic tick (EventBridge schedule): silent MOMs, then a cycle per partition. */
import { siteContext, instrumented, unconfiguredExecutor } from "./env.js";
import { makeSweeperHandler } from "./handlers.js";

export const handler = instrumented(async () =>
  makeSweeperHandler(await siteContext(unconfiguredExecutor))(),
);
