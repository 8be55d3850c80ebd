/**
 * The SQS queues a site uses. Types only (plus a naming helper) so both the AWS stack and the
 * local runtime create the same queues.
 */

export interface QueueDef {
  /** queue name; FIFO queues end in `.fifo` (the `fifo` flag must agree) */
  name: string;
  fifo?: boolean;
  /** seconds a received message stays invisible; should exceed the consumer's worst-case run time */
  visibilityTimeoutSec: number;
  /** dead-letter queue, created first; a message received `maxReceiveCount` times moves there */
  dlq?: { name: string; maxReceiveCount: number };
  /** FIFO only: dedup on a SHA-256 of the body when the sender gives no MessageDeduplicationId */
  contentBasedDedup?: boolean;
}

/** Conventional DLQ name for a queue: `jobs` -> `jobs-dlq`, `events.fifo` -> `events-dlq.fifo` (a FIFO queue's DLQ must be FIFO). */
export function dlqName(name: string): string {
  return name.endsWith(".fifo") ? `${name.slice(0, -".fifo".length)}-dlq.fifo` : `${name}-dlq`;
}

/** How a handler consumes a queue (Lambda event source mapping settings), shared by CDK and local. */
export interface ConsumerDef {
  batchSize: number;
  /** Lambda MaximumBatchingWindowInSeconds, in ms (0 for FIFO: Lambda does not support a window there) */
  maxBatchingWindowMs: number;
  /** parallel invocations; 1 for the scheduler of each partition is guaranteed by the FIFO group */
  concurrency: number;
  /**
   * the consumer's time limit (the Lambda timeout); the queue's visibility timeout is at least
   * 6x this, as AWS asks for Lambda event sources (retries of a throttled batch stay invisible)
   */
  timeoutSec: number;
}

export interface SiteQueues {
  sched: QueueDef & { consumer: ConsumerDef };
  events: QueueDef & { consumer: ConsumerDef };
  /** messages from peer sites (signed); poison ones end in its DLQ */
  inbox: QueueDef & { consumer: ConsumerDef };
}

/**
 * The site's queues:
 * - sched: FIFO, group = partition, so one scheduler cycle per partition at a time while
 *   partitions run in parallel; a trigger is a request for "a cycle soon", so a batch of them
 *   is one cycle.
 * - events: MOM obituaries, MOM boots, dependency releases.
 */
export function siteQueues(prefix: string, site: string): SiteQueues {
  const sched = `${prefix}${site}-sched.fifo`;
  const events = `${prefix}${site}-events`;
  const inbox = `${prefix}${site}-inbox`;
  return {
    sched: {
      name: sched,
      fifo: true,
      // 6 x the scheduler's 10 s timeout (SCHEDULER_TIMEOUT_S, shared/scheduler/accumulation.ts;
      // test/unit/aws/limits.test.ts holds the two together). Kept short on purpose: on a FIFO
      // queue a trigger left in flight by a killed cycle locks its partition's whole group until
      // it becomes visible again, so this is how long a crash can stop scheduling there.
      visibilityTimeoutSec: 60,
      dlq: { name: dlqName(sched), maxReceiveCount: 5 },
      consumer: { batchSize: 10, maxBatchingWindowMs: 0, concurrency: 2, timeoutSec: 10 },
    },
    events: {
      name: events,
      visibilityTimeoutSec: 60,
      dlq: { name: dlqName(events), maxReceiveCount: 5 },
      consumer: { batchSize: 10, maxBatchingWindowMs: 20, concurrency: 2, timeoutSec: 10 },
    },
    inbox: {
      name: inbox,
      visibilityTimeoutSec: 60,
      dlq: { name: dlqName(inbox), maxReceiveCount: 5 },
      consumer: { batchSize: 10, maxBatchingWindowMs: 20, concurrency: 1, timeoutSec: 10 },
    },
  };
}
