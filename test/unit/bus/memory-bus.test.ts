import { describe, expect, it } from "vitest";
import { MemoryBus } from "../../../shared/adapters/memory/bus.js";
import { BusSendError } from "../../../shared/errors.js";
import { busContract } from "../../contract/bus.contract.js";
import { TestClock } from "../../fixtures/memory-site.js";

let n = 0;
busContract("MemoryBus", () => {
  const clock = new TestClock(1_000_000);
  const bus = new MemoryBus(clock);
  const take = (address: string, max?: number) =>
    bus.take(address, max).map(({ body, groupId }) => ({ body, groupId }));
  return {
    bus,
    address: async (fifo) => `mem-${++n}${fifo ? ".fifo" : ""}`,
    receive: async (address, max) => take(address, max),
    receiveNow: async (address) => take(address),
    elapse: async (ms) => clock.advance(ms),
    refused: async (count) => {
      bus.refuseNext(1);
      return {
        address: `mem-${++n}`,
        messages: Array.from({ length: count }, (_, i) => ({ body: `m${i}` })),
      };
    },
  };
});

describe("MemoryBus test helpers", () => {
  it("take removes in order, peek does not, count counts per address and in all", async () => {
    const bus = new MemoryBus();
    await bus.send("q", [{ body: "1" }, { body: "2" }, { body: "3" }], "t");
    await bus.send("r", [{ body: "x" }], "t");
    expect(bus.count()).toBe(4);
    expect(bus.peek("q").map((m) => m.body)).toEqual(["1", "2", "3"]);
    expect(bus.take("q", 2).map((m) => m.body)).toEqual(["1", "2"]);
    expect(bus.count("q")).toBe(1);
    expect(bus.addresses().sort()).toEqual(["q", "r"]);
    expect(bus.take("q").map((m) => m.body)).toEqual(["3"]);
    expect(bus.take("nowhere")).toEqual([]);
    expect(bus.addresses()).toEqual(["r"]);
  });

  it("refuseNext(n) refuses exactly the next n sends, accepting none of their messages", async () => {
    const bus = new MemoryBus();
    bus.refuseNext(2);
    await expect(bus.send("q", [{ body: "a" }], "first")).rejects.toBeInstanceOf(BusSendError);
    await expect(bus.send("q", [{ body: "b" }, { body: "c" }], "second")).rejects.toThrow(
      "could not send second",
    );
    expect(bus.count("q")).toBe(0);
    await bus.send("q", [{ body: "d" }], "third");
    expect(bus.take("q").map((m) => m.body)).toEqual(["d"]);
  });

  it("counts a delayed message apart until its time, as SQS does", async () => {
    const clock = new TestClock(1_000_000);
    const bus = new MemoryBus(clock);
    await bus.send("q", [{ body: "later", delaySeconds: 1 }, { body: "now" }], "t");
    expect([bus.count("q"), bus.delayed("q"), bus.addresses()]).toEqual([1, 1, ["q"]]);
    expect(bus.take("q").map((m) => m.body)).toEqual(["now"]);
    expect([bus.count(), bus.delayed(), bus.addresses(), bus.peek("q")]).toEqual([0, 1, [], []]);
    clock.advance(999);
    expect(bus.take("q")).toEqual([]);
    clock.advance(1);
    expect(bus.peek("q").map((m) => m.body)).toEqual(["later"]);
    expect(bus.take("q").map((m) => m.body)).toEqual(["later"]);
    expect([bus.count(), bus.delayed()]).toEqual([0, 0]);
  });

  it("keeps what was sent even if the caller changes its message objects afterwards", async () => {
    const bus = new MemoryBus();
    const m = { body: "before" };
    await bus.send("q", [m], "t");
    m.body = "after";
    expect(bus.take("q")[0].body).toBe("before");
  });
});
