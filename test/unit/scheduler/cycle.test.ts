/**
 * The scheduler cycle with its I/O (shared/scheduler/cycle.ts), driven by cycle triggers
 * through the scheduler handler, over the in-memory site: what starts, in which order, where,
 * and what a job that waits is told. The pure planner has its own tests (plan.test.ts); these
 * check that the cycle feeds it the site as stored and carries its decisions out.
 */
import { beforeEach, describe, expect, it, vi } from "vitest";
import { inspectStore } from "../../../shared/adapters/memory/index.js";
import { LOOKAHEAD_MARGIN } from "../../../shared/scheduler/lookahead.js";
import { triggerCycles } from "../../../shared/server/messages.js";
import { DEFAULT_SETTINGS } from "../../../shared/server/settings.js";
import { deleteJob } from "../../../shared/server/ops.js";
import { type MemorySite, memorySite, startJob } from "../../fixtures/memory-site.js";

let s: MemorySite;
beforeEach(async () => {
  s = await memorySite();
});

/** Submit with scheduling off, so one cycle afterwards sees every job at once. */
async function paused<T>(f: () => Promise<T>): Promise<T> {
  await s.setAttrs("server", "server", { scheduling: false });
  const out = await f();
  await s.settle();
  expect(s.executor.dispatched, "nothing starts while scheduling is off").toEqual([]);
  await s.setAttrs("server", "server", { scheduling: true });
  return out;
}

async function cycle(): Promise<void> {
  await triggerCycles(s.ctx, ["default"], "test");
  await s.settle();
}

const fullNode = { resources: { select: "1:ncpus=4" } };

