import {
  CreateQueueCommand,
  GetQueueAttributesCommand,
  GetQueueUrlCommand,
  type QueueAttributeName,
  SetQueueAttributesCommand,
  SQSClient,
} from "@aws-sdk/client-sqs";
import { type FauxqsServer, startFauxqs } from "fauxqs";
import type { QueueDef } from "../../shared/store/queue-defs.js";

export type { QueueDef } from "../../shared/store/queue-defs.js";

export interface SqsEmulator {
  /** e.g. `http://127.0.0.1:41234`; pass it to `makeSqsClient` */
  endpoint: string;
  stop(): Promise<void>;
  /** the fauxqs server, for tests (`inspectQueue`, `purgeAll`, ...) */
  server: FauxqsServer;
}

/**
 * Starts the in-process SQS emulator (fauxqs) on `port` (default: any free port). Its queue URLs
 * name a host (`sqs.<region>.localhost`) that may not resolve: always talk to it through
 * `makeSqsClient(endpoint)`, which sends every request to `endpoint`.
 */
export async function startSqsEmulator(opts: { port?: number } = {}): Promise<SqsEmulator> {
  const server = await startFauxqs({ port: opts.port ?? 0, logger: false });
  let stopped: Promise<void> | null = null;
  return {
    endpoint: server.address,
    server,
    stop: () => {
      stopped ??= server.stop();
      return stopped;
    },
  };
}

/**
 * An SQSClient for the emulator. With an explicit `endpoint` the SDK already ignores the host in
 * `QueueUrl`; `useQueueUrlAsEndpoint: false` makes that explicit (SDK v3 option, default true).
 */
export function makeSqsClient(endpoint: string, region = "us-east-1"): SQSClient {
  return new SQSClient({
    endpoint,
    region,
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
    useQueueUrlAsEndpoint: false,
  });
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
