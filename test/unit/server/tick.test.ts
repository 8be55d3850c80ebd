/**
 * Which partitions the sweeper's tick asks for a cycle: those with a queued job (the safety net
 * for a lost trigger), never an idle one (idle is idle: its cycle would only offer room to peers,
 * which ask for that themselves with BACKLOG).
 */
import { beforeEach, describe, expect, it } from "vitest";
import { holdJob } from "../../../shared/server/ops.js";
import { siteTick, sweepTick } from "../../../shared/server/tick.js";
import { type MemorySite, memorySite } from "../../fixtures/memory-site.js";

let s: MemorySite;
beforeEach(async () => {
  s = await memorySite();
});

describe("sweepTick's cycle triggers", () => {
  it("asks for no cycle when nothing is queued", async () => {
    expect([...(await sweepTick(s.ctx))]).toEqual([]);
  });

  it("asks the partition of a queued job for a cycle, and stops once the job is held", async () => {
    const id = await s.submit("alice", "true\n");
    const j = await s.job(id);
    expect(j.state).toBe("Q");
    expect([...(await sweepTick(s.ctx))]).toEqual([j.partition]);
    await holdJob(s.ctx, id, s.actor("alice"));
    expect((await s.job(id)).state).toBe("H");
    expect([...(await sweepTick(s.ctx))]).toEqual([]);
  });
});

describe("siteTick", () => {
  it("an idle site reads only whether it has work, and says it was idle; a queued job makes it busy", async () => {
    const before = s.ctx.store;
    let calls = 0;
    // count the store reads of an idle tick: the sweeps must not run
    s.ctx.store = new Proxy(before, {
      get(target, prop, recv) {
        const v = Reflect.get(target, prop, recv);
        if (typeof v !== "function") return v;
        return (...a: unknown[]) => {
          calls++;
          return v.apply(target, a);
        };
      },
    });
    const idle = await siteTick(s.ctx);
    expect(idle.hasWork).toBe(false);
    expect([...idle.touched]).toEqual([]);
    const queues = (await before.getServerObjects()).filter((o) => o.kind === "queue").length;
    // queryTransfers, the server objects, one listJobs per queue
    expect(calls).toBeLessThanOrEqual(2 + queues);
    s.ctx.store = before;
    const id = await s.submit("alice", "true\n");
    const busy = await siteTick(s.ctx);
    expect(busy.hasWork).toBe(true);
    expect([...busy.touched]).toEqual([(await s.job(id)).partition]);
  });
});
