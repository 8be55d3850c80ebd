/**
 * The one way messages go onto an SQS queue: ten per SendMessageBatch (SQS's limit), a single
 * message as a plain SendMessage (one request either way, and the cheaper call), and any entry
 * SQS refuses turned into an error, so the caller's handler fails and SQS redelivers its input.
 */
import { SendMessageBatchCommand, SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";

export interface OutgoingMessage {
  body: string;
  /** FIFO queues: the message group (one partition's cycles run one at a time) */
  groupId?: string;
  /** FIFO queues: deduplication ID */
  dedupId?: string;
}

/** SQS's most entries in one SendMessageBatch. */
export const SQS_BATCH_MAX = 10;

export async function sendMessages(
  sqs: SQSClient,
  queueUrl: string,
  messages: OutgoingMessage[],
  what: string,
): Promise<void> {
  for (let i = 0; i < messages.length; i += SQS_BATCH_MAX) {
    const chunk = messages.slice(i, i + SQS_BATCH_MAX);
    if (chunk.length === 1) {
      const m = chunk[0];
      await sqs.send(
        new SendMessageCommand({
          QueueUrl: queueUrl,
          MessageBody: m.body,
          MessageGroupId: m.groupId,
          MessageDeduplicationId: m.dedupId,
        }),
      );
      continue;
    }
    const r = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: queueUrl,
        Entries: chunk.map((m, j) => ({
          Id: String(j),
          MessageBody: m.body,
          MessageGroupId: m.groupId,
          MessageDeduplicationId: m.dedupId,
        })),
      }),
    );
    if (r.Failed?.length)
      throw new Error(`could not send ${what}: ${r.Failed.map((f) => f.Message).join("; ")}`);
  }
}
