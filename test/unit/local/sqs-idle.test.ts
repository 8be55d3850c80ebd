/**
 * The SQS emulator's long polls while nothing happens (issue 14, "idle is idle"): fauxqs looks
 * at a queue every 20 ms for as long as a long poll waits on it; infra/local/sqs.ts makes it look
 * when a visibility timeout or delay is due, and still delivers what becomes visible to a waiting
 * long poll on time. Against the real emulator, through the SDK.
 */
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ensureQueues,
  idleStore,
  makeSqsClient,
  nextDueIn,
  type SqsEmulator,
  startSqsEmulator,
} from "../../../infra/local/sqs.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("idle long polls on the SQS emulator", () => {
  it("an empty queue with a waiting long poll is looked at about once a second, not every 20 ms", async () => {
    const store = (await idleStore()) as {
      createQueue(
        name: string,
        url: string,
        arn: string,
        attrs: Record<string, string>,
      ): {
        processTimers(): void;
        waitForMessages(s: number): Promise<void>;
        cancelWaiters(): void;
      };
    };
    const q = store.createQueue("q", "http://x/000000000000/q", "arn:aws:sqs:us-east-1:000000000000:q", {});
    let looks = 0;
    const real = q.processTimers.bind(q);
    q.processTimers = () => {
      looks++;
      real();
    };
    const waited = q.waitForMessages(2);
    await sleep(1_500);
    q.cancelWaiters();
    await waited;
    // fauxqs's own 20 ms interval: ~75 looks in 1.5 s
    expect(looks).toBeLessThanOrEqual(3);
  });

  it("nextDueIn: the earliest visibility deadline or delay end, within 20 ms .. 1 s", () => {
    const now = Date.now();
    const q = (inflight: number[], delayed: number[], fifo: number[]) => ({
      inflightMessages: new Map(inflight.map((d, i) => [String(i), { visibilityDeadline: now + d }])),
      delayedMessages: delayed.map((d) => ({ delayUntil: now + d })),
      fifoDelayed: new Map([["g", fifo.map((d) => ({ delayUntil: now + d }))]]),
    });
    expect(nextDueIn(q([], [], []))).toBe(1_000);
    expect(nextDueIn(q([400, 900], [], []))).toBeGreaterThan(350);
    expect(nextDueIn(q([400, 900], [], []))).toBeLessThanOrEqual(400);
    expect(nextDueIn(q([900], [300], []))).toBeLessThanOrEqual(300);
    expect(nextDueIn(q([900], [], [250]))).toBeLessThanOrEqual(250);
    expect(nextDueIn(q([-50], [], []))).toBe(20);
  });

  describe("through the SDK", () => {
    let emu: SqsEmulator;
    let url: string;
    const sqs = () => makeSqsClient(emu.endpoint);
    beforeAll(async () => {
      emu = await startSqsEmulator();
      const urls = await ensureQueues(sqs(), [{ name: "idle-q", visibilityTimeoutSec: 30 }] as never);
      url = urls["idle-q"];
    });
    afterAll(async () => {
      await emu?.stop();
    });

    it("a message sent while a long poll waits is received at once", async () => {
      const c = sqs();
      const t0 = Date.now();
      const got = c.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 5 }));
      await sleep(200);
      await c.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "now" }));
      const out = await got;
      expect(out.Messages?.[0]?.Body).toBe("now");
      expect(Date.now() - t0).toBeLessThan(1_500);
      await c.send(
        new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: out.Messages?.[0]?.ReceiptHandle }),
      );
    });

    it("a message whose visibility runs out goes to a waiting long poll when it is due, not at the wait's end", async () => {
      const c = sqs();
      await c.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "again" }));
      const first = await c.send(
        new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 0, VisibilityTimeout: 2 }),
      );
      expect(first.Messages?.[0]?.Body).toBe("again");
      const t0 = Date.now();
      // nothing visible now: the poll waits, and the message comes back 2 s after the first receive
      const second = await c.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 10 }));
      expect(second.Messages?.[0]?.Body).toBe("again");
      expect(Date.now() - t0).toBeLessThan(3_500);
      await c.send(
        new DeleteMessageCommand({ QueueUrl: url, ReceiptHandle: second.Messages?.[0]?.ReceiptHandle }),
      );
    });

    it("a delayed message goes to a waiting long poll when its delay ends", async () => {
      const c = sqs();
      const t0 = Date.now();
      const got = c.send(new ReceiveMessageCommand({ QueueUrl: url, WaitTimeSeconds: 10 }));
      await sleep(100);
      await c.send(new SendMessageCommand({ QueueUrl: url, MessageBody: "later", DelaySeconds: 2 }));
      const out = await got;
      expect(out.Messages?.[0]?.Body).toBe("later");
      const took = Date.now() - t0;
      expect(took).toBeGreaterThanOrEqual(1_900);
      expect(took).toBeLessThan(4_000);
    });
  });
});
