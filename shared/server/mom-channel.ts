/**
 * The server's side of the MOM push channel (shared/ports/channel.ts): what the gateway's three
 * routes do. One code for both deployments: on AWS each route is a Lambda behind the WebSocket
 * API (lambdas/mom-channel.ts); locally infra/local/mom-gateway.ts calls these functions
 * in-process for each connect, frame and close, as the local runtime calls every handler.
 *
 * Why dispatch means "delivered to the MOM's connection" (and nothing more), in both modes:
 * on AWS the Lambda that pushes a run cannot receive the MOM's answer (it arrives at the
 * `$default` route, in another invocation), and waiting for it through the table would be a
 * poll per dispatch. So `Executor.dispatch` resolves once the gateway took the message for the
 * MOM's live connection (PostToConnection succeeded), and rejects when the MOM has none (no
 * record, or 410 Gone). A MOM that refuses a run it was pushed answers on its connection with a
 * signed obituary carrying its reason (`refused`, shared/exec/refusal.ts); `$default` forwards
 * it to the events queue, where the obituary handler requeues that run once (by its runCount: a
 * redelivery finds it settled), and holds the job after too many refusals. A kill or signal of
 * a run the MOM does not hold is answered the same way with a signed `norun`, which the server
 * records on the job (shared/server/mom-norun.ts). The local gateway posts the same way and
 * answers nothing more, so every integration test runs the AWS path.
 */
import { countMomRefusal } from "../observability/metrics.js";
import { MomReportError, type MomRefusal, verifyReport } from "../auth/mom-report.js";
import { MOM_CONNECT_HEADER, type MomSays } from "../ports/channel.js";
import type { SiteContext } from "./context.js";
import { momGrant } from "./output-grant.js";

export { MOM_CONNECT_HEADER };

/** Refused connects and channel reports of this process by reason (tests; metrics on AWS). */
export const refusedMomConnects: Record<string, number> = {};

type ChannelCtx = Pick<
  SiteContext,
  | "store"
  | "bus"
  | "queueUrls"
  | "momSecret"
  | "clock"
  | "settings"
  | "metrics"
  | "log"
  | "site"
  | "outputGrants"
>;

export type ConnectResult = { ok: true; momId: string } | { ok: false; reason: MomRefusal; message: string };

function refuse(ctx: ChannelCtx, reason: MomRefusal, message: string, what: "connect" | "report") {
  refusedMomConnects[`${what}:${reason}`] = (refusedMomConnects[`${what}:${reason}`] ?? 0) + 1;
  countMomRefusal(ctx.metrics, what === "connect" ? "MomConnectsRefused" : "MomReportsRefused", reason, {
    via: "channel",
  });
  ctx.log.warn(`mom channel: refused ${what} (${reason}): ${message}`);
}

/**
 * `$connect`: the MOM proves who it is with a signed `connect` envelope (its key is
 * HMAC(site secret, momId), as for every report); a forged or stale one is refused and counted,
 * and the gateway refuses the connection. Accepted, the connection is recorded as the MOM's
 * (a conditional write: a later connect of the same MOM wins, an older one is refused as
 * replayed), so pushes to that MOM go there.
 */
export async function momConnect(
  ctx: ChannelCtx,
  connectionId: string,
  header: string | undefined,
): Promise<ConnectResult> {
  try {
    if (!ctx.momSecret) throw new MomReportError("forged", "this site has no MOM secret");
    if (!header) throw new MomReportError("forged", "no signed connect");
    let raw: unknown;
    try {
      raw = JSON.parse(Buffer.from(header, "base64url").toString("utf8"));
    } catch (err) {
      throw new MomReportError("forged", "connect header is not JSON", { cause: err });
    }
    const env = verifyReport(ctx.momSecret, raw, ctx.clock.now(), ctx.settings.momReportWindowMs, "connect");
    const ok = await ctx.store.putMomConnection({ momId: env.momId, connectionId, at: env.sentAt });
    if (!ok) throw new MomReportError("replayed", `connect of ${env.momId} is older than its recorded one`);
    return { ok: true, momId: env.momId };
  } catch (err) {
    if (!(err instanceof MomReportError)) throw err;
    refuse(ctx, err.reason, err.message, "connect");
    return { ok: false, reason: err.reason, message: err.message };
  }
}

/**
 * `$default`: a frame from a MOM. A signed report is checked (so a forger's frames cost the
 * events queue nothing) and forwarded to the events queue, where the server acts on MOM reports;
 * anything else is refused and counted. Never throws for a bad frame: the gateway would only
 * answer the MOM with an error it cannot act on. A `grant` request (output upload URLs for a run
 * the MOM holds: shared/server/output-grant.ts) is answered: the returned text goes back on the
 * connection (the route's response: $default is a two-way route).
 */
export async function momMessage(
  ctx: ChannelCtx,
  connectionId: string,
  body: string,
): Promise<string | undefined> {
  let msg: MomSays;
  try {
    msg = JSON.parse(body) as MomSays;
  } catch {
    refuse(ctx, "forged", `frame on ${connectionId} is not JSON`, "report");
    return;
  }
  if (msg?.type === "grant") return JSON.stringify(await momGrant(ctx, msg.report));
  if (msg?.type !== "report") {
    refuse(ctx, "forged", `frame on ${connectionId} is not a report`, "report");
    return;
  }
  try {
    if (!ctx.momSecret) throw new MomReportError("forged", "this site has no MOM secret");
    const env = verifyReport(ctx.momSecret, msg.report, ctx.clock.now(), ctx.settings.momReportWindowMs);
    if (env.kind !== "obit" && env.kind !== "norun")
      throw new MomReportError("forged", `a ${env.kind} report on the channel`);
    await ctx.bus.send(
      ctx.queueUrls.events,
      [{ body: JSON.stringify({ type: "mom", ...env }) }],
      "MOM report",
    );
  } catch (err) {
    if (!(err instanceof MomReportError)) throw err;
    refuse(ctx, err.reason, err.message, "report");
  }
}

/**
 * `$disconnect`: forget the connection, if it is still the one its MOM holds (a MOM that
 * reconnected already replaced it). Best effort by design: API Gateway does not promise a
 * `$disconnect` for every close, so a push to a connection gone unannounced gets 410 Gone, and
 * the pusher drops the record then (shared/adapters/channel/push.ts).
 */
export async function momDisconnect(ctx: ChannelCtx, connectionId: string): Promise<void> {
  const momId = await ctx.store.momOfConnection(connectionId);
  if (momId) await ctx.store.dropMomConnection(momId, connectionId);
}
