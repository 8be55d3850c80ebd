/**
 * Lambda entry: the MOM push channel's WebSocket routes ($connect, $default, $disconnect), one
 * function for the three (shared/server/mom-channel.ts has what each does). The local gateway
 * (infra/local/mom-gateway.ts) calls `makeMomChannelHandler` in-process with the same events.
 */
import { siteContext, unconfiguredExecutor } from "./env.js";
import { siteHandler } from "./middleware.js";
import { makeMomChannelHandler, type MomChannelEvent } from "./handlers.js";

export const handler = siteHandler(async (event: MomChannelEvent) =>
  makeMomChannelHandler(await siteContext(unconfiguredExecutor))(event),
);
