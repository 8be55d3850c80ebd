/**
 * Job ends (shared/server/job-end.ts) through the events handler, over the in-memory site:
 * obituaries end jobs with their accounting record and charge their project exactly once (SQS
 * delivers at least once, and two ends may race), dependencies are released or cancelled,
 * arrays finish with their last subjob, and a run whose MOM never reports is requeued.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { makeSweeperHandler } from "../../../lambdas/handlers.js";
import { inspectStore } from "../../../shared/adapters/memory/index.js";
import { handleObituary, jobLost } from "../../../shared/server/job-end.js";
import { momKey, signBeat } from "../../../shared/auth/mom-report.js";
import type { Obituary } from "../../../shared/ports/index.js";
import { type MemorySite, memorySite, startJob } from "../../fixtures/memory-site.js";

let s: MemorySite;
beforeEach(async () => {
  s = await memorySite();
});

const acctOf = (id: string) =>
  inspectStore(s.store)
    .acct.filter((a) => a.jobId === id)
    .map((a) => a.type);

/** Deliver every waiting event twice (SQS at-least-once): both copies in one batch. */
function duplicateEvents(): void {
  for (const m of s.bus.peek("events")) void s.bus.send("events", [m], "duplicate");
}

/** Store calls yield a varying number of microtasks, so concurrent handlers interleave. */
function interleave(): void {
  let n = 0;
  s.store.yields = () => (n++ * 7) % 5;
}

