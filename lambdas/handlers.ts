/**
 * The handler bodies shared by Lambda entries and the local runtime: SQS batches in, domain
 * calls, partial batch failures out. A failed record is reported (never swallowed) so SQS
 * redelivers it and, after maxReceiveCount, moves it to the DLQ. The batches go through
 * Powertools batch (`processPartialResponse`); the Lambda entries wrap these bodies in middy
 * with the Powertools logger and metrics middlewares (lambdas/middleware.ts).
 */
import { countMomRefusal } from "../shared/observability/metrics.js";
import {
  BatchProcessor,
  EventType,
  processPartialResponse,
  SqsFifoPartialProcessorAsync,
} from "@aws-lambda-powertools/batch";
import type {
  APIGatewayProxyEventV2,
  APIGatewayProxyStructuredResultV2,
  SQSBatchResponse,
  SQSEvent,
  SQSRecord,
} from "aws-lambda";
import { z } from "zod";
import { sampleSite } from "../shared/api/overview.js";
import { handleApi } from "../shared/api/routes.js";
import { handlePeerMessage, rejectedPeerMessages } from "../shared/peers/inbox.js";
import { PeerMessageError } from "../shared/peers/messages.js";
import { MomReportError, nodeOfMomId, verifyReport } from "../shared/auth/mom-report.js";
import { runAccumulatedCycle } from "../shared/scheduler/accumulation.js";
import { releaseCascade } from "../shared/server/cascade.js";
import { siteTick } from "../shared/server/tick.js";
import { settleIntake } from "../shared/server/dormancy.js";
import { MOM_CONNECT_HEADER, momConnect, momDisconnect, momMessage } from "../shared/server/mom-channel.js";
import type { SiteContext } from "../shared/server/context.js";
import { triggerCycles } from "../shared/server/messages.js";
import { type EndResult, handleObituary, momHello } from "../shared/server/job-end.js";
import { handleNoRun } from "../shared/server/mom-norun.js";
import { faultFromEnv } from "./fault.js";

const ResourcesUsedSchema = z.object({
  walltime: z.number(),
  cput: z.number(),
  mem: z.number(),
  ncpus: z.number(),
});
const ObitBodySchema = z.object({
  type: z.literal("obit"),
  jobId: z.string().max(128),
  runCount: z.number().int(),
  momId: z.string().max(256),
  exitStatus: z.number().int(),
  startedAt: z.number(),
  endedAt: z.number(),
  resourcesUsed: ResourcesUsedSchema,
  comment: z.string().max(4096).optional(),
  killedFor: z.enum(["qdel", "walltime", "shutdown", "rerun"]).optional(),
  refused: z.enum(["user", "closing", "spec"]).optional(),
  delivered: z.object({ o: z.string().max(4096).optional(), e: z.string().max(4096).optional() }).optional(),
  stageinFailed: z.boolean().optional(),
});
const RunRefSchema = z.object({ jobId: z.string().max(128), runCount: z.number().int() });
const HelloBodySchema = z.object({
  type: z.literal("hello"),
  momId: z.string().max(256),
  node: z.string().max(256),
  /** runs of earlier MOMs of this node this MOM adopted (still running) */
  running: z.array(RunRefSchema).max(10_000).optional(),
  /** runs of earlier MOMs that ended, reported by this MOM (obituaries sent) */
  ended: z.array(RunRefSchema).max(10_000).optional(),
});
/** A MOM's answer to a kill or signal of a run it does not hold (shared/server/mom-norun.ts). */
const NoRunBodySchema = z.object({
  type: z.literal("norun"),
  jobId: z.string().max(128),
  runCount: z.number().int(),
  momId: z.string().max(256),
  asked: z.string().regex(/^(kill|SIG[A-Z0-9+-]{1,16})$/) as z.ZodType<"kill" | NodeJS.Signals>,
  askedAt: z.number().optional(),
});
/** A MOM's report: obituary, hello and norun only travel signed (shared/auth/mom-report.ts). */
const MomEnvelopeSchema = z.object({
  type: z.literal("mom"),
  v: z.number(),
  kind: z.enum(["obit", "hello", "norun"]),
  momId: z.string().max(256),
  sentAt: z.number(),
  nonce: z.string().max(64),
  body: z.unknown(),
  sig: z.string().max(128),
});
export const SiteEventSchema = z.discriminatedUnion("type", [
  MomEnvelopeSchema,
  z.object({ type: z.literal("ended"), jobKey: z.string().max(128) }),
  z.object({ type: z.literal("started"), jobKey: z.string().max(128) }),
]);
const CycleTriggerSchema = z.object({
  type: z.literal("cycle"),
  partition: z.string().max(128),
  reason: z.string().max(64),
  offer: z.literal(true).optional(),
});

