/**
 * Port: the message bus. The domain only sends: cycle triggers to the site's scheduler queue,
 * events to its events queue, sealed messages to a peer's inbox. What receives them (the Lambda
 * event-source mapping on AWS, infra/local/sqs-poller.ts locally, a test draining the in-memory
 * bus) calls the handlers in lambdas/ with what was sent.
 *
 * Adapters: `shared/adapters/sqs` (SQS, and the emulator locally) and `shared/adapters/memory`.
 * Both must: keep the order of messages with the same `groupId` on a FIFO address; deliver every
 * message at least once, a delayed one not before its delay; and fail the whole call (throw) when
 * any message was not accepted, so the caller's handler fails and its own input is redelivered
 * instead of a message being lost.
 */
export interface BusMessage {
  body: string;
  /** FIFO addresses: the message group (one partition's cycles run one at a time) */
  groupId?: string;
  /** FIFO addresses: deduplication ID */
  dedupId?: string;
  /**
   * Standard addresses only (SQS refuses it on a FIFO queue): the message can be received only
   * this many seconds after it was sent (SQS DelaySeconds, whole seconds, 0–900).
   */
  delaySeconds?: number;
}

export interface MessageBus {
  /**
   * Send messages to an address (a queue URL for SQS; any name in memory), in as few requests as
   * the transport allows. `what` names them in the error when some were refused: a BusSendError
   * (shared/errors.ts) with each refusal's reason. Messages accepted before the refusal stay sent.
   */
  send(address: string, messages: BusMessage[], what: string): Promise<void>;
}
