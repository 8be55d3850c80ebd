import fs from "node:fs";
import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type QueueAttributeName,
  SetQueueAttributesCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { buildApp } from "fauxqs";
import { LOCAL_CREDENTIALS, makeSqsClient as makeClient } from "../../shared/adapters/aws-clients.js";
import type { QueueDef } from "../../shared/adapters/sqs/queue-defs.js";
import { claimSocket } from "./private-dir.js";

export type { QueueDef } from "../../shared/adapters/sqs/queue-defs.js";

export interface SqsEmulator {
  /** `unix:<socketPath>`; pass it to `makeSqsClient` */
  endpoint: string;
  socketPath: string;
  stop(): Promise<void>;
}

/**
 * Starts the in-process SQS emulator (fauxqs) on a Unix socket, its only listener: fauxqs has
 * no authentication, so whoever reaches it may read or send on any queue. The socket's folder
 * is 0700 (created if missing; omit `socketPath` for a fresh private folder under the system
 * temp dir, removed by `stop()`).
 *
 * Its queue URLs are `http://sqs.<region>.localhost/000000000000/<name>`, a host that need not
 * resolve: `makeSqsClient` sends every request to the socket whatever the URL says.
 */
export async function startSqsEmulator(opts: { socketPath?: string } = {}): Promise<SqsEmulator> {
  const { socketPath, removeTemp } = await claimSocket("SQS emulator", opts.socketPath, "sqs.sock");
  // a socket left by a runtime that was SIGKILLed: nobody listens on it any more
  fs.rmSync(socketPath, { force: true });
  // what fauxqs's own startFauxqs does, but listening on the socket instead of 0.0.0.0:<port>,
  // and with a store whose long polls sleep while nothing can become visible (idleStore)
  const app = buildApp({ logger: false, stores: { sqsStore: await idleStore() } as never });
  await app.listen({ path: socketPath });
  fs.chmodSync(socketPath, 0o600);
  let stopped: Promise<void> | null = null;
  return {
    endpoint: `unix:${socketPath}`,
    socketPath,
    stop: () => {
      stopped ??= app.close().then(() => {
        removeTemp();
      });
      return stopped;
    },
  };
}

/** The parts of fauxqs 1.9's SqsQueue (dist/sqs/sqsStore.js) that `idleStore` reads or replaces. */
interface FauxQueue {
  pollTimer?: NodeJS.Timeout;
  pollWaiters: unknown[];
  inflightMessages: Map<string, { visibilityDeadline: number }>;
  delayedMessages: { delayUntil?: number }[];
  fifoDelayed: Map<string, { delayUntil?: number }[]>;
  processTimers(): void;
  startPollTimerIfNeeded(): void;
}

/** at least this long between two looks at a queue with long polls waiting (fauxqs's own period) */
const POLL_MIN_MS = 20;
/**
 * at most this long: an entry that becomes due sooner than this after a look must have been added
 * after it, and every such entry (a receive's visibility, a send's delay) is whole seconds long
 */
const POLL_MAX_MS = 1_000;

/**
 * A fauxqs SqsStore whose queues, while long polls wait on them, look for messages that became
 * visible (a visibility timeout ran out, a delay ended) when the next one is due rather than
 * every 20 ms. fauxqs runs a 20 ms interval per queue for as long as any long poll waits on it:
 * with the runtime's six always-polled queues that was 300 wakeups a second of an idle runtime.
 * A send, a delete that unlocks a FIFO group and a visibility set to 0 wake the waiters
 * themselves (SqsQueue.enqueue / deleteMessage / changeVisibility), with or without this timer;
 * what became due is found within POLL_MIN_MS..POLL_MAX_MS of its deadline, as the receive
 * that follows the wait would find it anyway (dequeue runs processTimers first).
 *
 * fauxqs does not export the store (its package exports only dist/app.js), so it is loaded from
 * the file next to app.js: the same module instance app.js uses. A fauxqs upgrade that changes
 * these internals fails `test/unit/local/sqs-idle.test.ts`.
 */
export async function idleStore(): Promise<unknown> {
  const url = new URL("./sqs/sqsStore.js", import.meta.resolve("fauxqs"));
  const { SqsStore } = (await import(url.href)) as {
    SqsStore: new () => { createQueue(...args: unknown[]): FauxQueue };
  };
  const store = new SqsStore();
  const create = store.createQueue.bind(store);
  store.createQueue = (...args: unknown[]) => {
    const queue = create(...args);
    queue.startPollTimerIfNeeded = () => armPollTimer(queue);
    return queue;
  };
  return store;
}

function armPollTimer(q: FauxQueue): void {
  if (q.pollTimer) return;
  const look = () => {
    // wakes the waiters when something became visible; the last one to go clears pollTimer
    q.processTimers();
    if (q.pollWaiters.length === 0) {
      q.pollTimer = undefined;
      return;
    }
    q.pollTimer = setTimeout(look, nextDueIn(q));
  };
  q.pollTimer = setTimeout(look, nextDueIn(q));
}