describe("a cycle", () => {
  it("starts a job on a node: claimed (R, exec_host, an S record) then dispatched with its run spec", async () => {
    const id = await s.submit("alice", "echo hi\n", {
      resources: { select: "1:ncpus=2:mem=1gb" },
      name: "hi",
    });
    await s.settle();
    const j = await s.job(id);
    expect(j).toMatchObject({ state: "R", runCount: 1, stime: s.clock.now() });
    expect(j.execHost).toMatch(/^n[12]\/0\*2$/);
    expect(j.momId).toBe(`${j.execHost?.split("/")[0]}:mom`);
    expect(inspectStore(s.store).acct.map((a) => a.type)).toEqual(["Q", "S"]);
    expect(s.executor.dispatched).toEqual([
      expect.objectContaining({
        jobId: id,
        runCount: 1,
        name: "hi",
        owner: "alice@login1",
        workdir: "/home/alice",
        script: "echo hi\n",
        ncpus: 2,
        mem: 1024 ** 3,
        walltime: 600,
        nodefile: [j.execHost?.split("/")[0]],
        momId: j.momId,
        stdoutPath: `/home/alice/hi.o${j.seq}`,
      }),
    ]);
  });

  it("hands a claimed job to its MOM without waiting for its S record, which lands before the cycle ends", async () => {
    // the job holds its cpus from the claim: a round trip between claim and MOM is a slot idle
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const put = s.store.putAccts.bind(s.store);
    s.store.putAccts = async (recs) => {
      if (recs.some((r) => r.type === "S")) await gate;
      return put(recs);
    };
    const id = await s.submit("alice", "true\n");
    const cycling = s.settle();
    await vi.waitFor(() => expect(s.executor.dispatched.map((d) => d.jobId)).toContain(id));
    expect(inspectStore(s.store).acct.map((a) => a.type)).toEqual(["Q"]);
    let ended = false;
    void cycling.then(() => {
      ended = true;
    });
    await new Promise((r) => setTimeout(r, 20));
    expect(ended, "the cycle waits for the record it began").toBe(false);
    release();
    await cycling;
    expect(inspectStore(s.store).acct.map((a) => a.type)).toEqual(["Q", "S"]);
  });

  it("starts jobs in priority order, FIFO among equals, as many as the nodes hold", async () => {
    const ids = await paused(async () => {
      const first = await s.submit("alice", "true\n", fullNode);
      s.clock.advance(1_000);
      const second = await s.submit("bob", "true\n", fullNode);
      s.clock.advance(1_000);
      const urgent = await s.submit("bob", "true\n", { ...fullNode, priority: 100 });
      return { first, second, urgent };
    });
    await cycle();
    // two 4-core nodes: the urgent job and the oldest of the others
    expect(s.executor.ids()).toEqual(expect.arrayContaining([ids.urgent, ids.first]));
    expect(s.executor.dispatched).toHaveLength(2);
    const waiting = await s.job(ids.second);
    expect(waiting.state).toBe("Q");
    expect(waiting.comment).toMatch(/^Not Running: /);
    const report = (await s.store.getCycleReports())[0];
    expect(report).toMatchObject({ considered: 3, started: 2, topWaiting: { jobId: ids.second } });
  });

  it("a higher-priority queue goes first", async () => {
    await s.setAttrs("queue", "fast", {
      queue_type: "Execution",
      enabled: true,
      started: true,
      priority: 10,
    });
    const ids = await paused(async () => ({
      slow: [await s.submit("alice", "true\n", fullNode), await s.submit("alice", "true\n", fullNode)],
      fast: await s.submit("alice", "true\n", { ...fullNode, queue: "fast" }),
    }));
    await cycle();
    expect(s.executor.ids()).toEqual(expect.arrayContaining([ids.fast, ids.slow[0]]));
    expect((await s.job(ids.slow[1])).state).toBe("Q");
  });

  it("leaves the jobs of a queue that is not started; they start once it is", async () => {
    await s.setAttrs("queue", "casper", { started: false });
    const id = await s.submit("alice", "true\n");
    await s.settle();
    expect(s.executor.dispatched).toEqual([]);
    await s.setAttrs("queue", "casper", { started: true });
    await cycle();
    expect(s.executor.ids()).toEqual([id]);
  });

  it("runs nothing while the server or the partition's sched has scheduling off, or the site is down", async () => {
    for (const [kind, name, attrs] of [
      ["server", "server", { scheduling: false }],
      ["sched", "default", { scheduling: false, partition: "default" }],
      ["server", "server", { federation_state: "down" }],
    ] as const) {
      await s.setAttrs(kind, name, attrs);
      await s.submit("alice", "true\n");
      await s.settle();
      expect(s.executor.dispatched, `${kind} ${JSON.stringify(attrs)}`).toEqual([]);
      await s.setAttrs(
        kind,
        name,
        kind === "server" ? { scheduling: true, federation_state: "active" } : { scheduling: true },
      );
    }
    await cycle();
    expect(s.executor.dispatched).toHaveLength(3);
  });

  it("respects the queue's max_run, max_user_run and the server's max_run", async () => {
    await s.setAttrs("queue", "casper", { max_run: 2 });
    await paused(async () => {
      for (let i = 0; i < 4; i++) await s.submit("alice", "true\n");
    });
    await cycle();
    expect(s.executor.dispatched).toHaveLength(2);
    const waiting = inspectStore(s.store).jobs.filter((j) => j.state === "Q");
    expect(waiting.map((j) => j.comment)).toContain("Not Running: Queue casper job limit has been reached");

    await s.setAttrs("queue", "casper", { max_run: 10, max_user_run: 3 });
    await s.submit("bob", "true\n");
    await cycle();
    // alice reaches 3 running; bob's job runs beside them
    const running = inspectStore(s.store).jobs.filter((j) => j.state === "R");
    expect(running.filter((j) => j.user === "alice")).toHaveLength(3);
    expect(running.filter((j) => j.user === "bob")).toHaveLength(1);

    await s.setAttrs("queue", "casper", { max_user_run: 10 });
    await s.setAttrs("server", "server", { max_run: 4 });
    await cycle();
    expect(inspectStore(s.store).jobs.filter((j) => j.state === "R")).toHaveLength(4);
  });

  it("reads a short prefix of the ready index when the walk closes within it, all of it when not", async () => {
    const limits: number[] = [];
    const queryReady = s.ctx.store.queryReady.bind(s.ctx.store);
    s.ctx.store.queryReady = (queue, limit) => {
      limits.push(limit);
      return queryReady(queue, limit);
    };
    // 8 free cpus: a prefix of 8 + 16; the 9th job takes the reservation and the walk closes
    await paused(async () => {
      for (let i = 0; i < 30; i++) await s.submit("alice", "true\n");
    });
    limits.length = 0;
    await cycle();
    expect(limits).toEqual([8 + LOOKAHEAD_MARGIN]);
    expect(s.executor.dispatched).toHaveLength(8);
  });

  it("reads on past the prefix when the walk is still open at its end: a job there starts", async () => {
    const limits: number[] = [];
    const queryReady = s.ctx.store.queryReady.bind(s.ctx.store);
    s.ctx.store.queryReady = (queue, limit) => {
      limits.push(limit);
      return queryReady(queue, limit);
    };
    // alice's jobs fill the prefix and all but one wait for her limit; bob's comes after them
    await s.setAttrs("queue", "casper", { max_user_run: 1 });
    await paused(async () => {
      for (let i = 0; i < 30; i++) await s.submit("alice", "true\n");
      s.clock.advance(1_000);
      await s.submit("bob", "true\n");
    });
    limits.length = 0;
    await cycle();
    expect(limits).toEqual([8 + LOOKAHEAD_MARGIN, DEFAULT_SETTINGS.cycleCandidates]);
    const running = inspectStore(s.store).jobs.filter((j) => j.state === "R");
    expect(running.map((j) => j.user).sort()).toEqual(["alice", "bob"]);
  });

  it("places nothing on an offline or down node", async () => {
    await s.setAttrs("node", "n2", { state: "offline" });
    const ids = await paused(async () => [
      await s.submit("alice", "true\n", { resources: { select: "1:ncpus=2" } }),
      await s.submit("alice", "true\n", { resources: { select: "1:ncpus=2" } }),
      await s.submit("alice", "true\n", { resources: { select: "1:ncpus=2" } }),
    ]);
    await cycle();
    for (const d of s.executor.dispatched) expect(d.execHost).toBe("n1");
    expect(s.executor.dispatched).toHaveLength(2);
    expect((await s.job(ids[2])).state).toBe("Q");
    await s.setAttrs("node", "n2", { state: "down" });
    await cycle();
    expect(s.executor.dispatched).toHaveLength(2);
    await s.setAttrs("node", "n2", { state: "free" });
    await cycle();
    expect(s.executor.dispatched.at(-1)).toMatchObject({ jobId: ids[2], execHost: "n2" });
  });

  it("a job whose MOM refuses it goes back to the queue with the reason, and runs when a MOM takes it", async () => {
    s.executor.down.add("n1");
    s.executor.down.add("n2");
    const id = await s.submit("alice", "true\n");
    expect(await s.runScheduler()).toEqual([]);
    const back = await s.job(id);
    expect(back).toMatchObject({ state: "Q", runCount: 1 });
    expect(back.comment).toMatch(/^Not Running: could not start on its MOM: MOM on n[12] is not running/);
    // it asked for another cycle at once
    expect(s.bus.peek("sched").map((m) => JSON.parse(m.body).reason)).toEqual(["dispatch-failed"]);
    s.executor.down.clear();
    await s.settle();
    expect(await s.job(id)).toMatchObject({ state: "R", runCount: 2 });
  });

  it("a job deleted after the cycle read it is not started (the claim is conditional)", async () => {
    const id = await s.submit("alice", "true\n");
    s.clock.advance(1_000);
    // qdel lands between the cycle's read of the job and its claim
    const read = s.store.getJobs.bind(s.store);
    s.store.getJobs = async (keys) => {
      const out = await read(keys);
      await deleteJob(s.ctx, id, s.actor("alice"));
      return out;
    };
    expect(await s.runScheduler()).toEqual([]);
    expect((await s.job(id)).state).toBe("F");
    expect(s.executor.dispatched).toEqual([]);
    expect(inspectStore(s.store).acct.map((a) => a.type)).toEqual(["Q", "D"]);
  });
});