describe("obituaries", () => {
  it("end the job: F with Exit_status and resources_used, an E record, and a cycle for the room it freed", async () => {
    const j = await startJob(s, "alice", "true\n", { resources: { select: "1:ncpus=2" } });
    s.clock.advance(60_000);
    await s.obit(j.id, { exitStatus: 0, walltime: 60 });
    await s.runEvents();
    const end = await s.job(j.id);
    expect(end).toMatchObject({
      state: "F",
      exitStatus: 0,
      obittime: s.clock.now(),
      used: { walltime: 60, ncpus: 2 },
    });
    expect(end.hist.at(-1)?.message).toMatch(/^Exit_status=0 resources_used.walltime=00:01:00/);
    expect(acctOf(j.id)).toEqual(["Q", "S", "E"]);
    const e = inspectStore(s.store).acct.find((a) => a.type === "E");
    expect(e?.data).toMatchObject({
      Exit_status: 0,
      "resources_used.walltime": "00:01:00",
      exec_host: j.execHost,
    });
    expect(s.bus.peek("sched").map((m) => JSON.parse(m.body))).toEqual([
      { type: "cycle", partition: "default", reason: "events" },
    ]);
  });

  it("a run killed for its walltime ends with Exit_status -29 and the MOM's reason as the comment", async () => {
    const j = await startJob(s, "alice", "sleep 30\n", { resources: { walltime: "00:00:01" } });
    expect(s.executor.dispatched[0].walltime).toBe(1);
    s.clock.advance(2_000);
    await s.obit(j.id, {
      exitStatus: -29,
      walltime: 1,
      killedFor: "walltime",
      comment: "job killed: walltime 2 exceeded limit 1",
    });
    await s.settle();
    expect(await s.job(j.id)).toMatchObject({
      state: "F",
      exitStatus: -29,
      comment: "job killed: walltime 2 exceeded limit 1",
    });
  });

  it("charge the project exactly once when the obituary is delivered twice, in one batch or two", async () => {
    const j = await startJob(s, "alice", "true\n", { account: "P1", resources: { select: "1:ncpus=2" } });
    s.clock.advance(60_000);
    await s.obit(j.id, { walltime: 60 });
    const copy = s.bus.peek("events")[0];
    duplicateEvents();
    interleave();
    expect(await s.runEvents()).toEqual([]);
    // a third copy, redelivered later
    await s.bus.send("events", [copy], "late copy");
    expect(await s.runEvents()).toEqual([]);
    const p = await s.store.getProject("P1");
    expect(p?.coreSeconds).toEqual({ casper: 120 });
    expect(p?.walltime).toEqual({ casper: 60 });
    expect(acctOf(j.id)).toEqual(["Q", "S", "E"]);
  });

  it("a crash between an end's job write and its record: the redelivered obituary records and charges it once", async () => {
    const j = await startJob(s, "alice", "true\n", { account: "P1", resources: { select: "1:ncpus=2" } });
    s.clock.advance(60_000);
    await s.obit(j.id, { walltime: 60 });
    const copy = s.bus.peek("events")[0];
    // fault: the handler dies after the job's end is written, before its record and charge
    // (SIGKILL between the two steps: job-end.ts settleEnd); SQS redelivers the obituary
    const settle = s.store.settleEnds.bind(s.store);
    s.store.settleEnds = async () => {
      throw new Error("killed (injected)");
    };
    expect(await s.runEvents()).toHaveLength(1);
    expect((await s.job(j.id)).state).toBe("F");
    expect(acctOf(j.id)).toEqual(["Q", "S"]);
    expect((await s.store.getProject("P1"))?.coreSeconds ?? {}).toEqual({});
    s.store.settleEnds = settle;
    for (let i = 0; i < 2; i++) {
      await s.bus.send("events", [copy], "redelivered");
      expect(await s.runEvents()).toEqual([]);
    }
    expect(acctOf(j.id)).toEqual(["Q", "S", "E"]);
    const e = inspectStore(s.store).acct.find((a) => a.jobId === j.id && a.type === "E");
    expect(e).toMatchObject({
      time: (await s.job(j.id)).obittime,
      data: { Exit_status: 0, exec_host: j.execHost },
    });
    expect((await s.store.getProject("P1"))?.coreSeconds).toEqual({ casper: 120 });
  });

  it("Q and S records lost after their job writes (crash, failed put) are put at the job's end, once", async () => {
    // submit and claim put their records together with their neighbours' (putAccts, one
    // BatchWriteItem): the fault is there
    const putAccts = s.store.putAccts.bind(s.store);
    s.store.putAccts = async () => {
      throw new Error("killed (injected)");
    };
    const j = await startJob(s, "alice", "true\n", { account: "P1" });
    expect(acctOf(j.id)).toEqual([]);
    s.store.putAccts = putAccts;
    s.clock.advance(10_000);
    await s.obit(j.id, { walltime: 10 });
    await s.settle();
    expect(acctOf(j.id)).toEqual(["Q", "S", "E"]);
    const recs = inspectStore(s.store).acct.filter((a) => a.jobId === j.id);
    expect(recs[0]).toMatchObject({ time: j.ctime, data: { queue: j.queue, user: "alice" } });
    expect(recs[1]).toMatchObject({
      time: j.stime,
      data: { exec_host: j.execHost, start: Math.floor((j.stime as number) / 1000) },
    });
  });

  it("charge once when two different ends race: the obituary and the sweeper declaring the run lost", async () => {
    const j = await startJob(s, "alice", "true\n", { account: "P1", rerunnable: false });
    s.clock.advance(30_000);
    const o: Obituary = {
      type: "obit",
      jobId: j.id,
      runCount: j.runCount,
      momId: j.momId as string,
      exitStatus: 0,
      startedAt: j.stime as number,
      endedAt: s.clock.now(),
      resourcesUsed: { walltime: 30, cput: 30, mem: 0, ncpus: 1 },
    };
    interleave();
    await Promise.all([
      handleObituary(s.ctx, o),
      jobLost(s.ctx, j, "MOM went silent"),
      handleObituary(s.ctx, o),
    ]);
    const end = await s.job(j.id);
    expect(end.state).toBe("F");
    // exactly one end record, whichever end won
    expect(acctOf(j.id).filter((t) => t === "E")).toHaveLength(1);
    const p = await s.store.getProject("P1");
    // the obituary charges; a lost run charges nothing: never both, never twice
    expect(Object.values(p?.coreSeconds ?? {}).reduce((a, b) => a + b, 0)).toBe(
      end.exitStatus === 0 ? 30 : 0,
    );
  });

  it("the obituaries of one batch end their jobs in one group write, each charged once", async () => {
    const jobs = [];
    for (let i = 0; i < 4; i++) jobs.push(await startJob(s, "alice", "true\n", { account: "P1" }));
    s.clock.advance(10_000);
    for (const j of jobs) await s.obit(j.id, { walltime: 10 });
    const groups: number[] = [];
    const writeJobs = s.store.writeJobs.bind(s.store);
    s.store.writeJobs = (ws) => {
      groups.push(ws.length);
      return writeJobs(ws);
    };
    expect(await s.runEvents()).toEqual([]);
    // one group for the four ends (the planner puts the charges of one project in turns)
    expect(groups).toEqual([4]);
    for (const j of jobs) {
      expect((await s.job(j.id)).state).toBe("F");
      expect(acctOf(j.id)).toEqual(["Q", "S", "E"]);
    }
    expect((await s.store.getProject("P1"))?.coreSeconds).toEqual({ casper: 40 });
  });

  it("an end whose group write lost its race is settled alone: re-read, decided again, written once", async () => {
    const [a, b] = [await startJob(s, "alice", "true\n"), await startJob(s, "alice", "true\n")];
    s.clock.advance(10_000);
    await s.obit(a.id, { walltime: 10 });
    await s.obit(b.id, { walltime: 10 });
    // another writer changes job a between the batch read and the group write (as the
    // sweeper's resources_used update can): a's write in the group fails its ver condition
    const writeJobs = s.store.writeJobs.bind(s.store);
    let raced = false;
    s.store.writeJobs = async (ws) => {
      if (!raced && ws.length > 1) {
        raced = true;
        const cur = await s.job(a.id);
        await s.store.updateJob(cur, { ...cur, comment: "changed meanwhile" });
      }
      return writeJobs(ws);
    };
    expect(await s.runEvents()).toEqual([]);
    expect(raced).toBe(true);
    for (const j of [a, b]) {
      expect((await s.job(j.id)).state).toBe("F");
      expect(acctOf(j.id)).toEqual(["Q", "S", "E"]);
    }
  });

  it("ignore a stale run's obituary, refuse one from a MOM on another node, and drop an unsigned one", async () => {
    const j = await startJob(s, "alice");
    await s.obit(j.id, { runCount: 0 });
    await s.runEvents();
    expect((await s.job(j.id)).state).toBe("R");
    const other = j.execHost?.startsWith("n1") ? "n2:mom" : "n1:mom";
    await s.obit(j.id, { momId: other });
    expect(await s.runEvents()).toEqual([]); // refused and dropped, never retried
    expect(s.logs.join("\n")).toMatch(/refused MOM report \(misdirected\)/);
    await s.bus.send(
      "events",
      [{ body: JSON.stringify({ type: "obit", jobId: j.id, runCount: 1, momId: j.momId, exitStatus: 0 }) }],
      "forged",
    );
    expect(await s.runEvents()).toEqual([]);
    expect(s.logs.join("\n")).toMatch(/refused MOM report \(forged\)/);
    expect((await s.job(j.id)).state).toBe("R");
    expect(acctOf(j.id)).toEqual(["Q", "S"]);
  });
});

