/**
 * The message bus contract (shared/ports/bus.ts), one suite for every adapter: run against
 * MemoryBus (test/unit/bus/memory-bus.test.ts) and SqsBus on the SQS emulator
 * (test/integration/bus-sqs.test.ts). What the domain relies on: every message sent arrives
 * with its body, however many one call sends; a FIFO group's messages arrive in the order they
 * were sent, across batches and calls; a delayed message arrives after its delay, not before; and a
 * call with a refused message throws, naming what it sent, instead of returning as if all had gone.
 */
import { describe, expect, it } from "vitest";
import { BusSendError } from "../../shared/errors.js";
import type { BusMessage, MessageBus } from "../../shared/ports/bus.js";

/** A message as it was received: its body and, on a FIFO address, its group. */
export interface Received {
  body: string;
  groupId?: string;
}

export interface BusHarness {
  bus: MessageBus;
  /** a new empty address (a FIFO one when asked) */
  address(fifo: boolean): Promise<string>;
  /**
   * Receive until `n` distinct messages have arrived (or a timeout), in the order the transport
   * hands them out, each taken off the address (a receiver that processed it). A FIFO
   * transport hands out a group's next message only after the one before it was taken.
   */
  receive(address: string, n: number): Promise<Received[]>;
  /** What a receiver would get from the address at this moment, without waiting (taken off it). */
  receiveNow(address: string): Promise<Received[]>;
  /** Let `ms` pass on the bus's clock (real time for a real transport). */
  elapse(ms: number): Promise<void>;
  /**
   * An address and `n` messages to send there of which the bus refuses at least one; with
   * n > 1 the refusal must come from inside a multi-message request where the transport has one.
   */
  refused(n: number): Promise<{ address: string; messages: BusMessage[] }>;
}

let seq = 0;
const unique = (tag: string) => `${tag}-${++seq}-${Math.random().toString(36).slice(2)}`;

/** Distinct bodies in first-arrival order (the bus delivers at least once). */
const firstArrivals = (got: Received[]) => [...new Map(got.map((r) => [r.body, r])).values()];

export function busContract(name: string, setup: () => BusHarness): void {
  describe(`MessageBus contract: ${name}`, () => {
    const h = () => setup();

    it("delivers a single message with its body, unchanged", async () => {
      const { bus, address, receive } = h();
      const to = await address(false);
      // JSON, non-ASCII, and characters a transport might escape
      const body = JSON.stringify({
        type: "cycle",
        partition: "p<1>&",
        reason: "été → ✓",
        id: unique("one"),
      });
      await bus.send(to, [{ body }], "one message");
      expect((await receive(to, 1)).map((r) => r.body)).toEqual([body]);
    });

    it("delivers every message of a call with more than ten (more than one SQS batch)", async () => {
      const { bus, address, receive } = h();
      const to = await address(false);
      const bodies = Array.from({ length: 23 }, (_, i) => unique(`many${i}`));
      await bus.send(
        to,
        bodies.map((body) => ({ body })),
        "many messages",
      );
      const got = firstArrivals(await receive(to, bodies.length));
      expect(got.map((r) => r.body).sort()).toEqual([...bodies].sort());
    });

    it("holds a delayed message for its delay, and delivers it after (a deferred BACKLOG)", async () => {
      const { bus, address, receive, receiveNow, elapse } = h();
      const to = await address(false);
      const later = unique("delayed");
      const now = unique("now");
      // 2 s, not 1: the check that it is held must run inside the delay on a loaded machine too
      await bus.send(to, [{ body: later, delaySeconds: 2 }, { body: now }], "one delayed, one not");
      expect((await receive(to, 1)).map((r) => r.body)).toEqual([now]);
      expect(await receiveNow(to)).toEqual([]);
      await elapse(2_100);
      expect(firstArrivals(await receive(to, 1)).map((r) => r.body)).toEqual([later]);
    });

    it("an empty call sends nothing and does not throw", async () => {
      const { bus, address, receive } = h();
      const to = await address(false);
      await bus.send(to, [], "nothing");
      const marker = unique("after-empty");
      await bus.send(to, [{ body: marker }], "marker");
      expect((await receive(to, 1)).map((r) => r.body)).toEqual([marker]);
    });

    it("keeps each FIFO group's order across batches and calls, and says which group", async () => {
      const { bus, address, receive } = h();
      const to = await address(true);
      const groups = ["a", "b", "c"];
      const sent: BusMessage[] = [];
      // 25 in the first call (three batches on SQS), 7 in the second; groups interleaved
      for (const size of [25, 7]) {
        const call = Array.from({ length: size }, (_, i) => {
          const groupId = groups[(sent.length + i) % groups.length];
          return { body: unique(`${groupId}${sent.length + i}`), groupId, dedupId: unique("d") };
        });
        await bus.send(to, call, "fifo messages");
        sent.push(...call);
      }
      const got = firstArrivals(await receive(to, sent.length));
      expect(got).toHaveLength(sent.length);
      for (const g of groups) {
        expect(got.filter((r) => r.groupId === g).map((r) => r.body)).toEqual(
          sent.filter((m) => m.groupId === g).map((m) => m.body),
        );
      }
    });

    it("throws a BusSendError naming what was sent when a single message is refused", async () => {
      const { bus, refused } = h();
      const { address, messages } = await refused(1);
      const err = await bus.send(address, messages, "the refused one").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BusSendError);
      expect((err as BusSendError).message).toContain("could not send the refused one");
      expect((err as BusSendError).reasons.length).toBeGreaterThan(0);
    });

    it("throws when one entry of a multi-message call is refused, even if others were accepted", async () => {
      const { bus, refused } = h();
      const { address, messages } = await refused(5);
      const err = await bus.send(address, messages, "five with a bad one").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(BusSendError);
      expect((err as BusSendError).what).toBe("five with a bad one");
      expect((err as BusSendError).reasons.join(" ")).not.toBe("");
    });
  });
}
