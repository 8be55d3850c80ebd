/**
 * resources_used while a job runs: the sweeper copies the MOM's heartbeat figures into the job,
 * at most once per usedUpdateMs of walltime, and never over the obituary's final ones.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { jobView } from "../../../shared/api/render.js";
import { momKey, signBeat } from "../../../shared/auth/mom-report.js";
import type { JobRecord } from "../../../shared/server/job.js";
import { sweepTick } from "../../../shared/server/tick.js";
import { type MemorySite, memorySite, startJob } from "../../fixtures/memory-site.js";

let s: MemorySite;
beforeEach(async () => {
  s = await memorySite();
});

/** The job's MOM beats now, reporting `walltime` seconds used. */
async function beat(j: JobRecord, walltime: number): Promise<void> {
  const momId = j.momId as string;
  const jobs = [
    { jobId: j.id, runCount: j.runCount, used: { walltime, cput: walltime / 2, mem: 5 * 1024 * 1024 } },
  ];
  await s.store.putMomBeat(signBeat(momKey(s.ctx.momSecret as string, momId), momId, jobs, s.clock.now()));
}

describe("resources_used of a running job", () => {
  it("grows from the heartbeats, rewritten once per usedUpdateMs, shown by qstat -f", async () => {
    const j = await startJob(s, "alice");
    expect(s.ctx.settings.usedUpdateMs).toBe(60_000);
    s.clock.advance(30_000);
    await beat(j, 30);
    await sweepTick(s.ctx);
    let cur = await s.job(j.id);
    expect(cur.used).toEqual({ walltime: 30, cput: 15, mem: 5 * 1024 * 1024, ncpus: 1 });
    expect(jobView(cur, s.ctx.site).attributes.resources_used).toEqual({
      cput: "00:00:15",
      mem: "5mb",
      ncpus: 1,
      walltime: "00:00:30",
    });

    // 59 s later: not yet worth a write
    const ver = cur.ver;
    s.clock.advance(59_000);
    await beat(j, 89);
    await sweepTick(s.ctx);
    cur = await s.job(j.id);
    expect(cur.ver).toBe(ver);
    expect(cur.used?.walltime).toBe(30);

    s.clock.advance(1_000);
    await beat(j, 90);
    await sweepTick(s.ctx);
    cur = await s.job(j.id);
    expect(cur.used?.walltime).toBe(90);
  });

  it("takes only the figures of the job's current run", async () => {
    const j = await startJob(s, "alice");
    s.clock.advance(30_000);
    // a beat about another run of the job (an earlier MOM's): nothing of it is this run's usage
    await beat({ ...j, runCount: j.runCount + 1 }, 30);
    await sweepTick(s.ctx);
    expect((await s.job(j.id)).used).toBeUndefined();
  });
});
