import { describe, expect, it } from "vitest";
import { MemoryBus } from "../../../shared/adapters/memory/bus.js";
import { BusSendError } from "../../../shared/errors.js";
import { busContract } from "../../contract/bus.contract.js";

let n = 0;
busContract("MemoryBus", () => {
  const bus = new MemoryBus();
  return {
    bus,
    address: async (fifo) => `mem-${++n}${fifo ? ".fifo" : ""}`,
    receive: async (address, max) => bus.take(address, max).map(({ body, groupId }) => ({ body, groupId })),
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

  it("keeps what was sent even if the caller changes its message objects afterwards", async () => {
    const bus = new MemoryBus();
    const m = { body: "before" };
    await bus.send("q", [m], "t");
    m.body = "after";
    expect(bus.take("q")[0].body).toBe("before");
  });
});