describe("dependencies", () => {
  it("a failing parent: afterok is deleted as never satisfiable; afternotok and afterany run", async () => {
    const parent = (await startJob(s, "alice", "exit 3\n")).id;
    const dep = (type: string) => s.submit("alice", "true\n", { depend: `${type}:${parent}` });
    const ok = await dep("afterok");
    const notok = await dep("afternotok");
    const any = await dep("afterany");
    for (const c of [ok, notok, any]) expect(await s.job(c)).toMatchObject({ state: "H", holds: "s" });
    s.clock.advance(10_000);
    await s.obit(parent, { exitStatus: 3 });
    await s.settle();
    expect((await s.job(parent)).exitStatus).toBe(3);
    expect(await s.job(notok)).toMatchObject({ state: "R", holds: "" });
    expect(await s.job(any)).toMatchObject({ state: "R", holds: "" });
    const k = await s.job(ok);
    expect(k.state).toBe("F");
    expect(k.exitStatus).toBeUndefined();
    expect(k.comment).toMatch(/can never be satisfied/);
    expect(acctOf(ok)).toEqual(["Q", "D"]);
  });

  it("a successful parent releases afterok; a deleted child ends its own afterok children in turn", async () => {
    const parent = (await startJob(s, "alice")).id;
    const ok = await s.submit("alice", "true\n", { depend: `afterok:${parent}` });
    const notok = await s.submit("alice", "true\n", { depend: `afternotok:${parent}` });
    const grandchild = await s.submit("alice", "true\n", { depend: `afterok:${notok}` });
    s.clock.advance(10_000);
    await s.obit(parent, { exitStatus: 0 });
    await s.settle();
    expect((await s.job(ok)).state).toBe("R");
    expect((await s.job(notok)).state).toBe("F");
    const g = await s.job(grandchild);
    expect(g.state).toBe("F");
    expect(g.comment).toMatch(new RegExp(`afterok:${notok.replace(".", "\\.")} can never be satisfied`));
  });

  it("a child waiting on two parents is released only when both are done", async () => {
    const a = (await startJob(s, "alice")).id;
    const b = (await startJob(s, "alice")).id;
    const child = await s.submit("alice", "true\n", { depend: `afterok:${a}:${b}` });
    s.clock.advance(1_000);
    await s.obit(a);
    await s.settle();
    expect(await s.job(child)).toMatchObject({ state: "H", depPending: [b] });
    await s.obit(b);
    await s.settle();
    expect((await s.job(child)).state).toBe("R");
  });

  it("qdel of a queued parent cancels its afterok child and releases its afterany child", async () => {
    const parent = await s.submit("alice", "true\n", { hold: true });
    const ok = await s.submit("alice", "true\n", { depend: `afterok:${parent}` });
    const any = await s.submit("alice", "true\n", { depend: `afterany:${parent}` });
    s.clock.advance(1_000);
    expect((await s.api("DELETE", `/v1/jobs/${parent}`, { as: "alice" })).status).toBe(200);
    await s.settle();
    expect((await s.job(ok)).state).toBe("F");
    expect((await s.job(any)).state).toBe("R");
  });

  it("beforeok: the later job is held until the first one ends well", async () => {
    const later = await s.submit("alice", "true\n", { hold: true, name: "later" });
    const first = await s.submit("alice", "true\n", { depend: `beforeok:${later}` });
    expect((await s.api("POST", `/v1/jobs/${later}/release`, { as: "alice", body: {} })).status).toBe(200);
    expect(await s.job(later)).toMatchObject({ state: "H", holds: "s" });
    await s.settle();
    s.clock.advance(1_000);
    await s.obit(first);
    await s.settle();
    expect((await s.job(later)).state).toBe("R");
  });
});

