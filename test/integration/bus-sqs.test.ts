/**
 * SqsBus on the SQS emulator (fauxqs): the bus contract, and what only SQS has (how many
 * requests a send takes, SQS's own reason kept as the error's cause).
 */
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeSqsClient, type SqsEmulator, startSqsEmulator } from "../../infra/local/sqs.js";
import { SqsBus } from "../../shared/adapters/sqs/bus.js";
import { BusSendError } from "../../shared/errors.js";
import { requestCounts, resetRequestCounts } from "../../shared/adapters/aws-clients.js";
import { busContract, type Received } from "../contract/bus.contract.js";

let emu: SqsEmulator;
let sqs: SQSClient;
let bus: SqsBus;

beforeAll(async () => {
  emu = await startSqsEmulator();
  sqs = makeSqsClient(emu.endpoint);
  bus = new SqsBus(sqs);
});

afterAll(async () => {
  sqs?.destroy();
  await emu?.stop();
});

let n = 0;
async function queue(fifo: boolean): Promise<string> {
  const name = `bus-${++n}${fifo ? ".fifo" : ""}`;
  const r = await sqs.send(
    new CreateQueueCommand({ QueueName: name, Attributes: fifo ? { FifoQueue: "true" } : {} }),
  );
  return String(r.QueueUrl);
}

/** Receive and delete until `want` distinct bodies arrived or 15 s passed. */
async function receive(queueUrl: string, want: number): Promise<Received[]> {
  const got: Received[] = [];
  const seen = new Set<string>();
  const deadline = Date.now() + 15_000;
  while (seen.size < want && Date.now() < deadline) {
    const r = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageSystemAttributeNames: ["MessageGroupId"],
      }),
    );
    const msgs = r.Messages ?? [];
    for (const m of msgs) {
      got.push({ body: String(m.Body), groupId: m.Attributes?.MessageGroupId });
      seen.add(String(m.Body));
    }
    // deleting is what lets a FIFO queue hand out the group's next message
    if (msgs.length)
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: msgs.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
  }
  return got;
}

busContract("SqsBus on the SQS emulator", () => ({
  bus,
  address: queue,
  receive,
  receiveNow: async (queueUrl) => {
    const r = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 0 }),
    );
    return (r.Messages ?? []).map((m) => ({ body: String(m.Body) }));
  },
  elapse: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  // A FIFO queue refuses a message without a group ID: as an exception for a single
  // SendMessage, as a Failed entry inside a SendMessageBatch. (A body over 256 KB would do on
  // SQS, but the emulator accepts those.)
  refused: async (count) => {
    const address = await queue(true);
    const bad = Math.floor(count / 2);
    const messages = Array.from({ length: count }, (_, i) => ({
      body: `m${i}`,
      groupId: i === bad ? undefined : "g",
      dedupId: `d${n}-${i}`,
    }));
    return { address, messages };
  },
}));

describe("SqsBus requests", () => {
  const sent = () =>
    Object.fromEntries(Object.entries(requestCounts).filter(([k]) => k.startsWith("sqs.Send")));

  it("one message is one SendMessage; 23 are three SendMessageBatch; none is no request", async () => {
    const to = await queue(false);
    resetRequestCounts();
    await bus.send(to, [{ body: "solo" }], "one");
    expect(sent()).toEqual({ "sqs.SendMessage": 1 });
    resetRequestCounts();
    await bus.send(
      to,
      Array.from({ length: 23 }, (_, i) => ({ body: `b${i}` })),
      "23",
    );
    expect(sent()).toEqual({ "sqs.SendMessageBatch": 3 });
    resetRequestCounts();
    await bus.send(to, [], "none");
    expect(sent()).toEqual({});
  });

  it("a refused batch entry's error says SQS's code and reason; a refused request keeps SQS's error as cause", async () => {
    const to = await queue(true);
    const batch = await bus
      .send(
        to,
        [
          { body: "ok", groupId: "g", dedupId: "x1" },
          { body: "no group", dedupId: "x2" },
        ],
        "a pair",
      )
      .catch((e: unknown) => e);
    expect(batch).toBeInstanceOf(BusSendError);
    expect((batch as BusSendError).reasons).toEqual([
      expect.stringMatching(/^MissingParameter: .*MessageGroupId/),
    ]);
    const single = await bus
      .send(to, [{ body: "no group", dedupId: "x3" }], "a single")
      .catch((e: unknown) => e);
    expect(single).toBeInstanceOf(BusSendError);
    expect((single as BusSendError).message).toMatch(/^could not send a single: .*MessageGroupId/);
    expect(((single as BusSendError).cause as Error).name).toMatch(/MissingParameter/);
  });
});