describe("what a site reports and runs", () => {
  it("counts submitted, started and finished jobs, and cycle durations by partition", async () => {
    const j = await startJob(s, "alice", "true\n", { join: "oe" });
    // -j oe: one stream, into the output file
    expect(s.executor.dispatched[0]).toMatchObject({ stderrPath: null, stdoutPath: j.outPath });
    await s.obit(j.id);
    await s.settle();
    expect(s.metrics.totals).toMatchObject({ JobsSubmitted: 1, JobsStarted: 1, JobsFinished: 1 });
    expect(s.metrics.totals["CycleDuration|partition=default"]).toBeGreaterThanOrEqual(0);
  });

  it("schedules a second partition with its own sched (PP-337), and refuses what never fits it", async () => {
    await s.setAttrs("node", "p2n1", {
      "resources_available.ncpus": 2,
      "resources_available.mem": "2gb",
      partition: "p2",
      state: "free",
    });
    await s.setAttrs("queue", "q2", {
      queue_type: "Execution",
      enabled: true,
      started: true,
      partition: "p2",
    });
    await s.setAttrs("sched", "s2", { partition: "p2", scheduling: true });
    const id = await s.submit("alice", "true\n", { queue: "q2", resources: { select: "1:ncpus=2" } });
    expect(s.bus.peek("sched").map((m) => JSON.parse(m.body).partition)).toEqual(["p2"]);
    await s.settle();
    expect(await s.job(id)).toMatchObject({ state: "R", partition: "p2", execHost: "p2n1/0*2" });
    expect((await s.store.getCycleReports()).map((r) => r.sched)).toContain("s2");
    const big = await s
      .submit("alice", "true\n", { queue: "q2", resources: { select: "1:ncpus=4" } })
      .catch((e) => e);
    expect(big.message).toMatch(/never run/);
  });
});

describe("job_accumulation_time (PP-337)", () => {
  it("waits the scheduler's accumulation time on the site's clock before the cycle, then starts the burst together", async () => {
    await s.setAttrs("sched", "default", { job_accumulation_time: 4 });
    const before = s.clock.now();
    const a = await s.submit("alice", "true\n");
    const b = await s.submit("alice", "true\n");
    await s.settle();
    const [ja, jb] = [await s.job(a), await s.job(b)];
    expect([ja.state, jb.state]).toEqual(["R", "R"]);
    // both started by the one cycle that ran after the wait: the clock moved 4 s, not a real sleep
    expect(ja.stime).toBeGreaterThanOrEqual(before + 4_000);
    expect(jb.stime).toBe(ja.stime);
  });

  it("runs at once without one", async () => {
    const before = s.clock.now();
    const a = await s.submit("alice", "true\n");
    await s.settle();
    expect((await s.job(a)).stime).toBeLessThan(before + 1000);
  });
});
