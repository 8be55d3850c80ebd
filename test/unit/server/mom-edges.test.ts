/**
 * The server's side of the MOM channel's edges (issue 12) over the in-memory site, through the
 * events handler: a refused run is requeued once however often its refusal is delivered, with
 * the MOM's reason and no accounting, and held after maxRunRefusals; a MOM's `norun` is
 * recorded once in the job's trace, and only about the run it names, from its node.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { inspectStore } from "../../../shared/adapters/memory/index.js";
import { momKey, signReport } from "../../../shared/auth/mom-report.js";
import type { NoRunReport } from "../../../shared/ports/index.js";
import { TOO_MANY_REFUSALS } from "../../../shared/server/job-end.js";
import { deleteJob } from "../../../shared/server/ops.js";
import { type MemorySite, memorySite, startJob } from "../../fixtures/memory-site.js";

let s: MemorySite;
beforeEach(async () => {
  s = await memorySite({ settings: { maxRunRefusals: 2 } });
});

const acctOf = (id: string) =>
  inspectStore(s.store)
    .acct.filter((a) => a.jobId === id)
    .map((a) => a.type);
const lines = async (id: string, text: string) =>
  (await s.job(id)).hist.filter((h) => h.message.includes(text)).length;
/** Deliver every waiting event twice (SQS at-least-once): both copies in one batch. */
function duplicateEvents(): void {
  for (const m of s.bus.peek("events")) void s.bus.send("events", [m], "duplicate");
}

describe("a refused run", () => {
  it("is requeued once, with the MOM's reason, however often the refusal comes; no R or E record", async () => {
    const j = await startJob(s, "alice", "true\n");
    await s.obit(j.id, {
      exitStatus: -10,
      refused: "user",
      comment: "MOM n1:x refused the run (user): no alice",
    });
    duplicateEvents();
    await s.runEvents();
    const q = await s.job(j.id);
    expect(q).toMatchObject({
      state: "Q",
      refusals: 1,
      comment: "Job requeued: MOM n1:x refused the run (user): no alice",
    });
    expect(q.momId).toBeUndefined();
    expect(await lines(j.id, "Job requeued:")).toBe(1);
    expect(await lines(j.id, "qrerun")).toBe(0);
    expect(acctOf(j.id)).toEqual(["Q", "S"]);
    expect(s.metrics.totals["RunsRefused|reason=user,node=n1"]).toBe(1);
  });

  it("is held (hold s) at maxRunRefusals, with PBS's comment and the last reason in the trace", async () => {
    const j = await startJob(s, "alice", "true\n");
    await s.obit(j.id, { exitStatus: -3, refused: "closing", comment: "MOM closing" });
    await s.settle(); // requeued, and started again by the cycle the requeue asked for
    expect((await s.job(j.id)).runCount).toBe(2);
    await s.obit(j.id, { exitStatus: -3, refused: "closing", comment: "MOM closing" });
    await s.runEvents();
    expect(await s.job(j.id)).toMatchObject({
      state: "H",
      holds: "s",
      refusals: 2,
      comment: TOO_MANY_REFUSALS,
    });
    expect(await lines(j.id, "Job held after 2 refused runs (last: MOM closing)")).toBe(1);
  });

  it("of a job qdel asked for ends it deleted, not requeued", async () => {
    const j = await startJob(s, "alice", "sleep 9\n");
    await deleteJob(s.ctx, j.id, s.actor("alice"));
    expect((await s.job(j.id)).delReq).toBe(true);
    await s.obit(j.id, { exitStatus: -3, refused: "spec", comment: "bad spec" });
    await s.runEvents();
    expect(await s.job(j.id)).toMatchObject({ state: "F" });
    expect((await s.job(j.id)).refusals).toBeUndefined();
  });
});

describe("a MOM's norun", () => {
  const norun = async (id: string, over: Partial<NoRunReport> = {}) => {
    const j = await s.job(id);
    const body: NoRunReport = {
      type: "norun",
      jobId: j.id,
      runCount: j.runCount,
      momId: j.momId as string,
      asked: "SIGUSR1",
      askedAt: 1_000_000,
      ...over,
    };
    const env = signReport(
      momKey(s.ctx.momSecret as string, body.momId),
      body.momId,
      "norun",
      body,
      s.clock.now(),
    );
    await s.bus.send(s.ctx.queueUrls.events, [{ body: JSON.stringify({ type: "mom", ...env }) }], "norun");
  };

  it("is recorded once in the trace, and only about the run it names, from its node", async () => {
    const j = await startJob(s, "alice", "sleep 9\n");
    await norun(j.id);
    duplicateEvents();
    await s.runEvents();
    const said = "signal SIGUSR1 not delivered (asked at 1970-01-01T00:16:40.000Z)";
    expect(await lines(j.id, said)).toBe(1);
    expect((await s.job(j.id)).state).toBe("R");
    // another request of the same signal is another line; a kill says so
    await norun(j.id, { askedAt: 2_000_000 });
    await norun(j.id, { asked: "kill" });
    // another run's, or another node's MOM: nothing
    await norun(j.id, { runCount: 7, asked: "SIGTERM" });
    await norun(j.id, { momId: "n2:zz", asked: "SIGHUP" });
    await s.runEvents();
    expect(await lines(j.id, "signal SIGUSR1 not delivered")).toBe(2);
    expect(await lines(j.id, "kill not delivered")).toBe(1);
    expect(await lines(j.id, "SIGTERM")).toBe(0);
    expect(await lines(j.id, "SIGHUP")).toBe(0);
  });
});