/** ms until the earliest visibility deadline or delay end, within POLL_MIN_MS..POLL_MAX_MS */
export function nextDueIn(
  q: Pick<FauxQueue, "inflightMessages" | "delayedMessages" | "fifoDelayed">,
): number {
  let due = Number.POSITIVE_INFINITY;
  for (const e of q.inflightMessages.values()) due = Math.min(due, e.visibilityDeadline);
  for (const m of q.delayedMessages) if (m.delayUntil) due = Math.min(due, m.delayUntil);
  for (const group of q.fifoDelayed.values())
    for (const m of group) if (m.delayUntil) due = Math.min(due, m.delayUntil);
  return Math.max(POLL_MIN_MS, Math.min(POLL_MAX_MS, due - Date.now()));
}

/** An SQSClient for the emulator: `makeSqsClient` of shared/adapters/aws-clients.ts with local credentials. */
export function makeSqsClient(endpoint: string, region = "us-east-1"): SQSClient {
  return makeClient({ region, endpoint, credentials: LOCAL_CREDENTIALS });
}

/**
 * Creates the queues (each DLQ first, then the queue with a RedrivePolicy pointing at it) and
 * returns `{ [name]: queueUrl }` for every queue and DLQ. Idempotent: a queue that already exists
 * is looked up and its mutable attributes are set to the definition's values.
 */
export async function ensureQueues(sqs: SQSClient, defs: QueueDef[]): Promise<Record<string, string>> {
  const urls: Record<string, string> = {};
  for (const def of defs) {
    const fifo = def.fifo ?? def.name.endsWith(".fifo");
    if (fifo !== def.name.endsWith(".fifo")) {
      throw new Error(
        `queue ${def.name}: a FIFO queue's name must end in .fifo, and only a FIFO queue's may`,
      );
    }
    if (def.contentBasedDedup && !fifo) {
      throw new Error(`queue ${def.name}: contentBasedDedup is for FIFO queues only`);
    }
    const attributes: Record<string, string> = { VisibilityTimeout: String(def.visibilityTimeoutSec) };
    if (fifo) {
      attributes.FifoQueue = "true";
      attributes.ContentBasedDeduplication = def.contentBasedDedup ? "true" : "false";
    }
    if (def.dlq) {
      if (def.dlq.name.endsWith(".fifo") !== fifo) {
        throw new Error(`queue ${def.name}: its DLQ ${def.dlq.name} must be ${fifo ? "" : "non-"}FIFO too`);
      }
      const dlqAttributes: Record<string, string> = {
        VisibilityTimeout: String(def.visibilityTimeoutSec),
        // keep dead letters as long as SQS allows (14 days)
        MessageRetentionPeriod: "1209600",
      };
      if (fifo) dlqAttributes.FifoQueue = "true";
      const dlqUrl = await createOrUpdateQueue(sqs, def.dlq.name, dlqAttributes);
      urls[def.dlq.name] = dlqUrl;
      const dlqArn = await queueArn(sqs, dlqUrl);
      attributes.RedrivePolicy = JSON.stringify({
        deadLetterTargetArn: dlqArn,
        maxReceiveCount: def.dlq.maxReceiveCount,
      });
    }
    urls[def.name] = await createOrUpdateQueue(sqs, def.name, attributes);
  }
  return urls;
}

/** The queue's ARN, from GetQueueAttributes. */
export async function queueArn(sqs: SQSClient, queueUrl: string): Promise<string> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({ QueueUrl: queueUrl, AttributeNames: ["QueueArn"] }),
  );
  const arn = out.Attributes?.QueueArn;
  if (!arn) throw new Error(`no QueueArn for ${queueUrl}`);
  return arn;
}

async function createOrUpdateQueue(
  sqs: SQSClient,
  name: string,
  attributes: Record<string, string>,
): Promise<string> {
  try {
    const out = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes }));
    if (!out.QueueUrl) throw new Error(`CreateQueue ${name} returned no QueueUrl`);
    return out.QueueUrl;
  } catch (err) {
    if (!isQueueExistsError(err)) throw err;
  }
  // Exists with different attributes: converge it (FifoQueue cannot change; a mismatch there
  // is caught above by the name check, since the name decides FIFO-ness).
  const { QueueUrl } = await sqs.send(new GetQueueUrlCommand({ QueueName: name }));
  if (!QueueUrl) throw new Error(`GetQueueUrl ${name} returned no QueueUrl`);
  const mutable = Object.fromEntries(
    Object.entries(attributes).filter(([k]) => k !== "FifoQueue"),
  ) as Partial<Record<QueueAttributeName, string>>;
  await sqs.send(new SetQueueAttributesCommand({ QueueUrl, Attributes: mutable }));
  return QueueUrl;
}

/**
 * "A queue with this name exists with other attributes". Real SQS (JSON protocol) calls it
 * `QueueNameExists` / query code `QueueAlreadyExists`; fauxqs's answer reaches SDK v3 as
 * `name === "AWS.SimpleQueueService.QueueNameExists"` (taken from its x-amzn-query-error header).
 */
export function isQueueExistsError(err: unknown): boolean {
  if (typeof err !== "object" || err === null) return false;
  const e = err as { name?: unknown; Code?: unknown; __type?: unknown };
  return [e.name, e.Code, e.__type].some(
    (v) => typeof v === "string" && /QueueNameExists|QueueAlreadyExists/.test(v),
  );
}
