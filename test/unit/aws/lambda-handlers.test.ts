/**
 * The Lambda handlers as composed for AWS: Powertools batch in the bodies (partial batch
 * responses; on the scheduler's FIFO queue a failure fails the rest of its message group and
 * nothing else), middy with Powertools' logger and metrics middlewares around them.
 */
import type { Context, SQSRecord } from "aws-lambda";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import { afterEach, describe, expect, it, vi } from "vitest";
import { makeEventsHandler, makeSchedulerHandler } from "../../../lambdas/handlers.js";
import { logger, metrics, siteHandler } from "../../../lambdas/middleware.js";
import type { MemoryMetrics } from "../../../shared/observability/metrics.js";
import { memorySite } from "../../fixtures/memory-site.js";

const rec = (messageId: string, body: string, group?: string) =>
  ({ messageId, body, ...(group ? { attributes: { MessageGroupId: group } } : {}) }) as SQSRecord;
const trigger = (partition: string) => JSON.stringify({ type: "cycle", partition, reason: "test" });
const failed = (r: { batchItemFailures: { itemIdentifier: string }[] }) =>
  r.batchItemFailures.map((f) => f.itemIdentifier).sort();

describe("scheduler batch (FIFO)", () => {
  it("a failed record fails the later records of its group only; one cycle per partition", async () => {
    const s = await memorySite();
    const m = s.ctx.metrics as MemoryMetrics;
    const handler = makeSchedulerHandler(s.ctx);
    const r = await handler({
      Records: [
        rec("a1", "{not json", "pa"),
        rec("b1", trigger("pb"), "pb"),
        rec("a2", trigger("pa"), "pa"),
        rec("b2", trigger("pb"), "pb"),
      ],
    });
    // a2 is well-formed but comes after a1 in the same group: answering it would reorder
    expect(failed(r)).toEqual(["a1", "a2"]);
    expect(Object.keys(m.totals)).toContain("CycleDuration|partition=pb");
    expect(Object.keys(m.totals)).not.toContain("CycleDuration|partition=pa");
  });
});

describe("events batch", () => {
  it("a record that fails is reported alone; the others are done", async () => {
    const s = await memorySite();
    const handler = makeEventsHandler(s.ctx);
    const r = await handler({
      Records: [rec("bad", "{not json"), rec("ok", JSON.stringify({ type: "ended", jobKey: "0" }))],
    });
    expect(failed(r)).toEqual(["bad"]);
  });

  it("a batch that fails whole is reported record by record, not thrown", async () => {
    const s = await memorySite();
    const handler = makeEventsHandler(s.ctx);
    const r = await handler({ Records: [rec("x", "nope"), rec("y", "{")] });
    expect(failed(r)).toEqual(["x", "y"]);
  });
});

describe("middy entry", () => {
  afterEach(() => vi.restoreAllMocks());
  const context = {
    functionName: "metaqueue-casper-scheduler",
    functionVersion: "1",
    invokedFunctionArn: "arn:aws:lambda:us-east-1:111111111111:function:x",
    memoryLimitInMB: "1024",
    awsRequestId: "req-42",
    getRemainingTimeInMillis: () => 10_000,
  } as unknown as Context;

  it("flushes the invocation's metrics even when the body throws, and logs with the request ID", async () => {
    const out: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
      out.push(String(chunk));
      return true;
    });
    const lines: string[] = [];
    vi.spyOn(console, "info").mockImplementation((...a) => void lines.push(a.join(" ")));
    vi.spyOn(console, "log").mockImplementation((...a) => void lines.push(a.join(" ")));
    const handler = siteHandler(async (_event: unknown) => {
      metrics.addMetric("Probe", MetricUnit.Count, 1);
      logger.info("inside");
      throw new Error("boom");
    });
    await expect(handler({}, context)).rejects.toThrow("boom");
    expect(metrics.hasStoredMetrics()).toBe(false);
    const all = [...out, ...lines].join("\n");
    expect(all).toContain('"Probe"');
    expect(all).toMatch(
      /"function_request_id":"req-42"[^\n]*"message":"inside"|"message":"inside"[^\n]*"function_request_id":"req-42"/,
    );
  });
});
