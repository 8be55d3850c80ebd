/**
 * AWS SDK clients, built once per process (module scope in Lambda) from explicit config, with
 * a middleware that counts requests by service and command: the benchmark reports DynamoDB and
 * SQS requests per job from these counters. With METAQUEUE_COST_METER=1 (the cost bench,
 * bench/cost.ts) the DynamoDB client also asks for ConsumedCapacity (INDEXES: table and each
 * index apart) and sums it into the same counters (capacity-meter.ts), so what DynamoDB bills is
 * measured, not estimated; without it no request carries the flag (it adds bytes to every answer).
 */
import http from "node:http";
import net from "node:net";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { SQSClient } from "@aws-sdk/client-sqs";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { meterCapacity, meterQueues } from "./capacity-meter.js";

// Lambda runs Node 22+; on a Node 20 development machine the SDK's end-of-support notice would
// be printed by every process (the runtime, each MOM): say it once in the README instead.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= "true";

export interface ClientConfig {
  region: string;
  /**
   * local emulator endpoint; undefined on AWS. `unix:/abs/path.sock` talks HTTP over that Unix
   * socket (the local runtime's DynamoDB Local and SQS emulator listen on nothing else).
   */
  endpoint?: string;
  /** static credentials for local emulators */
  credentials?: { accessKeyId: string; secretAccessKey: string };
}

/** Request counts, e.g. counts["dynamodb.PutItem"]. */
export const requestCounts: Record<string, number> = {};

/**
 * Wall milliseconds spent in requests, by the same names (a request's retries included): where a
 * handler's time goes (bench/cli-latency.ts prints it per command). Apart from requestCounts, whose every key
 * summarizeCounts reads as a request count.
 */
export const requestMs: Record<string, number> = {};

export function resetRequestCounts(): void {
  for (const k of Object.keys(requestCounts)) delete requestCounts[k];
  for (const k of Object.keys(requestMs)) delete requestMs[k];
}

/** Totals by kind: DynamoDB writes, reads, SQS requests. */
export function summarizeCounts(counts: Record<string, number> = requestCounts) {
  let ddbWrite = 0;
  let ddbRead = 0;
  let sqs = 0;
  for (const [k, v] of Object.entries(counts)) {
    const [svc, cmd] = k.split(".");
    if (svc === "dynamodb") {
      if (/^(Put|Update|Delete|BatchWrite|TransactWrite)/.test(cmd)) ddbWrite += v;
      else ddbRead += v;
    } else if (svc === "sqs") sqs += v;
  }
  return { ddbWrite, ddbRead, sqs };
}

// biome-ignore lint/suspicious/noExplicitAny: the middleware stack type is generic over every client
function countRequests(client: { middlewareStack: any }, service: string): void {
  client.middlewareStack.add(
    // biome-ignore lint/suspicious/noExplicitAny: SDK middleware signature
    (next: any, context: any) => async (args: any) => {
      const name = `${service}.${String(context.commandName ?? "unknown").replace(/Command$/, "")}`;
      requestCounts[name] = (requestCounts[name] ?? 0) + 1;
      const t0 = performance.now();
      try {
        return await next(args);
      } finally {
        requestMs[name] = (requestMs[name] ?? 0) + (performance.now() - t0);
      }
    },
    { step: "initialize", name: "metaqueueRequestCounter" },
  );
}

/**
 * Drop the SDK's logger middleware: it builds a copy of every request's input and response,
 * walked through the operation's schema to mask sensitive fields, as the arguments of a
 * `logger.info` call, which runs (and is thrown away) even when no logger is configured. For a
 * BatchGetItem of 100 jobs that is a deep copy of every item; this code never gives the SDK a
 * logger (its own logs say what failed), so the walk was pure overhead, on AWS as locally.
 */
// biome-ignore lint/suspicious/noExplicitAny: the middleware stack type is generic over every client
function withoutSdkLogging(client: { middlewareStack: any }): void {
  client.middlewareStack.remove("loggerMiddleware");
}

const UNIX_PREFIX = "unix:";

/**
 * The SDK options that reach `endpoint`: a URL as is; for `unix:/path.sock` a request handler
 * whose agent opens every connection on that socket. `http://localhost` then only fills the
 * Host header; the SQS emulator copies a port found there into the queue URLs it makes and
 * matches URLs exactly, so every client of one emulator comes through here and sends the same.
 */
export function endpointOptions(endpoint: string | undefined): {
  endpoint?: string;
  requestHandler?: NodeHttpHandler;
} {
  if (!endpoint?.startsWith(UNIX_PREFIX)) return { endpoint };
  const socketPath = endpoint.slice(UNIX_PREFIX.length);
  // keep-alive and 50 sockets, as the SDK's default agent: a connection per request would
  // cost a connect() each, and the pollers hold some open in long polls
  const httpAgent = new http.Agent({ keepAlive: true, maxSockets: 50 });
  httpAgent.createConnection = () => net.connect({ path: socketPath });
  return { endpoint: "http://localhost", requestHandler: new NodeHttpHandler({ httpAgent }) };
}

export function makeDynamoClients(cfg: ClientConfig): { ddb: DynamoDBClient; doc: DynamoDBDocumentClient } {
  const ddb = new DynamoDBClient({
    region: cfg.region,
    ...endpointOptions(cfg.endpoint),
    credentials: cfg.credentials,
    maxAttempts: 5,
  });
  countRequests(ddb, "dynamodb");
  withoutSdkLogging(ddb);
  if (process.env.METAQUEUE_COST_METER === "1") meterCapacity(ddb, requestCounts);
  const doc = DynamoDBDocumentClient.from(ddb, {
    marshallOptions: { removeUndefinedValues: true, convertClassInstanceToMap: false },
  });
  return { ddb, doc };
}

export function makeSqsClient(cfg: ClientConfig): SQSClient {
  const sqs = new SQSClient({
    region: cfg.region,
    ...endpointOptions(cfg.endpoint),
    credentials: cfg.credentials,
    // The local emulator's queue URLs name a host that does not resolve: always send to `endpoint`.
    ...(cfg.endpoint ? { useQueueUrlAsEndpoint: false } : {}),
    maxAttempts: 5,
    // build each command's middleware chain once, not at every send (the pollers and the MOMs
    // send the same few commands all day). Not for DynamoDB: the document client's commands
    // close their handler over the command instance, which a cached handler would reuse.
    cacheMiddleware: true,
  });
  countRequests(sqs, "sqs");
  if (process.env.METAQUEUE_COST_METER === "1") meterQueues(sqs, requestCounts);
  withoutSdkLogging(sqs);
  return sqs;
}

export const LOCAL_CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" };
