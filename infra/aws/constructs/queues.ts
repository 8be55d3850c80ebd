/**
 * The site's SQS queues, built from `siteQueues(prefix, site)` (shared/adapters/sqs/queue-defs.ts),
 * the same definitions the local runtime creates: sched (FIFO, group = partition) and events,
 * each with its dead-letter queue, and the inbox that peer sites send to. SSE (SQS-managed
 * keys), TLS only, and only principals of this account, except that the accounts of the
 * configured peers may send (and only send) to the inbox. Messages are also signed per peer
 * (shared/peers/messages.ts): the policy keeps strangers out, the signature tells peers apart.
 */
import { Duration, Stack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import type { SqsEventSourceProps } from "aws-cdk-lib/aws-lambda-event-sources";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import {
  type ConsumerDef,
  type QueueDef,
  type SiteQueues as SiteQueueDefs,
  siteQueues,
} from "../../../shared/adapters/sqs/queue-defs.js";

export interface SiteQueuesProps {
  prefix: string;
  site: string;
  /** AWS accounts of the configured peer sites: they may SendMessage to the inbox */
  peerAccounts?: string[];
}

export interface QueueWithDlq {
  def: QueueDef;
  queue: sqs.Queue;
  dlq: sqs.Queue;
}

export class SiteQueues extends Construct {
  readonly defs: SiteQueueDefs;
  readonly sched: QueueWithDlq;
  readonly events: QueueWithDlq;
  readonly inbox: QueueWithDlq;

  constructor(scope: Construct, id: string, props: SiteQueuesProps) {
    super(scope, id);
    this.defs = siteQueues(props.prefix, props.site);
    this.sched = this.make("Sched", this.defs.sched);
    this.events = this.make("Events", this.defs.events);
    this.inbox = this.make("Inbox", this.defs.inbox, props.peerAccounts ?? []);
  }

  /** every queue and DLQ, for dashboards and alarms */
  all(): QueueWithDlq[] {
    return [this.sched, this.events, this.inbox];
  }

  private make(id: string, def: QueueDef, senders: string[] = []): QueueWithDlq {
    const fifo = def.fifo ?? def.name.endsWith(".fifo");
    if (!def.dlq) throw new Error(`queue ${def.name}: the AWS stack expects a dead-letter queue`);
    const common: sqs.QueueProps = {
      fifo: fifo || undefined,
      visibilityTimeout: Duration.seconds(def.visibilityTimeoutSec),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
    };
    const dlq = new sqs.Queue(this, `${id}Dlq`, {
      ...common,
      queueName: def.dlq.name,
      // keep dead letters as long as SQS allows
      retentionPeriod: Duration.days(14),
    });
    const queue = new sqs.Queue(this, id, {
      ...common,
      queueName: def.name,
      contentBasedDeduplication: fifo ? (def.contentBasedDedup ?? false) : undefined,
      deadLetterQueue: { queue: dlq, maxReceiveCount: def.dlq.maxReceiveCount },
    });
    onlyThisAccount(queue, senders);
    onlyThisAccount(dlq);
    if (senders.length) {
      queue.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: "PeersMaySend",
          effect: iam.Effect.ALLOW,
          principals: senders.map((a) => new iam.AccountPrincipal(a)),
          actions: ["sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"],
          resources: [queue.queueArn],
        }),
      );
    }
    return { def, queue, dlq };
  }
}

/** Deny every principal outside this account (and the given peers), whatever else may allow it. */
function onlyThisAccount(q: sqs.Queue, peers: string[] = []): void {
  const accounts = [Stack.of(q).account, ...peers];
  q.addToResourcePolicy(
    new iam.PolicyStatement({
      sid: "OnlyThisAccount",
      effect: iam.Effect.DENY,
      principals: [new iam.AnyPrincipal()],
      actions: ["sqs:*"],
      resources: [q.queueArn],
      conditions: {
        StringNotEquals: { "aws:PrincipalAccount": accounts.length === 1 ? accounts[0] : accounts },
      },
    }),
  );
}

/**
 * The Lambda event source settings for a queue, from its consumer definition:
 * - batch size as defined; partial batch failures reported (a failed message is retried alone,
 *   and after maxReceiveCount it goes to the DLQ);
 * - the batching window is whole seconds on Lambda: the definition's milliseconds are rounded
 *   (events: 20 ms → 0, the long poll already gathers a batch); FIFO queues take no window;
 * - maxConcurrency caps parallel invocations (Lambda's minimum is 2). For the FIFO sched queue
 *   this is not what keeps cycles apart: Lambda never has two batches of one message group in
 *   flight, and the group is the partition, so a partition's cycles never overlap while
 *   different partitions run in parallel up to this cap.
 */
/**
 * Reserved concurrency of a queue's consumer: what its event source may run at once (Lambda's
 * minimum maxConcurrency is 2). Reserved, it is both a floor no other function can take and a
 * ceiling, so the event source's cap and the reservation agree (no throttled batches).
 */
export function reservedFor(def: QueueDef & { consumer: ConsumerDef }): number {
  return Math.max(2, def.consumer.concurrency);
}

export function eventSourceProps(def: QueueDef & { consumer: ConsumerDef }): SqsEventSourceProps {
  const fifo = def.fifo ?? def.name.endsWith(".fifo");
  const windowSec = fifo ? 0 : Math.round(def.consumer.maxBatchingWindowMs / 1000);
  if (def.visibilityTimeoutSec < 6 * def.consumer.timeoutSec)
    throw new Error(
      `queue ${def.name}: visibility timeout ${def.visibilityTimeoutSec}s is under 6x its consumer's timeout ${def.consumer.timeoutSec}s`,
    );
  return {
    batchSize: def.consumer.batchSize,
    reportBatchItemFailures: true,
    ...(windowSec > 0 ? { maxBatchingWindow: Duration.seconds(windowSec) } : {}),
    ...(def.consumer.concurrency >= 2 ? { maxConcurrency: def.consumer.concurrency } : {}),
  };
}
