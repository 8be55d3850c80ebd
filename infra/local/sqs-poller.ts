import {
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  type MessageAttributeValue,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type {
  SQSBatchResponse,
  SQSEvent,
  SQSMessageAttributes,
  SQSRecord,
  SQSRecordAttributes,
} from "aws-lambda";

export interface SqsPollerOptions {
  sqs: SQSClient;
  queueUrl: string;
  /** for `eventSourceARN`; looked up with GetQueueAttributes when omitted */
  queueArn?: string;
  // biome-ignore lint/suspicious/noConfusingVoidType: same result type as aws-lambda's SQSHandler
  handler: (event: SQSEvent) => Promise<SQSBatchResponse | void>;
  /** records per invocation, 1..10 */
  batchSize: number;
  /** MaximumBatchingWindowInSeconds, in ms: 0 = invoke with whatever one receive returned */
  maxBatchingWindowMs: number;
  /** parallel pollers (each invokes the handler on its own), default 1 */
  concurrency?: number;
  /** long-poll wait of the first receive of a batch, 0..20 s, default 1 */
  waitTimeSeconds?: number;
  /** receive/delete errors (retried) and handler errors (batch left for redelivery); default console.error */
  onError?: (err: unknown, phase: "receive" | "handler" | "delete") => void;
  name?: string;
}

export interface SqsPollerStats {
  /** handler invocations */
  invocations: number;
  /** records handed to the handler (a redelivered message counts again) */
  messages: number;
  /** records left undeleted: reported in batchItemFailures, or in a batch whose handler threw */
  failures: number;
}

export interface SqsPoller {
  /**
   * Aborts the in-flight long poll and waits for running handler invocations to finish. With
   * `finishPoll`, lets each long poll run out instead (up to waitTimeSeconds) and hands what it
   * brings to the handler: nothing is stranded in an abandoned request (see below), at the price
   * of a slower stop (the intake's pause, infra/local/runtime.ts).
   */
  stop(opts?: { finishPoll?: boolean }): Promise<void>;
  stats(): SqsPollerStats;
}

const RECEIVE_BACKOFF_MIN_MS = 100;
const RECEIVE_BACKOFF_MAX_MS = 2_000;
/** pause between short polls while a batching window is open and the queue is empty */
const WINDOW_POLL_MS = 20;

/**
 * The Lambda SQS event-source mapping, run locally.
 *
 * Per poller: long-poll for up to `batchSize` messages; once the first message is in, keep
 * receiving (short polls) until the batch is full or `maxBatchingWindowMs` has passed since that
 * first message; invoke the handler with an `SQSEvent`; then, as AWS does with
 * ReportBatchItemFailures enabled:
 * - handler resolves void / no failures: delete every message;
 * - handler resolves `{ batchItemFailures }`: delete all but the listed ones, which reappear
 *   after their visibility timeout (and go to the DLQ after maxReceiveCount receives). An empty,
 *   missing or unknown itemIdentifier fails the whole batch, as on AWS;
 * - handler throws: delete none, the whole batch reappears.
 *
 * FIFO queues: SQS hands one group's messages to one receiver at a time, in order, and keeps the
 * group locked while any of them is in flight. On AWS, after a failure the handler must report
 * EVERY later message of that group in the batch as failed too (stop processing the group), or
 * the order breaks; this poller just leaves the reported items undeleted, so that rule is the
 * handler's job here as well.
 *
 * Messages a stopped poller had already received but not yet handled are handed to the handler
 * before `stop()` resolves, so nothing sits invisible until its timeout. But a long poll aborted
 * by `stop()` is only abandoned client-side: fauxqs 1.9 never notices the closed connection, keeps
 * the wait open for its full WaitTimeSeconds, and a message arriving meanwhile is handed to the
 * dead request, staying invisible until its visibility timeout (AWS can do the same in the instant
 * of the abort). The short default `waitTimeSeconds` of 1 keeps that window small.
 */
export function startSqsPoller(opts: SqsPollerOptions): SqsPoller {
  const { sqs, queueUrl, handler, batchSize, maxBatchingWindowMs } = opts;
  const concurrency = opts.concurrency ?? 1;
  const waitTimeSeconds = opts.waitTimeSeconds ?? 1;
  const name = opts.name ?? queueUrl.split("/").pop() ?? "sqs-poller";
  if (!Number.isInteger(batchSize) || batchSize < 1 || batchSize > 10) {
    throw new Error(`${name}: batchSize must be an integer 1..10, got ${batchSize}`);
  }
  if (!(maxBatchingWindowMs >= 0)) throw new Error(`${name}: maxBatchingWindowMs must be >= 0`);
  if (!Number.isInteger(concurrency) || concurrency < 1) throw new Error(`${name}: concurrency must be >= 1`);
  if (!Number.isInteger(waitTimeSeconds) || waitTimeSeconds < 0 || waitTimeSeconds > 20) {
    throw new Error(`${name}: waitTimeSeconds must be an integer 0..20`);
  }
  const onError =
    opts.onError ??
    ((err: unknown, phase: string) => {
      console.error(`[sqs-poller ${name}] ${phase} error:`, err);
    });
  const report = (err: unknown, phase: "receive" | "handler" | "delete") => {
    try {
      onError(err, phase);
    } catch {
      // a throwing onError must not kill the poller
    }
  };

  const stats: SqsPollerStats = { invocations: 0, messages: 0, failures: 0 };
  const abort = new AbortController();
  let finishing = false;
  const stopped = () => finishing || abort.signal.aborted;

  let source: Promise<{ arn: string; region: string }> | null = null;
  const eventSource = () => {
    source ??= resolveSource(sqs, queueUrl, opts.queueArn).catch((err) => {
      source = null;
      throw err;
    });
    return source;
  };

  const receive = async (max: number, wait: number, signal?: AbortSignal): Promise<Message[]> => {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: max,
        WaitTimeSeconds: wait,
        AttributeNames: ["All"],
        MessageSystemAttributeNames: ["All"],
        MessageAttributeNames: ["All"],
      }),
      signal ? { abortSignal: signal } : {},
    );
    return out.Messages ?? [];
  };

  const handleBatch = async (messages: Message[]) => {
    const { arn, region } = await eventSource();
    const event: SQSEvent = { Records: messages.map((m) => toRecord(m, arn, region)) };
    stats.invocations++;
    stats.messages += messages.length;
    let failed: Set<string>;
    try {
      const result = await handler(event);
      failed = failedIds(result, messages);
    } catch (err) {
      report(err, "handler");
      failed = new Set(messages.map((m) => m.MessageId!));
    }
    stats.failures += failed.size;
    const done = messages.filter((m) => !failed.has(m.MessageId!));
    if (done.length > 0) await deleteMessages(done);
  };

  const deleteMessages = async (messages: Message[]) => {
    try {
      const out = await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle! })),
        }),
      );
      if (out.Failed && out.Failed.length > 0) {
        report(new Error(`DeleteMessageBatch failed for ${JSON.stringify(out.Failed)}`), "delete");
      }
    } catch (err) {
      // the messages reappear after their visibility timeout: at-least-once, as on AWS
      report(err, "delete");
    }
  };

  // Scale-out, as the Lambda event-source mapping does: one poller always long-polls; the others
  // sleep until a receive brings messages (there may be more behind them), and go back to sleep
  // after a receive that brings none. An idle queue costs one long poll per waitTimeSeconds, not
  // `concurrency` of them (issue 14: idle is idle).
  let idleWorkers: Array<() => void> = [];
  const wakeOne = () => idleWorkers.shift()?.();
  const sleepUntilWoken = () =>
    new Promise<void>((resolve) => {
      if (stopped()) return resolve();
      idleWorkers.push(resolve);
    });
  const wakeAll = () => {
    for (const w of idleWorkers) w();
    idleWorkers = [];
  };
  abort.signal.addEventListener("abort", wakeAll);

  const worker = async (scaleOut: boolean) => {
    let backoff = RECEIVE_BACKOFF_MIN_MS;
    if (scaleOut) await sleepUntilWoken();
    while (!stopped()) {
      let batch: Message[];
      try {
        // make sure the ARN is known before taking messages off the queue
        await eventSource();
        batch = await receive(batchSize, waitTimeSeconds, abort.signal);
        backoff = RECEIVE_BACKOFF_MIN_MS;
      } catch (err) {
        if (stopped()) break;
        report(err, "receive");
        await sleep(backoff, abort.signal);
        backoff = Math.min(backoff * 2, RECEIVE_BACKOFF_MAX_MS);
        continue;
      }
      if (batch.length === 0) {
        if (scaleOut) await sleepUntilWoken();
        else if (waitTimeSeconds === 0) await sleep(WINDOW_POLL_MS * 5, abort.signal);
        continue;
      }
      wakeOne();
      if (maxBatchingWindowMs > 0) {
        const windowEnds = Date.now() + maxBatchingWindowMs;
        while (batch.length < batchSize && !stopped()) {
          const left = windowEnds - Date.now();
          if (left <= 0) break;
          let more: Message[] = [];
          try {
            // short polls: WaitTimeSeconds is whole seconds, and aborting a long poll could
            // strand a message the server hands to the dead request
            more = await receive(batchSize - batch.length, 0);
          } catch (err) {
            report(err, "receive");
          }
          batch = batch.concat(more);
          if (more.length === 0) await sleep(Math.min(WINDOW_POLL_MS, left), abort.signal);
        }
      }
      await handleBatch(batch);
    }
  };

  const workers = Array.from({ length: concurrency }, (_, i) =>
    worker(i > 0).catch((err) => report(err, "receive")),
  );

  return {
    stop: async (o = {}) => {
      if (o.finishPoll) {
        finishing = true;
        // idle scale-out workers have no poll to finish
        wakeAll();
      } else abort.abort();
      await Promise.all(workers);
    },
    stats: () => ({ ...stats }),
  };
}