/**
 * An SQS batch whose records each end in job changes: handle the records concurrently (they are
 * about different jobs, or idempotent about the same one), follow dependency releases, then ask
 * the partitions that changed for a cycle. Each record fails alone, so SQS redelivers only what
 * did not finish. `handle` may return "drop" for a record that must never be retried.
 */
async function processBatch(
  ctx: SiteContext,
  event: SQSEvent,
  name: string,
  handle: (body: string, messageId: string) => Promise<EndResult | "drop">,
): Promise<SQSBatchResponse> {
  const touched = new Set<string>();
  const offer = new Set<string>();
  // records in parallel; a record that throws is reported failed, the others are not
  const response = await processPartialResponse(
    event,
    async (r: SQSRecord) => {
      try {
        const res = await handle(r.body, r.messageId);
        if (res === "drop") return;
        for (const p of res.partitions) touched.add(p);
        for (const p of res.offer ?? []) offer.add(p);
        await releaseCascade(ctx, res.ended, touched);
      } catch (err) {
        ctx.log.error(`${name}: message ${r.messageId} failed: ${(err as Error).message}`);
        throw err;
      }
    },
    new BatchProcessor(EventType.SQS),
    // a batch that failed whole is reported record by record too: same outcome (all redelivered)
    // without an invocation error, as the local poller and the Lambda event source both read it
    { throwOnFullBatchFailure: false },
  );
  if (touched.size) {
    try {
      await triggerCycles(ctx, touched, name, offer);
    } catch (err) {
      // Without the trigger the tick still runs a cycle; report nothing as failed for that.
      ctx.log.warn(`${name}: could not trigger cycles: ${(err as Error).message}`);
    }
  }
  return response;
}

export function makeEventsHandler(ctx: SiteContext) {
  const fault = faultFromEnv(); // tests only (lambdas/fault.ts); undefined unless METAQUEUE_FAULT is set
  return (event: SQSEvent): Promise<SQSBatchResponse> =>
    processBatch(ctx, event, "events", async (body) => {
      const json = JSON.parse(body);
      try {
        // an obituary or hello outside a signed envelope is what a forger sends (a deployment
        // without a MOM secret still takes them, unauthenticated, as before: see README)
        if (json?.type === "obit" || json?.type === "hello" || json?.type === "norun") {
          if (ctx.momSecret) throw new MomReportError("forged", `unsigned ${json.type} report`);
          return await unsignedReport(ctx, json);
        }
        const parsed = SiteEventSchema.safeParse(json);
        if (!parsed.success) throw new Error(`malformed event: ${parsed.error.issues[0]?.message}`);
        const msg = parsed.data;
        if (msg.type === "mom") {
          const r = await momReport(ctx, msg);
          // the end is written; its dependents are released by processBatch after this returns
          if (fault && msg.kind === "obit" && r.ended.length) await fault.afterEnd();
          return r;
        }
        return { partitions: [], ended: [msg.jobKey] };
      } catch (err) {
        if (!(err instanceof MomReportError)) throw err;
        // Not from the MOM it names, or not about its own work: never act on it, never retry it.
        refusedMomReports[err.reason] = (refusedMomReports[err.reason] ?? 0) + 1;
        countMomRefusal(ctx.metrics, "MomReportsRefused", err.reason);
        ctx.log.warn(`events: refused MOM report (${err.reason}): ${err.message}`);
        return "drop";
      }
    });
}

