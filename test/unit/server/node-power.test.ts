/**
 * Node power with its I/O (shared/server/node-power.ts), over the in-memory site and its test
 * clock: the cycle powers a pool node on, the MOM's hello brings it up, the tick asks for the
 * cycle that powers it off after idleOff; the conditional writes keep a stale hello, or a MOM
 * that still runs something, from leaving a node recorded wrong.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { makeSweeperHandler } from "../../../lambdas/handlers.js";
import { nodeInfo } from "../../../shared/server/objects.js";
import { siteTick } from "../../../shared/server/tick.js";
import { type MemorySite, memorySite } from "../../fixtures/memory-site.js";

const CONFIG = {
  sites: [
    {
      name: "casper",
      server: "casper-pbs",
      queues: [{ name: "casper" }],
      nodePools: [{ name: "burst", kind: "process", idleOff: 60, bootTimeout: 30 }],
      nodes: [{ name: "p1", ncpus: 4, mem: "8gb", pool: "burst" }],
    },
  ],
};

let s: MemorySite;
let ons: string[];
let offs: string[];
let busyMom: boolean;
beforeEach(async () => {
  s = await memorySite({ config: CONFIG });
  s.ctx.pools = new Map([
    ["burst", { name: "burst", idleOffMs: 60_000, bootTimeoutMs: 30_000, startsPerMinute: 10 }],
  ]);
  ons = [];
  offs = [];
  busyMom = false;
  // the executor's power side, recorded (a fake, as the fixture's dispatch is)
  Object.assign(s.executor, {
    powerOn: async (n: string) => void ons.push(n),
    powerOff: async (n: string) => {
      if (busyMom) throw new Error(`MOM on ${n} still runs 1 job(s)`);
      offs.push(n);
    },
  });
});

async function node(): Promise<{ state: string; attrs: Record<string, unknown> }> {
  const o = (await s.store.getServerObjects()).find((x) => x.kind === "node" && x.name === "p1");
  if (!o) throw new Error("no node p1");
  return { state: nodeInfo(o).state, attrs: o.attrs };
}
async function tick(): Promise<void> {
  await makeSweeperHandler(s.ctx)();
  await s.settle();
}

describe("a pool node", () => {
  it("is powered on by a job, up at its hello, powered off by the tick's cycle idleOff after its job", async () => {
    expect((await node()).state).toBe("sleep");
    expect((await siteTick(s.ctx)).hasWork).toBe(false); // asleep and nothing queued: idle site
    const id = await s.submit("alice", "true\n", { resources: { select: "1:ncpus=2" } });
    await s.settle();
    expect(ons).toEqual(["p1"]);
    expect((await node()).state).toBe("provisioning");
    expect((await s.job(id)).state).toBe("Q");
    // another cycle before the hello wakes nothing more
    await tick();
    expect(ons).toEqual(["p1"]);

    await s.hello("p1", "p1:mom");
    await s.settle();
    expect((await node()).state).toBe("free");
    expect((await s.job(id)).state).toBe("R");
    expect(s.metrics.totals.NodesPoweredOn).toBe(1);

    await s.obit(id);
    await s.settle();
    expect((await s.job(id)).state).toBe("F");
    expect((await node()).attrs.idle_since).toBeDefined();
    s.clock.advance(59_000);
    await tick();
    expect(offs).toEqual([]);
    s.clock.advance(1_000);
    expect((await siteTick(s.ctx)).touched.has("default")).toBe(true);
    await tick();
    expect(offs).toEqual(["p1"]);
    expect((await node()).state).toBe("sleep");
    expect((await siteTick(s.ctx)).hasWork).toBe(false);
  });

  it("a job placed on it names the MOM of the node's current power-on (momIdFor gets its power_on_at)", async () => {
    const asked: [string, number | undefined][] = [];
    const momIdFor = s.executor.momIdFor.bind(s.executor);
    Object.assign(s.executor, {
      momIdFor: (host: string, _key: string, _runCount: number, at?: number) => {
        asked.push([host, at]);
        return momIdFor(host);
      },
    });
    await s.submit("alice", "true\n", { resources: { select: "1:ncpus=2" } });
    await s.settle();
    const at = (await node()).attrs.power_on_at;
    expect(at).toBeTypeOf("number");
    await s.hello("p1", "p1:mom");
    await s.settle();
    expect(asked).toEqual([["p1", at]]);
  });

  it("stays up when its MOM still runs something, and a stale hello does not wake a sleeping node", async () => {
    await s.submit("alice", "true\n");
    await s.settle();
    await s.hello("p1", "p1:mom");
    await s.settle();
    const id = s.executor.ids()[0];
    await s.obit(id);
    await s.settle();
    s.clock.advance(60_000);
    busyMom = true;
    await tick();
    expect((await node()).state).toBe("free");
    expect(s.logs.join("\n")).toMatch(/still runs 1 job/);
    busyMom = false;
    s.clock.advance(59_000);
    await tick();
    expect((await node()).state).toBe("free");
    s.clock.advance(1_000); // idle again from the refused power-off: asked again idleOff later
    await tick();
    expect((await node()).state).toBe("sleep");
    // a late hello of the MOM just stopped
    await s.hello("p1", "p1:mom2");
    await s.settle();
    expect((await node()).state).toBe("sleep");
  });

  it("goes back to sleep with a comment when its MOM does not say hello within the boot timeout", async () => {
    const id = await s.submit("alice", "true\n");
    await s.settle();
    s.clock.advance(30_000);
    await tick();
    const n = await node();
    expect(n.state).toBe("sleep");
    expect(String(n.attrs.comment)).toMatch(/did not come up within 30 s/);
    expect(s.metrics.totals.NodeBootTimeouts).toBe(1);
    expect(offs).toEqual(["p1"]); // whatever half-started MOM there is, stopped
    // the job still waits; the next minute's power-on is allowed again, and its hello clears the comment
    expect((await s.job(id)).state).toBe("Q");
    s.clock.advance(60_000);
    await tick();
    expect((await node()).state).toBe("provisioning");
    await s.hello("p1", "p1:mom3");
    await s.settle();
    expect((await node()).attrs.comment).toBeUndefined();
    expect((await s.job(id)).state).toBe("R");
  });
});