/** Which messages to keep: AWS semantics for the handler's result. */
function failedIds(result: unknown, messages: Message[]): Set<string> {
  const ids = new Set(messages.map((m) => m.MessageId!));
  const failures =
    result && typeof result === "object"
      ? (result as Partial<SQSBatchResponse>).batchItemFailures
      : undefined;
  if (!Array.isArray(failures) || failures.length === 0) return new Set();
  const failed = new Set<string>();
  for (const f of failures) {
    const id = f?.itemIdentifier;
    // an empty or unknown identifier makes Lambda treat the whole batch as failed
    if (typeof id !== "string" || !ids.has(id)) return ids;
    failed.add(id);
  }
  return failed;
}

function toRecord(m: Message, eventSourceARN: string, awsRegion: string): SQSRecord {
  const a = m.Attributes ?? {};
  const attributes: SQSRecordAttributes = {
    ApproximateReceiveCount: a.ApproximateReceiveCount ?? "1",
    SentTimestamp: a.SentTimestamp ?? String(Date.now()),
    SenderId: a.SenderId ?? "000000000000",
    ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
  };
  for (const key of [
    "AWSTraceHeader",
    "SequenceNumber",
    "MessageGroupId",
    "MessageDeduplicationId",
    "DeadLetterQueueSourceArn",
  ] as const) {
    const v = a[key];
    if (v !== undefined) attributes[key] = v;
  }
  const record: SQSRecord = {
    messageId: m.MessageId!,
    receiptHandle: m.ReceiptHandle!,
    body: m.Body ?? "",
    attributes,
    messageAttributes: toMessageAttributes(m.MessageAttributes),
    md5OfBody: m.MD5OfBody ?? "",
    eventSource: "aws:sqs",
    eventSourceARN,
    awsRegion,
  };
  if (m.MD5OfMessageAttributes) record.md5OfMessageAttributes = m.MD5OfMessageAttributes;
  return record;
}

