/**
 * Issue 12: a peer's inbox may be in another region, and SigV4 binds the region: the bus sends
 * there through a client of that region (made once), and to its own queues through its own.
 */
import { SendMessageCommand, SQSClient } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { describe, expect, it } from "vitest";
import { regionOfQueueUrl, SqsBus } from "../../../shared/adapters/sqs/bus.js";

describe("SqsBus: clients signed for the queue's region", () => {
  it("reads the region of AWS queue URLs, and none of other URLs", () => {
    expect(regionOfQueueUrl("https://sqs.us-west-2.amazonaws.com/111122223333/mq-derecho-inbox")).toBe(
      "us-west-2",
    );
    expect(regionOfQueueUrl("https://sqs.cn-north-1.amazonaws.com.cn/1/q")).toBe("cn-north-1");
    expect(regionOfQueueUrl("https://eu-central-1.queue.amazonaws.com/1/q")).toBe("eu-central-1");
    expect(regionOfQueueUrl("http://localhost/000000000000/q")).toBeUndefined();
    expect(regionOfQueueUrl("not a url")).toBeUndefined();
  });

  it("sends to a peer's inbox in another region through that region's client, made once", async () => {
    const own = new SQSClient({ region: "us-east-1" });
    const made: string[] = [];
    const peerClients = new Map<string, SQSClient>();
    const peerMocks: ReturnType<typeof mockClient>[] = [];
    const bus = new SqsBus(
      own,
      (region) => {
        made.push(region);
        const c = new SQSClient({ region });
        const m = mockClient(c);
        m.on(SendMessageCommand).resolves({});
        peerMocks.push(m);
        peerClients.set(region, c);
        return c;
      },
      "us-east-1",
    );
    const ownMock = mockClient(own);
    ownMock.on(SendMessageCommand).resolves({});
    const msg = [{ body: "{}" }];
    await bus.send("https://sqs.us-east-1.amazonaws.com/1/mq-casper-events", msg, "event");
    await bus.send("https://sqs.us-west-2.amazonaws.com/2/mq-derecho-inbox", msg, "offer");
    await bus.send("https://sqs.us-west-2.amazonaws.com/2/mq-derecho-inbox", msg, "offer");
    expect(made).toEqual(["us-west-2"]);
    const peer = peerClients.get("us-west-2") as SQSClient;
    expect(await peer.config.region()).toBe("us-west-2");
    expect(ownMock.commandCalls(SendMessageCommand).map((c) => c.args[0].input.QueueUrl)).toEqual([
      "https://sqs.us-east-1.amazonaws.com/1/mq-casper-events",
    ]);
    expect(peerMocks[0].commandCalls(SendMessageCommand)).toHaveLength(2);
    ownMock.restore();
    for (const m of peerMocks) m.restore();
  });
});
