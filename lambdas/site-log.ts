/**
 * The site context's log (`SiteContext.log`, called as console.* is) on the container's
 * Powertools logger. Whatever follows the message goes along: an error as `error` (Powertools
 * prints its name, message, stack and cause), anything else as `detail`. A 500 tells the client
 * only its request ID (shared/api/routes.ts), so the stack logged under that ID is all an
 * operator has to go on.
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { SiteContext } from "../shared/server/context.js";

type Level = "info" | "warn" | "error" | "debug";

export function siteLog(logger: Pick<Logger, Level>): SiteContext["log"] {
  const emit =
    (level: Level) =>
    (m?: unknown, ...more: unknown[]) => {
      const parts = m instanceof Error ? [m, ...more] : more;
      const errors = parts.filter((x) => x instanceof Error);
      const others = parts.filter((x) => !(x instanceof Error) && x !== undefined);
      const attrs = {
        ...(errors.length && { error: errors.length === 1 ? errors[0] : errors }),
        ...(others.length && { detail: others.length === 1 ? others[0] : others }),
      };
      const text = m instanceof Error ? m.message : String(m);
      if (Object.keys(attrs).length) logger[level](text, attrs);
      else logger[level](text);
    };
  return { info: emit("info"), warn: emit("warn"), error: emit("error"), debug: emit("debug") };
}
