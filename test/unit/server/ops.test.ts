/**
 * The job operations (shared/server/ops.ts, move.ts) over the in-memory site: qdel of queued,
 * held and running jobs, qhold/qrls, qalter, qrerun and qmove, each with who may use it and in
 * which states. The integration suite's "holds and releases", "qdel of a running job",
 * "qalter, qmove and qrerun" and the privilege checks, without the stack.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { inspectStore } from "../../../shared/adapters/memory/index.js";
import { MetaqueueError } from "../../../shared/errors.js";
import { moveJob } from "../../../shared/server/move.js";
import { alterJob, deleteJob, holdJob, releaseJob, rerunJob } from "../../../shared/server/ops.js";
import { type MemorySite, memorySite, startJob } from "../../fixtures/memory-site.js";

let s: MemorySite;
beforeEach(async () => {
  s = await memorySite();
});

async function codeOf(p: Promise<unknown>): Promise<string> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "the operation should have been refused").toBeInstanceOf(MetaqueueError);
  return (err as MetaqueueError).code;
}

const acctOf = (id: string) =>
  inspectStore(s.store)
    .acct.filter((a) => a.jobId === id)
    .map((a) => a.type);

describe("qdel", () => {
  it("a queued or held job ends at once: F, a D record, no kill", async () => {
    const q = await s.submit("alice", "true\n");
    const h = await s.submit("alice", "true\n", { hold: true });
    // (the accounting trail is in time order: a later instant for the end)
    s.clock.advance(1_000);
    for (const id of [q, h]) {
      await deleteJob(s.ctx, id, s.actor("alice"));
      const j = await s.job(id);
      expect(j).toMatchObject({ state: "F", comment: "Job deleted at request of alice" });
      expect(acctOf(id)).toEqual(["Q", "D"]);
    }
    expect(s.executor.kills).toEqual([]);
    // and the next cycle does not start it
    await s.settle();
    expect(s.executor.dispatched).toEqual([]);
  });

  it("a running job is killed, and its obituary ends it with a D record", async () => {
    const j = await startJob(s, "alice");
    await deleteJob(s.ctx, j.id, s.actor("alice"));
    expect(s.executor.kills).toEqual([{ jobId: j.id, momId: j.momId, runCount: 1, reason: "qdel" }]);
    expect(await s.job(j.id)).toMatchObject({ state: "R", delReq: true });
    // a second qdel while the kill is under way asks the MOM again, and writes nothing new
    const ver = (await s.job(j.id)).ver;
    await deleteJob(s.ctx, j.id, s.actor("alice"));
    expect(s.executor.kills).toHaveLength(2);
    expect((await s.job(j.id)).ver).toBe(ver);

    s.clock.advance(2_000);
    await s.obit(j.id, { exitStatus: 271, killedFor: "qdel" });
    await s.settle();
    const end = await s.job(j.id);
    expect(end).toMatchObject({ state: "F", exitStatus: 271 });
    expect(end.comment).toMatch(/^Job deleted at request of alice/);
    expect(acctOf(j.id)).toEqual(["Q", "S", "D"]);
  });

  it("refuses another user's job (403) and a finished job (409); a manager may delete any job", async () => {
    const id = await s.submit("alice", "true\n", { hold: true });
    expect(await codeOf(deleteJob(s.ctx, id, s.actor("bob")))).toBe("Unauthorized");
    expect((await s.job(id)).state).toBe("H");
    await deleteJob(s.ctx, id, s.actor("root"));
    expect((await s.job(id)).state).toBe("F");
    expect(await codeOf(deleteJob(s.ctx, id, s.actor("alice")))).toBe("InvalidState");
    expect(await codeOf(deleteJob(s.ctx, "999.casper", s.actor("alice")))).toBe("UnknownObject");
  });

  it("a subjob that has not started leaves its array's indices; deleting the last ends the array", async () => {
    const id = await s.submit("alice", "true\n", { arrayRange: "1-2", hold: true });
    const seq = id.split("[")[0];
    await deleteJob(s.ctx, `${seq}[1].casper`, s.actor("alice"));
    expect((await s.job(id)).array?.indices).toEqual([2]);
    await deleteJob(s.ctx, `${seq}[2].casper`, s.actor("alice"));
    expect((await s.job(id)).state).toBe("F");
  });
});

describe("qhold and qrls", () => {
  it("hold makes a queued job H and the scheduler leaves it; release queues it and asks for a cycle", async () => {
    const id = await s.submit("alice", "true\n");
    // held before its cycle runs: the cycle the submit asked for must not start it
    await holdJob(s.ctx, id, s.actor("alice"));
    expect(await s.job(id)).toMatchObject({ state: "H", holds: "u" });
    await s.settle();
    expect(s.executor.dispatched).toEqual([]);

    await releaseJob(s.ctx, id, s.actor("alice"));
    expect(await s.job(id)).toMatchObject({ state: "Q", holds: "" });
    expect(s.bus.peek("sched").map((m) => JSON.parse(m.body).reason)).toEqual(["release"]);
    await s.settle();
    expect(s.executor.ids()).toEqual([id]);
  });

  it("hold types: u by the owner, o by an operator or manager, s by a manager only", async () => {
    const id = await s.submit("alice", "true\n", { hold: true });
    expect(await codeOf(holdJob(s.ctx, id, s.actor("alice"), "o"))).toBe("Unauthorized");
    expect(await codeOf(holdJob(s.ctx, id, s.actor("alice"), "s"))).toBe("Unauthorized");
    const operator = { user: "op", privileged: true, operator: true };
    await holdJob(s.ctx, id, operator, "o");
    expect(await codeOf(holdJob(s.ctx, id, operator, "s"))).toBe("Unauthorized");
    await holdJob(s.ctx, id, s.actor("root"), "s");
    expect((await s.job(id)).holds).toBe("uos");
    // alice's release of her own hold leaves the others: still held
    await releaseJob(s.ctx, id, s.actor("alice"));
    expect(await s.job(id)).toMatchObject({ state: "H", holds: "os" });
    await releaseJob(s.ctx, id, s.actor("root"), "o");
    await releaseJob(s.ctx, id, s.actor("root"), "s");
    expect(await s.job(id)).toMatchObject({ state: "Q", holds: "" });
  });

  it("refuses another user's job, and a running job cannot be held", async () => {
    const id = await s.submit("alice", "true\n", { hold: true });
    expect(await codeOf(releaseJob(s.ctx, id, s.actor("bob")))).toBe("Unauthorized");
    expect(await codeOf(holdJob(s.ctx, id, s.actor("bob")))).toBe("Unauthorized");
    expect((await s.job(id)).holds).toBe("u");
    const r = await startJob(s, "alice");
    expect(await codeOf(holdJob(s.ctx, r.id, s.actor("alice")))).toBe("InvalidState");
  });

  it("a subjob that has not started is held with its array, not on its own", async () => {
    const id = await s.submit("alice", "true\n", { arrayRange: "1-3", hold: true });
    const seq = id.split("[")[0];
    expect(await codeOf(holdJob(s.ctx, `${seq}[2].casper`, s.actor("alice")))).toBe("InvalidState");
    await releaseJob(s.ctx, id, s.actor("alice"));
    expect((await s.job(id)).state).toBe("Q");
  });
});

describe("qalter", () => {
  it("changes name, priority, walltime and resources of a held job, and the job still runs", async () => {
    const id = await s.submit("alice", "true\n", { hold: true, name: "before" });
    await alterJob(s.ctx, id, s.actor("alice"), {
      name: "after",
      priority: 5,
      resources: { walltime: "00:02:00", select: "1:ncpus=2" },
    });
    const j = await s.job(id);
    expect(j).toMatchObject({ name: "after", priority: 5, walltime: 120 });
    expect(j.rl).toMatchObject({ walltime: "00:02:00", ncpus: "2", select: "1:ncpus=2" });
    // PBS fixes Output_Path at submission: a renamed job still writes before.o<seq>
    expect(j.outPath).toBe(`/home/alice/before.o${j.seq}`);
    expect(j.hist.at(-1)?.message).toBe("Job attributes altered by alice");
    await releaseJob(s.ctx, id, s.actor("alice"));
    await s.settle();
    expect(s.executor.dispatched[0]).toMatchObject({ jobId: id, name: "after", walltime: 120, ncpus: 2 });
  });

  it("refuses: a running job (409), another user's job (403), a queue change, and the queue's limits", async () => {
    const held = await s.submit("alice", "true\n", { hold: true });
    const before = await s.job(held);
    expect(await codeOf(alterJob(s.ctx, held, s.actor("bob"), { name: "stolen" }))).toBe("Unauthorized");
    expect(await codeOf(alterJob(s.ctx, held, s.actor("alice"), { queue: "other" }))).toBe("BadAlter");
    expect(
      await codeOf(alterJob(s.ctx, held, s.actor("alice"), { resources: { walltime: "02:00:00" } })),
    ).toBe("ExceedsQueueLimit");
    expect((await s.job(held)).ver).toBe(before.ver);

    const r = await startJob(s, "alice");
    expect(await codeOf(alterJob(s.ctx, r.id, s.actor("alice"), { name: "late" }))).toBe("InvalidState");
    // a manager may alter any job that has not started
    await alterJob(s.ctx, held, s.actor("root"), { name: "managed" });
    expect((await s.job(held)).name).toBe("managed");
  });

  it("refuses an alter that would take the job over maxJobBytes (413), and leaves it as it was", async () => {
    const id = await s.submit("alice", "true\n", { hold: true });
    const vars: Record<string, string> = {};
    for (let i = 0; i < 6; i++) vars[`MORE${i}`] = "z".repeat(60 * 1024);
    const err = await alterJob(s.ctx, id, s.actor("alice"), { variables: vars }).catch((e) => e);
    expect(err).toMatchObject({ code: "JobTooLarge", status: 413, exitCode: 166 });
    expect(err.message).toMatch(/^Job after qalter too large: /);
    expect((await s.job(id)).env.MORE0).toBeUndefined();
  });
});

describe("qrerun", () => {
  it("needs an operator or manager, even for one's own job", async () => {
    const j = await startJob(s, "alice");
    expect(await codeOf(rerunJob(s.ctx, j.id, s.actor("alice")))).toBe("Unauthorized");
    expect(s.executor.kills).toEqual([]);
  });

  it("kills the run; its obituary requeues the job, which runs again with run_count 2", async () => {
    const j = await startJob(s, "alice");
    await rerunJob(s.ctx, j.id, s.actor("root"));
    expect(s.executor.kills).toEqual([{ jobId: j.id, momId: j.momId, runCount: 1, reason: "rerun" }]);
    s.clock.advance(5_000);
    await s.obit(j.id, { exitStatus: 271, killedFor: "rerun" });
    await s.settle();
    const again = await s.job(j.id);
    expect(again).toMatchObject({ state: "R", runCount: 2 });
    expect(s.executor.ids()).toEqual([j.id, j.id]);
    // the requeue wrote no end record: only the second start
    expect(acctOf(j.id)).toEqual(["Q", "S", "S"]);
  });

  it("refuses a job that is not running, or not rerunnable (409)", async () => {
    const held = await s.submit("alice", "true\n", { hold: true });
    expect(await codeOf(rerunJob(s.ctx, held, s.actor("root")))).toBe("InvalidState");
    const once = await startJob(s, "alice", "true\n", { rerunnable: false });
    expect(await codeOf(rerunJob(s.ctx, once.id, s.actor("root")))).toBe("InvalidState");
  });
});

describe("qmove", () => {
  it("moves a held job to another queue of this server (PBS_O_QUEUE follows), not a running one", async () => {
    await s.setAttrs("queue", "other", { queue_type: "Execution", enabled: true, started: true });
    const id = await s.submit("alice", "true\n", { hold: true });
    await moveJob(s.ctx, id, s.actor("alice"), "other");
    const j = await s.job(id);
    expect(j).toMatchObject({ queue: "other", env: expect.objectContaining({ PBS_O_QUEUE: "other" }) });
    expect(await codeOf(moveJob(s.ctx, id, s.actor("bob"), "casper"))).toBe("Unauthorized");
    expect(await codeOf(moveJob(s.ctx, id, s.actor("alice"), "nosuch"))).toBe("UnknownQueue");
    expect(await codeOf(moveJob(s.ctx, id, s.actor("alice"), "casper@nowhere"))).toBe("UnknownServer");
    const r = await startJob(s, "alice");
    expect(await codeOf(moveJob(s.ctx, r.id, s.actor("alice"), "other"))).toBe("InvalidState");
  });
});
