/**
 * Heartbeat items are bounded: they live apart from the server objects (so loading those never
 * walks past them), expire, and a per-run MOM's item goes with its run's obituary, so the
 * number of heartbeat items does not grow with the number of runs ever made.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { momKey, signBeat } from "../../../shared/auth/mom-report.js";
import { MOM_BEAT_KEEP_S } from "../../../shared/adapters/dynamodb/table.js";
import type { JobRecord } from "../../../shared/server/job.js";
import { type MemorySite, memorySite, startJob } from "../../fixtures/memory-site.js";

let s: MemorySite;
beforeEach(async () => {
  s = await memorySite();
});

async function beat(momId: string, runs: JobRecord[]): Promise<void> {
  const jobs = runs.map((j) => ({ jobId: j.id, runCount: j.runCount }));
  await s.store.putMomBeat(signBeat(momKey(s.ctx.momSecret as string, momId), momId, jobs, s.clock.now()));
}

const beatItems = () => s.store.table.peek("MOM#");

describe("heartbeat items", () => {
  it("do not grow with runs of per-run MOMs (as on ECS): each goes with its run's obituary", async () => {
    // one MOM per run, as EcsExecutor names them
    const perRun = (_host: string, key: string, runCount: number) => `ecs:${key}:${runCount}`;
    Object.assign(s.executor, { momIdFor: perRun, momPerRun: true });
    for (let i = 0; i < 5; i++) {
      const j = await startJob(s, "alice");
      expect(j.momId).toBe(`ecs:${j.key}:1`);
      await beat(j.momId as string, [j]);
      expect(beatItems()).toHaveLength(1);
      await s.obit(j.id, { exitStatus: 0 });
      await s.settle();
      expect((await s.job(j.id)).state).toBe("F");
    }
    expect(beatItems()).toHaveLength(0);
    // and none of it was ever in the server objects' partition
    expect(s.store.table.peek("SRV").filter((it) => String(it.sk).includes("MOM"))).toEqual([]);
  });

  it("a node's MOM still running another job keeps its beat after one job's obituary", async () => {
    const a = await startJob(s, "alice");
    const b = await startJob(s, "bob");
    expect(a.momId).toBe(b.momId); // both on n1's MOM
    await beat(a.momId as string, [a, b]);
    await s.obit(a.id);
    await s.settle();
    const beats = await s.store.getMomBeats([a.momId as string]);
    expect(beats.get(a.momId as string)?.jobs.map((x) => x.jobId)).toEqual([a.id, b.id]);
  });

  it("a node's MOM keeps its one item after its only run's obituary (no delete per job)", async () => {
    const a = await startJob(s, "alice");
    await beat(a.momId as string, [a]);
    await s.obit(a.id);
    await s.settle();
    expect((await s.job(a.id)).state).toBe("F");
    // its next beat replaces the item; nothing was deleted for the job
    expect(beatItems()).toHaveLength(1);
  });

  it("carry an expiry some hours after the beat", async () => {
    const a = await startJob(s, "alice");
    await beat(a.momId as string, [a]);
    const [it] = beatItems();
    expect(it.expiresAt).toBe(Math.floor(s.clock.now() / 1000) + MOM_BEAT_KEEP_S);
  });
});
