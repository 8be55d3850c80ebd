/**
 * Issue 12: a lost MOM's run is stopped (the executor's stopLost: ECS StopTask) before its job is
 * requeued, so a task that only went silent does not run the job beside its new run; a stop
 * that fails leaves the job running until the next sweep.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { makeSweeperHandler } from "../../../lambdas/handlers.js";
import { type MemorySite, memorySite, startJob } from "../../fixtures/memory-site.js";

let s: MemorySite;
beforeEach(async () => {
  s = await memorySite();
});

describe("a lost MOM's run is stopped before its job is requeued", () => {
  it("the sweeper stops the run (the job still R at that moment), then requeues the job", async () => {
    const j = await startJob(s, "alice");
    const seen: string[] = [];
    const record = s.executor.stopLost.bind(s.executor);
    s.executor.stopLost = async (job, why) => {
      seen.push(`${(await s.job(job.jobId)).state}/${(await s.job(job.jobId)).runCount}`);
      await record(job, why);
    };
    s.clock.advance(s.ctx.settings.dispatchGraceMs + 1_000);
    await makeSweeperHandler(s.ctx)();
    await s.settle();
    expect(s.executor.lostStops).toEqual([
      { jobId: j.id, momId: j.momId, runCount: 1, why: `MOM ${j.momId} never reported` },
    ]);
    expect(seen).toEqual(["R/1"]);
    expect((await s.job(j.id)).runCount).toBe(2);
  });

  it("a stop that fails leaves the job running; the next sweep stops and requeues it", async () => {
    const j = await startJob(s, "alice");
    const sweep = makeSweeperHandler(s.ctx);
    s.executor.stopFails = true;
    s.clock.advance(s.ctx.settings.dispatchGraceMs + 1_000);
    await sweep();
    await s.settle();
    expect(await s.job(j.id)).toMatchObject({ state: "R", runCount: 1 });
    expect(s.executor.lostStops).toEqual([]);
    s.executor.stopFails = false;
    await sweep();
    await s.settle();
    expect(s.executor.lostStops.map((x) => x.runCount)).toEqual([1]);
    expect((await s.job(j.id)).runCount).toBe(2);
  });
});
