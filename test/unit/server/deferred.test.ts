/**
 * qsub -a (Execution_Time) over the in-memory site: the job waits in W, the scheduler never
 * starts it early, the sweeper's tick queues it when its time comes; holds and qalter -a.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { jobView } from "../../../shared/api/render.js";
import { planCycle, REASON } from "../../../shared/scheduler/plan.js";
import { triggerCycles } from "../../../shared/server/messages.js";
import { alterJob, holdJob, releaseJob } from "../../../shared/server/ops.js";
import { sweepTick } from "../../../shared/server/tick.js";
import { type MemorySite, memorySite, T0 } from "../../fixtures/memory-site.js";

let s: MemorySite;
beforeEach(async () => {
  s = await memorySite();
});
const HOUR = 3600_000;
const at = (ms: number) => Math.floor(ms / 1000);

describe("qsub -a", () => {
  it("waits in W until its Execution_Time, then the sweeper queues it and it runs", async () => {
    const id = await s.submit("alice", "sleep 1\n", { executionTime: at(T0 + HOUR) });
    let j = await s.job(id);
    expect(j.state).toBe("W");
    expect(j.etime).toBeUndefined();
    expect(jobView(j, s.ctx.site).attributes.Execution_Time).toBe(
      jobView({ ...j, ctime: at(T0 + HOUR) * 1000 }, s.ctx.site).attributes.ctime,
    );
    await s.settle();
    expect(s.executor.ids()).toEqual([]);

    // a tick before the time changes nothing
    s.clock.advance(HOUR / 2);
    await sweepTick(s.ctx);
    await s.settle();
    expect((await s.job(id)).state).toBe("W");

    s.clock.advance(HOUR / 2);
    const touched = await sweepTick(s.ctx);
    j = await s.job(id);
    expect(j.state).toBe("Q");
    expect(j.etime).toBe(s.clock.now());
    expect(touched.has(j.partition)).toBe(true);
    expect(j.hist.at(-1)?.message).toBe("Execution_Time reached: job queued");
    // as the sweeper entry does with what the tick touched
    await triggerCycles(s.ctx, touched, "tick");
    await s.settle();
    expect(s.executor.ids()).toEqual([id]);
  });

  it("a time already past queues the job at once", async () => {
    const id = await s.submit("alice", "true\n", { executionTime: at(T0 - HOUR) });
    expect((await s.job(id)).state).toBe("Q");
    await s.settle();
    expect(s.executor.ids()).toEqual([id]);
  });

  it("a hold wins; released before its time the job goes back to W, not Q", async () => {
    const id = await s.submit("alice", "true\n", { executionTime: at(T0 + HOUR), hold: true });
    expect((await s.job(id)).state).toBe("H");
    await releaseJob(s.ctx, id, s.actor("alice"));
    expect((await s.job(id)).state).toBe("W");
    await holdJob(s.ctx, id, s.actor("alice"));
    expect((await s.job(id)).state).toBe("H");
    s.clock.advance(2 * HOUR);
    await releaseJob(s.ctx, id, s.actor("alice"));
    expect((await s.job(id)).state).toBe("Q");
  });

  it("qalter -a moves the time either way", async () => {
    const id = await s.submit("alice", "true\n", { executionTime: at(T0 + HOUR) });
    await alterJob(s.ctx, id, s.actor("alice"), { executionTime: at(T0 - 60_000) });
    let j = await s.job(id);
    expect(j.state).toBe("Q");
    expect(j.execAt).toBe(at(T0 - 60_000) * 1000);
    await alterJob(s.ctx, id, s.actor("alice"), { executionTime: at(T0 + 2 * HOUR) });
    j = await s.job(id);
    expect(j.state).toBe("W");
    await s.settle();
    expect(s.executor.ids()).toEqual([]);
  });
});

describe("qalter -S and -W umask", () => {
  it("change what the MOM gets at the job's start; a bad value is refused", async () => {
    const id = await s.submit("alice", "true\n", { hold: true });
    await alterJob(s.ctx, id, s.actor("alice"), { shell: "/bin/zsh", attributes: { umask: "022" } });
    const j = await s.job(id);
    expect(j.extra).toMatchObject({ Shell_Path_List: "/bin/zsh", umask: "022" });
    await expect(alterJob(s.ctx, id, s.actor("alice"), { attributes: { umask: "9" } })).rejects.toThrow(
      "umask=9",
    );
    await releaseJob(s.ctx, id, s.actor("alice"));
    await s.settle();
    expect(s.executor.dispatched[0]).toMatchObject({
      shellPaths: "/bin/zsh",
      umask: 0o22,
      start: "home-login",
    });
  });
});

describe("the planner and Execution_Time", () => {
  const input = (execAt: number | undefined) => ({
    now: T0,
    nodes: [
      {
        name: "n1",
        state: "free" as const,
        resources: { ncpus: 4, mem: 0, ngpus: 0 },
        available: { ncpus: 4, mem: 0, ngpus: 0 },
      },
    ],
    running: [],
    candidates: [
      {
        id: "1",
        ver: 0,
        queue: "q",
        owner: "a",
        priority: 0,
        qtime: 0,
        seq: 1,
        select: [{ count: 1, ncpus: 1, mem: 0, ngpus: 0, mpiprocs: 1, other: {} }],
        ...(execAt !== undefined ? { execAt } : {}),
      },
    ],
    queues: [{ name: "q", priority: 0, started: true }],
    backfill: false,
    backfillDepth: 0,
  });

  it("never starts a candidate before its Execution_Time, and starts it from then on", () => {
    const early = planCycle(input(T0 + 1));
    expect(early.start).toEqual([]);
    expect(early.waiting["1"]).toBe(REASON.executionTime);
    expect(planCycle(input(T0)).start.map((d) => d.jobId)).toEqual(["1"]);
    expect(planCycle(input(undefined)).start.map((d) => d.jobId)).toEqual(["1"]);
  });
});