function toMessageAttributes(attrs: Record<string, MessageAttributeValue> | undefined): SQSMessageAttributes {
  const out: SQSMessageAttributes = {};
  for (const [key, v] of Object.entries(attrs ?? {})) {
    out[key] = {
      dataType: v.DataType ?? "String",
      stringListValues: v.StringListValues ?? [],
      binaryListValues: (v.BinaryListValues ?? []).map(toBase64),
      ...(v.StringValue !== undefined ? { stringValue: v.StringValue } : {}),
      ...(v.BinaryValue !== undefined ? { binaryValue: toBase64(v.BinaryValue) } : {}),
    };
  }
  return out;
}

function toBase64(b: Uint8Array | string): string {
  return typeof b === "string" ? b : Buffer.from(b).toString("base64");
}

async function resolveSource(
  sqs: SQSClient,
  queueUrl: string,
  queueArn: string | undefined,
): Promise<{ arn: string; region: string }> {
  let arn = queueArn;
  if (!arn) {
    const out = await sqs.send(
      new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }),
    );
    arn = out.Attributes?.QueueArn;
    if (!arn) throw new Error(`no QueueArn for ${queueUrl}`);
  }
  // arn:aws:sqs:<region>:<account>:<name>
  const region = arn.split(":")[3] || (await sqs.config.region());
  return { arn, region };
}

/** resolves after `ms`, or at once when `signal` aborts */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}