describe("arrays", () => {
  it("the parent runs (B) while subjobs run and finishes when the last one ends; a failed subjob fails it", async () => {
    const id = await s.submit("alice", "echo $PBS_ARRAY_INDEX\n", { arrayRange: "1-3" });
    await s.settle();
    const seq = id.split("[")[0];
    expect(s.executor.ids().sort()).toEqual([1, 2, 3].map((i) => `${seq}[${i}].casper`));
    expect(s.executor.dispatched.map((d) => d.env.PBS_ARRAY_INDEX).sort()).toEqual(["1", "2", "3"]);
    expect(await s.job(id)).toMatchObject({ state: "B", array: expect.objectContaining({ running: 3 }) });
    s.clock.advance(1_000);
    await s.obit(`${seq}[1].casper`);
    await s.obit(`${seq}[2].casper`, { exitStatus: 2 });
    duplicateEvents(); // a subjob is counted once, however often its end is delivered
    interleave(); // and when the copies are handled at the same time
    await s.settle();
    expect(await s.job(id)).toMatchObject({
      state: "B",
      array: expect.objectContaining({ running: 1, done: 2, failed: 1 }),
    });
    expect((await s.job(`${seq}[1].casper`)).state).toBe("X");
    await s.obit(`${seq}[3].casper`);
    await s.settle();
    expect(await s.job(id)).toMatchObject({ state: "F", exitStatus: 1 });
  });

  it("a subjob end redelivered after a crash, twice at once, is counted on its array once", async () => {
    const id = await s.submit("alice", "true\n", { arrayRange: "1-2" });
    await s.settle();
    const seq = id.split("[")[0];
    s.clock.advance(1_000);
    await s.obit(`${seq}[1].casper`);
    const [message] = s.bus.peek("events");
    // the end is written, then the handler dies before counting it on the parent
    let crash = true;
    s.store.fail = (op) => {
      if (op !== "transactJobs" || !crash) return undefined;
      crash = false;
      return new Error("crashed between the end and the count");
    };
    expect(await s.runEvents()).toHaveLength(1); // failed: SQS delivers it again
    expect((await s.job(`${seq}[1].casper`)).state).toBe("X");
    expect((await s.job(id)).array?.done).toBe(0);
    await s.bus.send("events", [message, message], "redelivered twice");
    expect(await s.runEvents()).toEqual([]);
    expect((await s.job(id)).array).toMatchObject({ done: 1, running: 1 });
  });

  it("runs no more subjobs at once than the nodes hold, and starts the rest as room frees", async () => {
    const id = await s.submit("alice", "true\n", { arrayRange: "1-3", resources: { select: "1:ncpus=4" } });
    await s.settle();
    expect(s.executor.dispatched).toHaveLength(2);
    s.clock.advance(1_000);
    await s.obit(s.executor.dispatched[0].jobId);
    await s.settle();
    expect(s.executor.dispatched).toHaveLength(3);
    for (const d of s.executor.dispatched.slice(1)) await s.obit(d.jobId);
    await s.settle();
    expect((await s.job(id)).state).toBe("F");
  });
});

