/**
 * Routes of qrun, qorder and qsig (apart from routes.ts, which keeps the long-standing job
 * operations): each parses its body, calls the domain, and goes through the same audit guard.
 *
 *   POST /v1/jobs/{id}/run     { host? }          qrun [-H host]
 *   POST /v1/jobs/{id}/signal  { signal }         qsig [-s signal]
 *   POST /v1/jobs/{id}/order   { with }           qorder id with
 */
import type { APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { z } from "zod";
import { runJobNow } from "../scheduler/run-now.js";
import type { SiteContext } from "../server/context.js";
import type { Actor } from "../server/ops.js";
import { orderJobs } from "../server/order.js";
import { signalJob } from "../server/signal.js";

type Result = APIGatewayProxyStructuredResultV2;

export const RunSchema = z.object({ host: z.string().min(1).max(255).optional() }).strict();
export const SignalSchema = z.object({ signal: z.string().min(1).max(32) }).strict();
export const OrderSchema = z.object({ with: z.string().min(1).max(256) }).strict();

/** What routes.ts lends: the parsed request, the actor, and its guard (audit, ID naming). */
export interface CommandRequest {
  method: string;
  action: string | undefined;
  jid: string;
  actor: Actor;
  body: <T extends z.ZodTypeAny>(schema: T) => z.infer<T>;
  /** a user-given job ID as this server's full ID */
  fullId: (id: string) => string;
  /** `ownerOf`: the job's owner as the op read it, so a privileged action's audit reads nothing more */
  guarded: <T>(
    action: string,
    op: () => Promise<T>,
    alwaysPrivileged?: boolean,
    ownerOf?: (out: T) => string | undefined,
  ) => Promise<T>;
}

export const COMMAND_ACTIONS = ["run", "signal", "order"] as const;

export async function commandRoute(
  ctx: SiteContext,
  r: CommandRequest,
  json: (status: number, body: unknown) => Result,
): Promise<Result | undefined> {
  if (r.method !== "POST") return undefined;
  if (r.action === "run") {
    const { host } = r.body(RunSchema);
    await r.guarded("qrun", () => runJobNow(ctx, r.jid, r.actor, host), true);
    return json(200, { jobId: r.jid });
  }
  if (r.action === "signal") {
    const { signal } = r.body(SignalSchema);
    await r.guarded(
      "qsig",
      () => signalJob(ctx, r.jid, r.actor, signal),
      false,
      (j) => j.user,
    );
    return json(200, { jobId: r.jid });
  }
  if (r.action === "order") {
    const other = r.fullId(r.body(OrderSchema).with);
    await r.guarded("qorder", () => orderJobs(ctx, r.jid, other, r.actor));
    return json(200, { jobId: r.jid, with: other });
  }
  return undefined;
}
