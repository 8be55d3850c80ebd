/**
 * The message bus in memory, for tests and the in-memory site: per address, the messages sent
 * and not yet taken, in the order they were sent. One list per address keeps every FIFO group's
 * order (a stricter order than SQS gives across groups, which no caller may rely on).
 *
 * `refuseNext(n)` makes the next n calls of `send` throw a BusSendError and accept none of their
 * messages, so a test can drive the path where the bus refuses a message.
 */
import { BusSendError } from "../../errors.js";
import type { BusMessage, MessageBus } from "../../ports/bus.js";

export class MemoryBus implements MessageBus {
  private readonly queues = new Map<string, BusMessage[]>();
  private refusals = 0;

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
    // copies: a caller changing its array or objects afterwards does not change what was sent
    for (const m of messages) q.push({ ...m });
  }

  /** Make the next `n` sends throw, accepting nothing. */
  refuseNext(n = 1): void {
    this.refusals += n;
  }

  /** Remove and return the oldest `max` messages of an address (all of them without `max`). */
  take(address: string, max?: number): BusMessage[] {
    const q = this.queues.get(address);
    if (!q) return [];
    return q.splice(0, max ?? q.length);
  }

  /** The messages waiting at an address, oldest first, without removing them. */
  peek(address: string): BusMessage[] {
    return [...(this.queues.get(address) ?? [])];
  }

  /** How many messages wait at an address, or at all addresses. */
  count(address?: string): number {
    if (address !== undefined) return this.queues.get(address)?.length ?? 0;
    let n = 0;
    for (const q of this.queues.values()) n += q.length;
    return n;
  }

  /** The addresses that have messages waiting. */
  addresses(): string[] {
    return [...this.queues].filter(([, q]) => q.length).map(([a]) => a);
  }
}
