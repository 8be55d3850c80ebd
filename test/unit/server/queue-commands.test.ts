/**
 * qorder, qrun and qsig over the in-memory site (shared/server/order.ts, signal.ts,
 * shared/scheduler/run-now.ts): who may use them, in which states, and what the scheduler and
 * the MOMs see afterwards.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { MetaqueueError } from "../../../shared/errors.js";
import { runJobNow } from "../../../shared/scheduler/run-now.js";
import { releaseJob } from "../../../shared/server/ops.js";
import { orderJobs } from "../../../shared/server/order.js";
import { signalJob } from "../../../shared/server/signal.js";
import { type MemorySite, memorySite, startJob } from "../../fixtures/memory-site.js";

let s: MemorySite;
beforeEach(async () => {
  s = await memorySite();
});

async function refusal(p: Promise<unknown>): Promise<MetaqueueError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "the operation should have been refused").toBeInstanceOf(MetaqueueError);
  return err as MetaqueueError;
}

/** Three held jobs that each need the whole site, submitted a second apart. */
async function threeWholeSiteJobs(): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < 3; i++) {
    ids.push(await s.submit("alice", "true\n", { hold: true, resources: { select: "2:ncpus=4" } }));
    s.clock.advance(1_000);
  }
  return ids;
}

describe("qorder", () => {
  it("the two jobs trade places: the later one starts first", async () => {
    const [j1, j2, j3] = await threeWholeSiteJobs();
    await orderJobs(s.ctx, j1, j3, s.actor("alice"));
    for (const id of [j1, j2, j3]) await releaseJob(s.ctx, id, s.actor("alice"));
    await s.settle();
    expect(s.executor.ids()).toEqual([j3]);
    // qstat's qtime is untouched; the trace says who swapped them
    const a = await s.job(j1);
    const c = await s.job(j3);
    expect(a.qtime).toBeLessThan(c.qtime);
    expect(c.hist.map((h) => h.message)).toContain(`Job order swapped with ${j1} by alice`);
  });

  it("without qorder the first submitted starts first", async () => {
    const [j1, j2, j3] = await threeWholeSiteJobs();
    for (const id of [j1, j2, j3]) await releaseJob(s.ctx, id, s.actor("alice"));
    await s.settle();
    expect(s.executor.ids()).toEqual([j1]);
  });

  it("refuses a running job, another user's job and an unknown one", async () => {
    const r = await startJob(s, "alice");
    const q = await s.submit("alice", "true\n", { hold: true });
    const b = await s.submit("bob", "true\n", { hold: true });
    expect((await refusal(orderJobs(s.ctx, r.id, q, s.actor("alice")))).pbs).toBe("BADSTATE");
    expect((await refusal(orderJobs(s.ctx, q, b, s.actor("alice")))).pbs).toBe("PERM");
    expect((await refusal(orderJobs(s.ctx, q, "999.casper", s.actor("alice")))).pbs).toBe("UNKJOBID");
    // a manager may order anyone's jobs
    await orderJobs(s.ctx, q, b, s.actor("root"));
  });
});

describe("qrun", () => {
  it("starts a job its stopped queue keeps waiting, for a manager only", async () => {
    await s.setAttrs("queue", "casper", { started: false });
    const id = await s.submit("alice", "true\n");
    await s.settle();
    expect((await s.job(id)).state).toBe("Q");
    expect((await refusal(runJobNow(s.ctx, id, s.actor("alice")))).pbs).toBe("PERM");
    await runJobNow(s.ctx, id, s.actor("root"));
    expect(await s.job(id)).toMatchObject({ state: "R" });
    expect(s.executor.ids()).toEqual([id]);
  });

  it("-H puts it on the node named, and refuses an unknown node", async () => {
    const id = await s.submit("alice", "true\n", { hold: true });
    await releaseJob(s.ctx, id, s.actor("alice"));
    await s.setAttrs("queue", "casper", { started: false });
    expect((await refusal(runJobNow(s.ctx, id, s.actor("root"), "n9"))).pbs).toBe("UNKNODE");
    await runJobNow(s.ctx, id, s.actor("root"), "n2");
    expect((await s.job(id)).execHost).toMatch(/^n2\//);
  });

  it("does not exceed the node's resources, and refuses a job that is not queued", async () => {
    const big = await startJob(s, "alice", "true\n", { resources: { select: "2:ncpus=4" } });
    const id = await s.submit("alice", "true\n");
    const err = await refusal(runJobNow(s.ctx, id, s.actor("root")));
    expect(err.pbs).toBe("RESCUNAV");
    expect(err.message).toMatch(/^Resource temporarily unavailable /);
    expect((await s.job(id)).state).toBe("Q");
    expect((await refusal(runJobNow(s.ctx, big.id, s.actor("root")))).pbs).toBe("BADSTATE");
  });
});

describe("qsig", () => {
  it("sends the signal to the running job's MOM, by name or number", async () => {
    const j = await startJob(s, "alice");
    await signalJob(s.ctx, j.id, s.actor("alice"), "usr1");
    await signalJob(s.ctx, j.id, s.actor("root"), "12");
    await signalJob(s.ctx, j.id, s.actor("alice"));
    expect(s.executor.signals.map((x) => [x.jobId, x.momId, x.signal])).toEqual([
      [j.id, j.momId, "SIGUSR1"],
      [j.id, j.momId, "SIGUSR2"],
      [j.id, j.momId, "SIGTERM"],
    ]);
    expect((await s.job(j.id)).hist.at(-1)?.message).toBe("Signal SIGTERM sent by alice");
  });

  it("refuses what PBS refuses, with PBS's errors", async () => {
    const j = await startJob(s, "alice");
    const q = await s.submit("alice", "true\n", { hold: true });
    expect((await refusal(signalJob(s.ctx, j.id, s.actor("alice"), "SIGNOPE"))).pbs).toBe("UNKSIG");
    expect((await refusal(signalJob(s.ctx, j.id, s.actor("bob"), "USR1"))).pbs).toBe("PERM");
    expect((await refusal(signalJob(s.ctx, q, s.actor("alice"), "USR1"))).pbs).toBe("BADSTATE");
    expect((await refusal(signalJob(s.ctx, j.id, s.actor("root"), "suspend"))).pbs).toBe("NOSUP");
    expect(s.executor.signals).toEqual([]);
  });
});
