/**
 * The message bus in memory, for tests and the in-memory site: per address, the messages sent
 * and not yet taken, in the order they were sent. One list per address keeps every FIFO group's
 * order (a stricter order than SQS gives across groups, which no caller may rely on).
 *
 * A message sent with `delaySeconds` is there only once that much of the bus's clock has passed
 * (the in-memory site's test clock): `take`, `peek`, `count` and `addresses` see the messages a
 * receiver would get now, as SQS counts delayed messages apart; `delayed` counts those still held.
 *
 * `refuseNext(n)` makes the next n calls of `send` throw a BusSendError and accept none of their
 * messages, so a test can drive the path where the bus refuses a message.
 */
import { BusSendError } from "../../errors.js";
import type { BusMessage, MessageBus } from "../../ports/bus.js";
import { type Clock, systemClock } from "../../ports/clock.js";

/** A message as held: what was sent, and when it may be received (epoch ms). */
interface Held {
  m: BusMessage;
  at: number;
}

export class MemoryBus implements MessageBus {
  private readonly queues = new Map<string, Held[]>();
  private refusals = 0;

  constructor(private readonly clock: Clock = systemClock) {}

  async send(address: string, messages: BusMessage[], what: string): Promise<void> {
    if (this.refusals > 0) {
      this.refusals--;
      throw new BusSendError(
        what,
        messages.map(() => "refused (MemoryBus.refuseNext)"),
      );
    }
    let q = this.queues.get(address);
    if (!q) {
      q = [];
      this.queues.set(address, q);
    }
    const now = this.clock.now();
    // copies: a caller changing its array or objects afterwards does not change what was sent
    for (const m of messages) q.push({ m: { ...m }, at: now + (m.delaySeconds ?? 0) * 1000 });
  }

  /** Make the next `n` sends throw, accepting nothing. */
  refuseNext(n = 1): void {
    this.refusals += n;
  }

  /** Remove and return the oldest `max` messages of an address that may be received now (all without `max`). */
  take(address: string, max?: number): BusMessage[] {
    const q = this.queues.get(address);
    if (!q) return [];
    const now = this.clock.now();
    const out: BusMessage[] = [];
    const kept: Held[] = [];
    for (const h of q) {
      if (h.at <= now && out.length < (max ?? Number.POSITIVE_INFINITY)) out.push(h.m);
      else kept.push(h);
    }
    q.splice(0, q.length, ...kept);
    return out;
  }

  /** The messages of an address that may be received now, oldest first, without removing them. */
  peek(address: string): BusMessage[] {
    return this.ready(address).map((h) => ({ ...h.m }));
  }

  /** How many messages may be received now at an address, or at all addresses. */
  count(address?: string): number {
    return this.chosen(address).reduce((n, a) => n + this.ready(a).length, 0);
  }

  /** How many messages are held for their delay at an address, or at all addresses. */
  delayed(address?: string): number {
    return this.chosen(address).reduce(
      (n, a) => n + (this.queues.get(a)?.length ?? 0) - this.ready(a).length,
      0,
    );
  }

  /** The addresses that have messages to receive now. */
  addresses(): string[] {
    return [...this.queues.keys()].filter((a) => this.ready(a).length);
  }

  private ready(address: string): Held[] {
    const now = this.clock.now();
    return (this.queues.get(address) ?? []).filter((h) => h.at <= now);
  }

  /** One address, or every address that has had messages. */
  private chosen(address: string | undefined): string[] {
    return address !== undefined ? [address] : [...this.queues.keys()];
  }
}
