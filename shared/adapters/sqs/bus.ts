/**
 * The message bus on SQS (and on the SQS emulator locally): the one way messages go onto a
 * queue. Ten per SendMessageBatch (SQS's limit), a single message as a plain SendMessage (one
 * request either way, and the simpler call), and any entry SQS refuses turned into a
 * BusSendError, so the caller's handler fails and SQS redelivers its input.
 *
 * Retries: the client's own retry strategy (shared/adapters/aws-clients.ts) re-sends a request that
 * failed as a whole (throttling, a dropped connection). An entry refused inside a batch that
 * succeeded is not retried here: SQS refuses entries for what they are (too large, missing a
 * group ID), so the same entry would be refused again. No library was taken for the batching:
 * sqs-producer (the maintained one) sends one queue per producer, always as a batch, and reports
 * only the IDs of refused entries, not why.
 *
 * A send that fails part-way leaves the earlier batches sent: the bus delivers at least once, and
 * every receiver already takes a message twice (redelivery does the same).
 */
import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { BusSendError } from "../../errors.js";
import type { BusMessage, MessageBus } from "../../ports/bus.js";

/** SQS's most entries in one SendMessageBatch. */
export const SQS_BATCH_MAX = 10;

/**
 * The region of an SQS queue URL (`https://sqs.<region>.amazonaws.com[.cn]/<account>/<name>`, or
 * the legacy `https://<region>.queue.amazonaws.com/...`); undefined for any other URL (the local
 * emulator's, a VPC endpoint's), which goes through the bus's own client.
 */
export function regionOfQueueUrl(url: string): string | undefined {
  let host: string;
  try {
    host = new URL(url).hostname;
  } catch {
    return undefined;
  }
  const m =
    /^sqs\.([a-z]{2}(?:-[a-z]+)+-\d+)\.amazonaws\.com(?:\.cn)?$/.exec(host) ??
    /^([a-z]{2}(?:-[a-z]+)+-\d+)\.queue\.amazonaws\.com(?:\.cn)?$/.exec(host);
  return m?.[1];
}

export class SqsBus implements MessageBus {
  private readonly byRegion = new Map<string, SQSClient>();

  /**
   * `sqs` sends to this site's own queues. A peer's inbox may be in another region, and a
   * request signed for the wrong region is refused (SigV4 binds the region): `clientFor` makes
   * the client of such a region (once; kept), and without it everything goes through `sqs`.
   */
  constructor(
    private readonly sqs: SQSClient,
    private readonly clientFor?: (region: string) => SQSClient,
    private readonly region?: string,
  ) {}

  private clientOf(queueUrl: string): SQSClient {
    const r = regionOfQueueUrl(queueUrl);
    if (!r || !this.clientFor || r === this.region) return this.sqs;
    let c = this.byRegion.get(r);
    if (!c) {
      c = this.clientFor(r);
      this.byRegion.set(r, c);
    }
    return c;
  }

  async send(address: string, messages: BusMessage[], what: string): Promise<void> {
    // In order, one batch after the other: a FIFO group's messages keep their order across
    // batches only if a batch is sent after the one before it was accepted.
    for (let i = 0; i < messages.length; i += SQS_BATCH_MAX) {
      await this.sendChunk(address, messages.slice(i, i + SQS_BATCH_MAX), what);
    }
  }

  private async sendChunk(queueUrl: string, chunk: BusMessage[], what: string): Promise<void> {
    let failed: string[];
    const sqs = this.clientOf(queueUrl);
    try {
      if (chunk.length === 1) {
        const m = chunk[0];
        await sqs.send(
          new SendMessageCommand({
            QueueUrl: queueUrl,
            MessageBody: m.body,
            MessageGroupId: m.groupId,
            MessageDeduplicationId: m.dedupId,
            DelaySeconds: m.delaySeconds,
          }),
        );
        return;
      }
      const r = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: chunk.map((m, j) => ({
            Id: String(j),
            MessageBody: m.body,
            MessageGroupId: m.groupId,
            MessageDeduplicationId: m.dedupId,
            DelaySeconds: m.delaySeconds,
          })),
        }),
      );
      failed = (r.Failed ?? []).map((f) => `${f.Code ?? "refused"}: ${f.Message ?? "no reason given"}`);
    } catch (err) {
      // the request as a whole was refused (after the SDK's retries): keep SQS's error as cause
      throw new BusSendError(what, [(err as Error).message ?? String(err)], { cause: err });
    }
    if (failed.length) throw new BusSendError(what, failed);
  }
}
