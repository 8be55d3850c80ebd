import { createHash } from "node:crypto";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ensureQueues,
  isQueueExistsError,
  makeSqsClient,
  type SqsEmulator,
  startSqsEmulator,
} from "../../infra/local/sqs.js";
import { type SqsPoller, startSqsPoller } from "../../infra/local/sqs-poller.js";
import { dlqName } from "../../shared/adapters/sqs/queue-defs.js";
import { queueDepth } from "./helpers.js";

let emu: SqsEmulator;
let sqs: SQSClient;
const pollers: SqsPoller[] = [];

beforeAll(async () => {
  emu = await startSqsEmulator();
  sqs = makeSqsClient(emu.endpoint);
});

afterAll(async () => {
  await Promise.all(pollers.map((p) => p.stop()));
  sqs?.destroy();
  await emu?.stop();
});

function poll(opts: Parameters<typeof startSqsPoller>[0]): SqsPoller {
  const p = startSqsPoller({ onError: () => {}, ...opts });
  pollers.push(p);
  return p;
}

async function waitFor(cond: () => boolean, timeoutMs = 10_000, what = "condition"): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function sendAll(queueUrl: string, bodies: string[], extra: (i: number) => object = () => ({})) {
  for (let i = 0; i < bodies.length; i += 10) {
    const out = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: bodies
          .slice(i, i + 10)
          .map((b, j) => ({ Id: `m${i + j}`, MessageBody: b, ...extra(i + j) })),
      }),
    );
    expect(out.Failed ?? []).toEqual([]);
  }
}

const visibleCount = (queueUrl: string) => queueDepth(sqs, queueUrl);

describe("ensureQueues", () => {
  it("creates DLQ then queue with a RedrivePolicy, and is idempotent (also when attributes changed)", async () => {
    const def = {
      name: "eq-jobs",
      visibilityTimeoutSec: 30,
      dlq: { name: dlqName("eq-jobs"), maxReceiveCount: 3 },
    };
    const urls = await ensureQueues(sqs, [def]);
    expect(Object.keys(urls).sort()).toEqual(["eq-jobs", "eq-jobs-dlq"]);
    expect(await ensureQueues(sqs, [def])).toEqual(urls);

    // a changed attribute makes CreateQueue fail with fauxqs's odd error name; ensureQueues converges
    const err = await sqs
      .send(
        new CreateQueueCommand({
          QueueName: "eq-jobs",
          Attributes: { VisibilityTimeout: "7" },
        }),
      )
      .catch((e: unknown) => e);
    expect(isQueueExistsError(err)).toBe(true);
    expect((err as Error).name).toBe("AWS.SimpleQueueService.QueueNameExists");

    expect(await ensureQueues(sqs, [{ ...def, visibilityTimeoutSec: 7 }])).toEqual(urls);
    const attrs = (
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: urls["eq-jobs"], AttributeNames: ["All"] }))
    ).Attributes!;
    expect(attrs.VisibilityTimeout).toBe("7");
    expect(JSON.parse(attrs.RedrivePolicy!)).toEqual({
      deadLetterTargetArn: "arn:aws:sqs:us-east-1:000000000000:eq-jobs-dlq",
      maxReceiveCount: 3,
    });
  });

  it("creates FIFO queues with FIFO DLQs and content-based dedup, and rejects inconsistent defs", async () => {
    const urls = await ensureQueues(sqs, [
      {
        name: "eq-ev.fifo",
        fifo: true,
        contentBasedDedup: true,
        visibilityTimeoutSec: 5,
        dlq: { name: dlqName("eq-ev.fifo"), maxReceiveCount: 2 },
      },
    ]);
    expect(Object.keys(urls).sort()).toEqual(["eq-ev-dlq.fifo", "eq-ev.fifo"]);
    const attrs = (
      await sqs.send(new GetQueueAttributesCommand({ QueueUrl: urls["eq-ev.fifo"], AttributeNames: ["All"] }))
    ).Attributes!;
    expect(attrs.FifoQueue).toBe("true");
    expect(attrs.ContentBasedDeduplication).toBe("true");
    await expect(
      ensureQueues(sqs, [{ name: "eq-bad", fifo: true, visibilityTimeoutSec: 5 }]),
    ).rejects.toThrow(/\.fifo/);
  });
});