/** Refused MOM reports of this process by reason (tests; MomReportsRefused metric on AWS). */
export const refusedMomReports: Record<string, number> = {};

async function unsignedReport(ctx: SiteContext, json: unknown): Promise<EndResult> {
  const o = ObitBodySchema.safeParse(json);
  if (o.success) return handleObituary(ctx, o.data);
  const n = NoRunBodySchema.safeParse(json);
  if (n.success) return handleNoRun(ctx, n.data);
  const h = HelloBodySchema.parse(json);
  return momHello(ctx, h.momId, h.node, ctx.clock.now(), { running: h.running ?? [], ended: h.ended ?? [] });
}

/** Verify a signed MOM report and act on it; MomReportError when refused. */
async function momReport(ctx: SiteContext, raw: z.infer<typeof MomEnvelopeSchema>): Promise<EndResult> {
  if (!ctx.momSecret) throw new MomReportError("forged", "this site has no MOM secret");
  const { type: _t, ...fields } = raw;
  const env = verifyReport(ctx.momSecret, fields, ctx.clock.now(), ctx.settings.momReportWindowMs);
  if (env.kind === "obit") {
    const o = ObitBodySchema.safeParse(env.body);
    if (!o.success || o.data.momId !== env.momId)
      throw new MomReportError("forged", `obituary body does not match its envelope from ${env.momId}`);
    return handleObituary(ctx, o.data);
  }
  if (env.kind === "norun") {
    const n = NoRunBodySchema.safeParse(env.body);
    if (!n.success || n.data.momId !== env.momId)
      throw new MomReportError("forged", `norun body does not match its envelope from ${env.momId}`);
    return handleNoRun(ctx, n.data);
  }
  const h = HelloBodySchema.safeParse(env.body);
  if (!h.success || h.data.momId !== env.momId || nodeOfMomId(env.momId) !== h.data.node)
    throw new MomReportError("forged", `hello body does not match its envelope from ${env.momId}`);
  return momHello(ctx, h.data.momId, h.data.node, env.sentAt, {
    running: h.data.running ?? [],
    ended: h.data.ended ?? [],
  });
}

/** A trigger's body as read, or why it could not be (its record fails with that error). */
function readTrigger(body: string): z.infer<typeof CycleTriggerSchema> | Error {
  try {
    return CycleTriggerSchema.parse(JSON.parse(body));
  } catch (err) {
    return err as Error;
  }
}

export function makeSchedulerHandler(ctx: SiteContext) {
  return async (event: SQSEvent): Promise<SQSBatchResponse> => {
    // A batch of triggers for one partition is one cycle: they all asked for "a cycle soon", so
    // the first trigger of a partition runs it and the later ones of the batch are answered.
    // It offers room unpaced if any of them asks (a later one is answered by it too).
    const cycled = new Set<string>();
    // each record read once, before the first cycle, which must know the batch's offers
    const triggers = new Map(event.Records.map((r) => [r.messageId, readTrigger(r.body)]));
    const offer = new Set(
      [...triggers.values()].flatMap((t) => (t instanceof Error || !t.offer ? [] : [t.partition])),
    );
    return processPartialResponse(
      event,
      async (r: SQSRecord) => {
        const t = triggers.get(r.messageId) ?? readTrigger(r.body);
        if (t instanceof Error) {
          ctx.log.error(`scheduler: malformed trigger ${r.messageId}`);
          throw t;
        }
        const p = t.partition;
        if (cycled.has(p)) return;
        try {
          await runAccumulatedCycle(ctx, p, { offerNow: offer.has(p) });
        } catch (err) {
          ctx.log.error(`scheduler: cycle of ${p} failed: ${(err as Error).stack}`);
          throw err;
        }
        cycled.add(p);
      },
      // FIFO: records in order, one at a time; a failure fails every later record of its
      // message group (the partition) in this batch, so none is answered out of order, while
      // other partitions' triggers go on (infra/local/sqs-poller.ts keeps the same rule)
      new SqsFifoPartialProcessorAsync(),
      { skipGroupOnError: true, throwOnFullBatchFailure: false },
    );
  };
}