describe("a MOM that goes silent", () => {
  it("is judged momStaleMs after its last beat or the run's start, whichever is later (an idle MOM beats rarely)", async () => {
    const sweep = makeSweeperHandler(s.ctx);
    // the MOM's last beat, with no jobs, long before the dispatch
    const j0 = await startJob(s, "alice");
    await s.store.putMomBeat(
      signBeat(
        momKey(s.ctx.momSecret as string, j0.momId as string),
        j0.momId as string,
        [],
        s.clock.now() - 600_000,
      ),
    );
    await sweep();
    await s.settle();
    expect(await s.job(j0.id)).toMatchObject({ state: "R", runCount: 1 });
    // silent for momStaleMs after the start: lost (requeued, it is rerunnable)
    s.clock.advance(s.ctx.settings.momStaleMs + 1_000);
    await sweep();
    await s.settle();
    const again = await s.job(j0.id);
    expect(again.runCount).toBe(2);
    expect(again.hist.map((h) => h.message).join("\n")).toMatch(/went silent/);
  });
});

describe("runs whose MOM never reports", () => {
  it("the sweeper requeues a rerunnable job after dispatchGraceMs, and it runs again", async () => {
    const j = await startJob(s, "alice");
    const sweep = makeSweeperHandler(s.ctx);
    s.clock.advance(s.ctx.settings.dispatchGraceMs - 1_000);
    await sweep();
    await s.settle();
    expect((await s.job(j.id)).runCount).toBe(1);
    s.clock.advance(2_000);
    await sweep();
    await s.settle();
    const again = await s.job(j.id);
    expect(again).toMatchObject({ state: "R", runCount: 2 });
    expect(again.hist.map((h) => h.message)).toContain(`Job requeued: MOM ${j.momId} never reported`);
  });
});

describe("a MOM that restarts", () => {
  it("adopts the runs it still has: the job keeps running under the new MOM and ends once", async () => {
    const j = await startJob(s, "alice", "true\n", { account: "P1" });
    const node = (j.execHost as string).split("/")[0];
    s.clock.advance(5_000);
    await s.hello(node, `${node}:reborn`, { running: [j.id] });
    await s.settle();
    expect(await s.job(j.id)).toMatchObject({ state: "R", momId: `${node}:reborn`, runCount: 1 });
    // the old MOM's word no longer counts, the new one's does
    await s.obit(j.id, { momId: "elsewhere:mom" });
    await s.runEvents();
    expect((await s.job(j.id)).state).toBe("R");
    await s.obit(j.id, { walltime: 5 });
    await s.obit(j.id, { walltime: 5 });
    await s.settle();
    expect(await s.job(j.id)).toMatchObject({ state: "F", exitStatus: 0, runCount: 1 });
    expect(acctOf(j.id)).toEqual(["Q", "S", "E"]);
    expect((await s.store.getProject("P1"))?.coreSeconds).toEqual({ casper: 5 });
  });

  it("a run it does not report is lost: requeued when rerunnable, else ended; an older hello is refused", async () => {
    const again = await startJob(s, "alice", "true\n", { resources: { select: "1:ncpus=4" } });
    const once = await startJob(s, "alice", "true\n", {
      resources: { select: "1:ncpus=4" },
      rerunnable: false,
    });
    s.clock.advance(5_000);
    for (const j of [again, once]) {
      const node = (j.execHost as string).split("/")[0];
      await s.hello(node, `${node}:reborn`);
    }
    await s.runEvents();
    expect(await s.job(again.id)).toMatchObject({ state: "Q", runCount: 1 });
    const lost = await s.job(once.id);
    expect(lost).toMatchObject({ state: "F", exitStatus: -2 });
    expect(lost.comment).toMatch(/^Job failed: MOM on n\d restarted; not rerunnable/);
    await s.settle();
    expect(await s.job(again.id)).toMatchObject({ state: "R", runCount: 2 });
    // a hello sent before the last accepted one (a replay) would declare the new run lost
    const node = ((await s.job(again.id)).execHost as string).split("/")[0];
    s.clock.advance(-1_000);
    await s.hello(node, `${node}:old`);
    s.clock.advance(1_000);
    expect(await s.runEvents()).toEqual([]);
    expect(s.logs.join("\n")).toMatch(/refused MOM report \(replayed\)/);
    expect((await s.job(again.id)).state).toBe("R");
  });
});
