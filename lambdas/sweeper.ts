/** Lambda entry: the periodic tick (EventBridge schedule): silent MOMs, then a cycle per partition. */
import { siteContext, unconfiguredExecutor } from "./env.js";
import { siteHandler } from "./middleware.js";
import { makeSweeperHandler } from "./handlers.js";

export const handler = siteHandler(async () => makeSweeperHandler(await siteContext(unconfiguredExecutor))());
