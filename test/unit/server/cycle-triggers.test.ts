/**
 * Cycle triggers asked for in one turn of the event loop (the submissions of one group commit)
 * go to the scheduler queue as one message per partition, each caller resolved only after it.
 */
import { beforeEach, describe, expect, it } from "vitest";
import type { BusMessage } from "../../../shared/ports/index.js";
import { triggerCycles } from "../../../shared/server/messages.js";
import { type MemorySite, memorySite } from "../../fixtures/memory-site.js";

let s: MemorySite;
let sent: { address: string; messages: BusMessage[] }[];
beforeEach(async () => {
  s = await memorySite();
  sent = [];
  const send = s.ctx.bus.send.bind(s.ctx.bus);
  s.ctx.bus.send = async (address, messages, what) => {
    sent.push({ address, messages });
    return send(address, messages, what);
  };
});

/** Two turns of the event loop: a batch is sent at the turn after it is asked for. */
const turn = async () => {
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
};

const partitionsSent = () =>
  sent.flatMap((b) => b.messages.map((m) => (JSON.parse(m.body) as { partition: string }).partition));

describe("triggerCycles", () => {
  it("sends the triggers of one turn as one message per partition, after every call", async () => {
    const calls = [
      triggerCycles(s.ctx, ["default"], "submit"),
      triggerCycles(s.ctx, ["default"], "submit"),
      triggerCycles(s.ctx, ["default", "gpu"], "obit"),
    ];
    expect(sent).toEqual([]);
    await Promise.all(calls);
    expect(sent).toHaveLength(1);
    expect(partitionsSent().sort()).toEqual(["default", "gpu"]);
  });

  it("a trigger asked for after a batch went out gets a message of its own", async () => {
    await triggerCycles(s.ctx, ["default"], "submit");
    await triggerCycles(s.ctx, ["default"], "submit");
    expect(partitionsSent()).toEqual(["default", "default"]);
  });

  it("triggers asked for while a batch is being sent go as one message, sent after it", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const send = s.ctx.bus.send.bind(s.ctx.bus);
    let sending = 0;
    s.ctx.bus.send = async (address, messages, what) => {
      sending++;
      await gate; // the first send is slow: the queue has not answered yet
      return send(address, messages, what);
    };
    let firstDone = false;
    const first = triggerCycles(s.ctx, ["default"], "submit").then(() => {
      firstDone = true;
    });
    await turn();
    expect(sending).toBe(1);
    // three more triggers while the first message is in flight, in different turns of the loop
    let laterDone = 0;
    const later: Promise<void>[] = [];
    for (const part of ["default", "gpu", "default"]) {
      later.push(
        triggerCycles(s.ctx, [part], "submit").then(() => {
          laterDone++;
        }),
      );
      await turn();
    }
    expect(sending).toBe(1);
    release();
    await first;
    await Promise.all(later);
    expect(firstDone).toBe(true);
    expect(laterDone).toBe(3);
    // one message for the first call, one batch after it for the three others
    expect(sent).toHaveLength(2);
    expect(sent[0].messages.map((m) => JSON.parse(m.body).partition)).toEqual(["default"]);
    expect(sent[1].messages.map((m) => JSON.parse(m.body).partition).sort()).toEqual(["default", "gpu"]);
  });

  it("a failed send fails its own callers only; the next batch is still sent", async () => {
    const send = s.ctx.bus.send.bind(s.ctx.bus);
    let n = 0;
    s.ctx.bus.send = async (address, messages, what) => {
      if (n++ === 0) throw new Error("queue unreachable");
      return send(address, messages, what);
    };
    const first = triggerCycles(s.ctx, ["default"], "submit").catch((e: Error) => e);
    await turn();
    const second = triggerCycles(s.ctx, ["default"], "submit");
    expect(((await first) as Error).message).toMatch(/unreachable/);
    await second;
    // two sends: the failed one (not recorded by the wrapper it never reached), then the next
    expect(n).toBe(2);
    expect(partitionsSent()).toEqual(["default"]);
  });

  it("sixteen concurrent submissions ask for one cycle message", async () => {
    await Promise.all(Array.from({ length: 16 }, () => s.submit("alice", "true\n")));
    expect(partitionsSent().filter((p) => p === "default").length).toBeLessThanOrEqual(2);
  });
});
