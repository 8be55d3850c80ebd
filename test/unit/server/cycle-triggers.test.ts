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

  it("sixteen concurrent submissions ask for one cycle message", async () => {
    await Promise.all(Array.from({ length: 16 }, () => s.submit("alice", "true\n")));
    expect(partitionsSent().filter((p) => p === "default").length).toBeLessThanOrEqual(2);
  });
});