describe("SQS poller (Lambda event-source mapping)", () => {
  it("respects batchSize and the batching window; every message handled once; event shape like Lambda's", async () => {
    const { "p-batch": url } = await ensureQueues(sqs, [{ name: "p-batch", visibilityTimeoutSec: 10 }]);
    await sendAll(
      url,
      Array.from({ length: 25 }, (_, i) => `msg-${i}`),
      (i) => (i === 0 ? { MessageAttributes: { kind: { DataType: "String", StringValue: "first" } } } : {}),
    );
    const sizes: number[] = [];
    const seen: SQSRecord[] = [];
    const p = poll({
      sqs,
      queueUrl: url,
      batchSize: 10,
      maxBatchingWindowMs: 200,
      handler: async (e: SQSEvent) => {
        sizes.push(e.Records.length);
        seen.push(...e.Records);
      },
    });
    await waitFor(() => seen.length >= 25, 10_000, "25 messages");
    await p.stop();
    expect(sizes.every((n) => n >= 1 && n <= 10)).toBe(true);
    expect(sizes.length).toBeGreaterThanOrEqual(3);
    expect(new Set(seen.map((r) => r.body)).size).toBe(25);
    expect(seen).toHaveLength(25);
    expect(await visibleCount(url)).toBe(0);
    expect(p.stats()).toEqual({ invocations: sizes.length, messages: 25, failures: 0 });

    const first = seen.find((r) => r.body === "msg-0")!;
    expect(first).toMatchObject({
      eventSource: "aws:sqs",
      eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:p-batch",
      awsRegion: "us-east-1",
      md5OfBody: createHash("md5").update("msg-0").digest("hex"),
      messageAttributes: {
        kind: { dataType: "String", stringValue: "first", stringListValues: [], binaryListValues: [] },
      },
    });
    expect(first.attributes.ApproximateReceiveCount).toBe("1");
    expect(Number(first.attributes.SentTimestamp)).toBeGreaterThan(0);
  });

  it("batching window gathers messages that arrive after the first one", async () => {
    const { "p-window": url } = await ensureQueues(sqs, [{ name: "p-window", visibilityTimeoutSec: 10 }]);
    const sizes: number[] = [];
    const p = poll({
      sqs,
      queueUrl: url,
      batchSize: 10,
      maxBatchingWindowMs: 600,
      handler: async (e) => {
        sizes.push(e.Records.length);
      },
    });
    await sendAll(url, ["a", "b", "c"]);
    await new Promise((r) => setTimeout(r, 150));
    await sendAll(url, ["d", "e", "f"]);
    await waitFor(() => sizes.reduce((a, b) => a + b, 0) >= 6, 5_000, "6 messages");
    await p.stop();
    expect(sizes).toEqual([6]);
  });

  it("partial batch failure: only the failed messages come back (ApproximateReceiveCount 2), then succeed", async () => {
    const { "p-partial": url } = await ensureQueues(sqs, [
      { name: "p-partial", visibilityTimeoutSec: 1, dlq: { name: "p-partial-dlq", maxReceiveCount: 5 } },
    ]);
    await sendAll(url, ["ok-1", "fail-1", "ok-2", "fail-2"]);
    const deliveries: { body: string; count: string }[] = [];
    const p = poll({
      sqs,
      queueUrl: url,
      batchSize: 10,
      maxBatchingWindowMs: 100,
      handler: async (e): Promise<SQSBatchResponse> => {
        for (const r of e.Records)
          deliveries.push({ body: r.body, count: r.attributes.ApproximateReceiveCount });
        return {
          batchItemFailures: e.Records.filter(
            (r) => r.body.startsWith("fail") && r.attributes.ApproximateReceiveCount === "1",
          ).map((r) => ({ itemIdentifier: r.messageId })),
        };
      },
    });
    await waitFor(() => deliveries.length >= 6, 8_000, "6 deliveries");
    await new Promise((r) => setTimeout(r, 300));
    await p.stop();
    const by = (b: string) => deliveries.filter((d) => d.body === b).map((d) => d.count);
    expect(by("ok-1")).toEqual(["1"]);
    expect(by("ok-2")).toEqual(["1"]);
    expect(by("fail-1")).toEqual(["1", "2"]);
    expect(by("fail-2")).toEqual(["1", "2"]);
    expect(p.stats().failures).toBe(2);
    expect(await visibleCount(url)).toBe(0);
  });

  it("a message that always fails lands in the DLQ after maxReceiveCount", async () => {
    const urls = await ensureQueues(sqs, [
      { name: "p-poison", visibilityTimeoutSec: 1, dlq: { name: "p-poison-dlq", maxReceiveCount: 2 } },
    ]);
    const url = urls["p-poison"];
    await sendAll(url, ["poison", "fine"]);
    const counts: Record<string, number> = {};
    const p = poll({
      sqs,
      queueUrl: url,
      batchSize: 10,
      maxBatchingWindowMs: 0,
      handler: async (e) => {
        for (const r of e.Records) counts[r.body] = (counts[r.body] ?? 0) + 1;
        return {
          batchItemFailures: e.Records.filter((r) => r.body === "poison").map((r) => ({
            itemIdentifier: r.messageId,
          })),
        };
      },
    });
    let dead: string[] = [];
    const deadline = Date.now() + 10_000;
    while (dead.length === 0 && Date.now() < deadline) {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: urls["p-poison-dlq"],
          WaitTimeSeconds: 1,
          MaxNumberOfMessages: 10,
        }),
      );
      dead = (out.Messages ?? []).map((m) => m.Body!);
    }
    await p.stop();
    expect(dead).toEqual(["poison"]);
    expect(counts).toEqual({ poison: 2, fine: 1 });
  });

  it("handler throw: the whole batch is redelivered", async () => {
    const { "p-throw": url } = await ensureQueues(sqs, [{ name: "p-throw", visibilityTimeoutSec: 1 }]);
    await sendAll(url, ["x", "y", "z"]);
    const batches: SQSRecord[][] = [];
    const errors: unknown[] = [];
    const p = poll({
      sqs,
      queueUrl: url,
      batchSize: 10,
      maxBatchingWindowMs: 100,
      onError: (err, phase) => errors.push({ err, phase }),
      handler: async (e) => {
        batches.push(e.Records);
        if (batches.length === 1) throw new Error("boom");
      },
    });
    await waitFor(() => batches.flat().length >= 6, 8_000, "redelivery");
    await p.stop();
    const ids = (rs: SQSRecord[]) => rs.map((r) => r.messageId).sort();
    expect(batches[0]).toHaveLength(3);
    expect(ids(batches.slice(1).flat())).toEqual(ids(batches[0]));
    expect(
      batches
        .slice(1)
        .flat()
        .every((r) => r.attributes.ApproximateReceiveCount === "2"),
    ).toBe(true);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ phase: "handler" });
    expect(p.stats()).toMatchObject({ failures: 3, messages: 6 });
    expect(await visibleCount(url)).toBe(0);
  });

  it("FIFO: two groups, order within each group kept, also across a reported failure", async () => {
    const { "p-fifo.fifo": url } = await ensureQueues(sqs, [
      { name: "p-fifo.fifo", fifo: true, contentBasedDedup: true, visibilityTimeoutSec: 1 },
    ]);
    const bodies: string[] = [];
    for (let i = 1; i <= 6; i++) bodies.push(`A${i}`, `B${i}`);
    // SendMessageBatch keeps entry order within a group
    await sendAll(url, bodies, (i) => ({ MessageGroupId: bodies[i][0] }));
    const done: Record<string, string[]> = { A: [], B: [] };
    let failedOnce = false;
    let sample: SQSRecord | undefined;
    const p = poll({
      sqs,
      queueUrl: url,
      batchSize: 3,
      maxBatchingWindowMs: 0,
      concurrency: 2,
      handler: async (e) => {
        sample ??= e.Records[0];
        const failures: { itemIdentifier: string }[] = [];
        const brokenGroups = new Set<string>();
        for (const r of e.Records) {
          const g = r.attributes.MessageGroupId!;
          // AWS rule for FIFO: after a failure, report the rest of that group in the batch as failed
          if (brokenGroups.has(g) || (r.body === "A3" && !failedOnce)) {
            if (r.body === "A3") failedOnce = true;
            brokenGroups.add(g);
            failures.push({ itemIdentifier: r.messageId });
            continue;
          }
          done[g].push(r.body);
        }
        return { batchItemFailures: failures };
      },
    });
    await waitFor(() => done.A.length + done.B.length >= 12, 10_000, "12 FIFO messages");
    await p.stop();
    expect(failedOnce).toBe(true);
    expect(done.A).toEqual(["A1", "A2", "A3", "A4", "A5", "A6"]);
    expect(done.B).toEqual(["B1", "B2", "B3", "B4", "B5", "B6"]);
    expect(sample?.attributes.MessageDeduplicationId).toMatch(/^[0-9a-f]{64}$/);
    expect(sample?.attributes.SequenceNumber).toBeTruthy();
  });

  it("scales out like the event-source mapping: an idle queue has one long poll, a busy one runs handlers in parallel", async () => {
    const { "p-scale": url } = await ensureQueues(sqs, [{ name: "p-scale", visibilityTimeoutSec: 5 }]);
    // count the receives this poller makes: a client of its own with a counting middleware
    const client = makeSqsClient(emu.endpoint);
    let receives = 0;
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === "ReceiveMessageCommand") receives++;
        return next(args);
      },
      { step: "initialize" },
    );
    let active = 0;
    let maxActive = 0;
    let handled = 0;
    const p = poll({
      sqs: client,
      queueUrl: url,
      batchSize: 1,
      maxBatchingWindowMs: 0,
      concurrency: 3,
      waitTimeSeconds: 1,
      handler: async (e) => {
        active++;
        maxActive = Math.max(maxActive, active);
        await new Promise((r) => setTimeout(r, 150));
        active--;
        handled += e.Records.length;
      },
    });
    // idle for 2.5 s with 1 s long polls: about 3 receives by one poller (9 if all three polled)
    await new Promise((r) => setTimeout(r, 2_500));
    expect(receives).toBeGreaterThanOrEqual(2);
    expect(receives).toBeLessThanOrEqual(4);
    // busy: 12 messages, 150 ms each: the sleeping pollers join in
    await sendAll(
      url,
      Array.from({ length: 12 }, (_, i) => `s${i}`),
    );
    await waitFor(() => handled >= 12, 10_000, "12 messages");
    expect(maxActive).toBeGreaterThanOrEqual(2);
    await p.stop();
    client.destroy();
  });

  it("stop() during a long poll returns promptly", async () => {
    const { "p-idle": url } = await ensureQueues(sqs, [{ name: "p-idle", visibilityTimeoutSec: 5 }]);
    const p = poll({
      sqs,
      queueUrl: url,
      batchSize: 5,
      maxBatchingWindowMs: 0,
      waitTimeSeconds: 20,
      concurrency: 2,
      handler: async () => {},
    });
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    await p.stop();
    expect(Date.now() - t0).toBeLessThan(1_500);
    // Caveat (see sqs-poller.ts): fauxqs does not notice the aborted request; its server-side wait
    // lasts the full WaitTimeSeconds and would take a message sent meanwhile, which then stays
    // invisible for its visibility timeout. So no queue reuse here.
  });

  it("stop() waits for the running handler", async () => {
    const { "p-slow": url } = await ensureQueues(sqs, [{ name: "p-slow", visibilityTimeoutSec: 5 }]);
    await sendAll(url, ["slow"]);
    let started = false;
    let finished = false;
    const p = poll({
      sqs,
      queueUrl: url,
      batchSize: 1,
      maxBatchingWindowMs: 0,
      handler: async () => {
        started = true;
        await new Promise((r) => setTimeout(r, 400));
        finished = true;
      },
    });
    await waitFor(() => started, 5_000, "handler start");
    await p.stop();
    expect(finished).toBe(true);
    expect(await visibleCount(url)).toBe(0);
  });

  it("receive errors are reported and retried, never thrown", async () => {
    const errors: string[] = [];
    const p = poll({
      sqs,
      queueUrl: "http://localhost/000000000000/no-such-queue",
      queueArn: "arn:aws:sqs:us-east-1:000000000000:no-such-queue",
      batchSize: 1,
      maxBatchingWindowMs: 0,
      onError: (_err, phase) => errors.push(phase),
      handler: async () => {},
    });
    await waitFor(() => errors.length >= 2, 5_000, "two receive errors");
    await p.stop();
    expect(new Set(errors)).toEqual(new Set(["receive"]));
  });
});