/**
 * The periodic tick: check running jobs against their MOMs, re-send unanswered transfer steps,
 * repair half-finished job ends (at a slower cadence), then ask every partition for a cycle.
 */
export function makeSweeperHandler(ctx: SiteContext) {
  // resolves with whether the site had work: EventBridge ignores it, the local runtime paces its
  // tick by it
  return async (): Promise<{ hasWork: boolean }> => {
    const checkedAt = ctx.clock.now();
    const { touched, hasWork } = await siteTick(ctx);
    await triggerCycles(ctx, touched, "tick");
    // an idle site pauses its intake (queue pollers, and on AWS this tick) after a while
    await settleIntake(ctx, hasWork, checkedAt).catch((err) =>
      ctx.log.warn(`sweeper: intake: ${(err as Error).message}`),
    );
    // the dashboard's charts: this minute's job counts (a write only when they change)
    await sampleSite(ctx).catch((err) => ctx.log.warn(`sweeper: stats sample: ${(err as Error).message}`));
    return { hasWork };
  };
}

/** The peer inbox: verified messages from other sites. Refused ones are counted and dropped. */
export function makeInboxHandler(ctx: SiteContext) {
  return (event: SQSEvent): Promise<SQSBatchResponse> =>
    processBatch(ctx, event, "inbox", async (body, messageId) => {
      try {
        // the MessageId tells SQS's redelivery of this message (processed) from a replay (refused)
        return await handlePeerMessage(ctx, body, messageId);
      } catch (err) {
        if (!(err instanceof PeerMessageError)) throw err;
        // Not from a peer we trust, not ours to read, stale or replayed: never act on it, never
        // retry it.
        rejectedPeerMessages[err.reason] = (rejectedPeerMessages[err.reason] ?? 0) + 1;
        ctx.metrics?.count("PeerMessagesRejected", 1, { reason: err.reason });
        ctx.log.warn(`inbox: rejected message: ${err.message}`);
        return "drop";
      }
    });
}

export function makeApiHandler(ctx: SiteContext) {
  return (event: APIGatewayProxyEventV2): Promise<APIGatewayProxyStructuredResultV2> => handleApi(ctx, event);
}

/**
 * What API Gateway's WebSocket API hands a route's Lambda (the part the routes read): the
 * route, the connection, the connect's headers, a frame's body.
 */
export interface MomChannelEvent {
  requestContext: { routeKey: string; connectionId: string };
  headers?: Record<string, string | undefined>;
  body?: string;
  isBase64Encoded?: boolean;
}

/**
 * The MOM channel's routes (shared/server/mom-channel.ts). A `$connect` answered other than 200
 * is refused by the gateway: the MOM's WebSocket never opens.
 */
export function makeMomChannelHandler(ctx: SiteContext) {
  return async (event: MomChannelEvent): Promise<{ statusCode: number; body?: string }> => {
    const { routeKey, connectionId } = event.requestContext;
    if (routeKey === "$connect") {
      const h = event.headers ?? {};
      // header names arrive as the client wrote them on AWS, lower-cased locally
      const header =
        h[MOM_CONNECT_HEADER] ?? Object.entries(h).find(([k]) => k.toLowerCase() === MOM_CONNECT_HEADER)?.[1];
      const r = await momConnect(ctx, connectionId, header);
      return r.ok ? { statusCode: 200 } : { statusCode: r.reason === "replayed" ? 409 : 401, body: r.reason };
    }
    if (routeKey === "$disconnect") {
      await momDisconnect(ctx, connectionId);
      return { statusCode: 200 };
    }
    const body = event.isBase64Encoded
      ? Buffer.from(event.body ?? "", "base64").toString("utf8")
      : (event.body ?? "");
    // a grant request's answer goes back on the connection (the two-way $default route)
    const reply = await momMessage(ctx, connectionId, body);
    return reply === undefined ? { statusCode: 200 } : { statusCode: 200, body: reply };
  };
}
