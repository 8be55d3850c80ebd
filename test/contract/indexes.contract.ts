/**
 * Contract, index reads: the orders each query documents, what each sparse index holds and
 * projects, and the dashboard's paging (cursor, filters, `next`) across more than one read batch.
 */
import { describe, expect, it } from "vitest";
import type { JobState } from "../../shared/pbs/types.js";
import type { JobRecord } from "../../shared/server/job.js";
import type { JobPageQuery } from "../../shared/server/records.js";
import { freshStore, job, type MakeStore } from "./store-fixture.js";

/** A subjob record of array parent `parent`, index `i`. */
const subjob = (parent: number, i: number, over: Partial<JobRecord> = {}): JobRecord =>
  job(parent, {
    id: `${parent}[${i}].casper`,
    key: `${parent}[${i}]`,
    parentKey: String(parent),
    arrayIndex: i,
    state: "R",
    ...over,
  });

export function indexContract(makeStore: MakeStore) {
  const store = freshStore(makeStore);

  describe("the ready index", () => {
    it("gives the top ready jobs over several shards, merged in scheduling order", async () => {
      const s = store();
      const made: JobRecord[] = [];
      // priorities, qtimes and seqs that interleave across the 4 shards (seq % 4)
      for (let seq = 1; seq <= 24; seq++) {
        const j = job(seq, { priority: (seq * 7) % 5, qtime: 1000 + ((seq * 13) % 6) });
        made.push(j);
        await s.createJob(j);
      }
      // not ready: held, running, another queue, a subjob
      await s.createJob(job(30, { state: "H", holds: "u", priority: 1000 }));
      await s.createJob(job(31, { state: "R", priority: 1000 }));
      await s.createJob(job(32, { queue: "other", priority: 1000 }));
      await s.createJob(subjob(33, 1, { state: "R" }));
      const order = [...made].sort((a, b) => b.priority - a.priority || a.qtime - b.qtime || a.seq - b.seq);
      const top = await s.queryReady("workq", 10);
      expect(top.map((j) => j.seq)).toEqual(order.slice(0, 10).map((j) => j.seq));
      const all = await s.queryReady("workq", 100);
      expect(all.map((j) => j.seq)).toEqual(order.map((j) => j.seq));
    });

    it("gives the exact top when the top jobs all sit in one shard (a skewed queue)", async () => {
      const s = store();
      // every 4th seq (one shard) outranks the rest: a read that takes an even share of each
      // shard and merges must read further into that shard, not fill up from the others
      for (let seq = 1; seq <= 60; seq++)
        await s.createJob(job(seq, { priority: seq % 4 === 0 ? 100 + seq : seq % 7, qtime: 1000 + seq }));
      const order = Array.from({ length: 60 }, (_, i) => i + 1).sort((a, b) => {
        const p = (x: number) => (x % 4 === 0 ? 100 + x : x % 7);
        return p(b) - p(a) || a - b;
      });
      for (const n of [1, 3, 10, 15, 16, 17, 40, 60, 200])
        expect((await s.queryReady("workq", n)).map((j) => j.seq)).toEqual(order.slice(0, n));
    });

    it("projects what the scheduler reads, and drops a job once it starts", async () => {
      const s = store();
      await s.createJob(job(1, { priority: 5 }));
      const [got] = await s.queryReady("workq", 10);
      expect(got.seq).toBe(1);
      expect(got.priority).toBe(5);
      expect(got.sel).toEqual(job(1).sel);
      expect(got.script).toBeUndefined(); // not projected: read the job for it
      expect(got.hist).toBeUndefined();
      const read = (await s.getJob("1")) as JobRecord;
      await s.updateJob(read, { ...read, state: "R" });
      expect(await s.queryReady("workq", 10)).toEqual([]);
    });

    it("keeps an array parent ready while it has subjobs to start (B), not after", async () => {
      const s = store();
      const array = { range: "0-1", indices: [0, 1], next: 0, running: 0, done: 0, failed: 0 };
      await s.createJob(job(1, { array }));
      const q = (await s.getJob("1")) as JobRecord;
      await s.updateJob(q, { ...q, state: "B", array: { ...array, next: 1, running: 1 } });
      expect((await s.queryReady("workq", 10)).map((j) => j.key)).toEqual(["1"]);
      const b = (await s.getJob("1")) as JobRecord;
      await s.updateJob(b, { ...b, array: { ...array, next: 2, running: 2 } });
      expect(await s.queryReady("workq", 10)).toEqual([]);
    });
  });

  describe("the run and wait indexes", () => {
    it("lists a partition's running jobs by seq and subjob, projected", async () => {
      const s = store();
      await s.createJob(job(12, { state: "R", momId: "m1" }));
      await s.createJob(subjob(3, 10));
      await s.createJob(subjob(3, 2));
      await s.createJob(job(4, { state: "R", partition: "gpu" }));
      await s.createJob(job(5));
      const got = await s.queryRunning("default");
      expect(got.map((j) => j.key)).toEqual(["3[10]", "3[2]", "12"]);
      expect(got[2].momId).toBe("m1");
      expect(got[2].script).toBeUndefined();
      expect((await s.queryRunning("gpu")).map((j) => j.key)).toEqual(["4"]);
    });

    it("holds jobs with a transfer step outstanding until the end is acknowledged", async () => {
      const s = store();
      const inbound = {
        transferId: "tr",
        originId: "9.derecho",
        from: "derecho",
        committed: true,
        originUser: "alice",
      };
      await s.createJob(job(1, { state: "T" }));
      await s.createJob(job(2, { state: "R", inbound }));
      await s.createJob(job(3));
      expect((await s.queryTransfers()).map((j) => j.key)).toEqual(["1"]);
      const r = (await s.getJob("2")) as JobRecord;
      const f = await s.updateJob(r, { ...r, state: "F" });
      expect((await s.queryTransfers()).map((j) => j.key)).toEqual(["1", "2"]);
      expect((await s.queryTransfers())[1].inbound).toEqual(inbound);
      await s.updateJob(f, { ...f, inbound: { ...inbound, endAcked: true } });
      expect((await s.queryTransfers()).map((j) => j.key)).toEqual(["1"]);
    });

    it("lists waiting jobs by seq with only the wait index's projection", async () => {
      const s = store();
      const array = { range: "0-1", indices: [0, 1], next: 1, running: 1, done: 0, failed: 0 };
      await s.createJob(job(8, { state: "H", holds: "s", depPending: ["1.casper"], depend: "afterok:1" }));
      await s.createJob(job(2, { array }));
      const q = (await s.getJob("2")) as JobRecord;
      await s.updateJob(q, { ...q, state: "B" });
      await s.createJob(job(3, { state: "H", holds: "u" }));
      expect(await s.queryWaiting()).toEqual([
        { id: "2.casper", key: "2", seq: 2, state: "B" },
        { id: "8.casper", key: "8", seq: 8, state: "H", depPending: ["1.casper"], depend: "afterok:1" },
      ]);
      const h = (await s.getJob("8")) as JobRecord;
      await s.updateJob(h, { ...h, state: "Q", holds: "", depPending: undefined });
      expect((await s.queryWaiting()).map((j) => j.key)).toEqual(["2"]);
    });
  });

  describe("the list index", () => {
    it("lists a queue's active and finished jobs by seq, subjobs apart", async () => {
      const s = store();
      for (const seq of [30, 4, 17, 100]) await s.createJob(job(seq));
      await s.createJob(job(5, { queue: "other" }));
      await s.createJob(job(6, { state: "R" }));
      await s.createJob(subjob(40, 1));
      const r = (await s.getJob("6")) as JobRecord;
      await s.updateJob(r, { ...r, state: "F" });
      expect((await s.listJobs("workq", false)).map((j) => j.seq)).toEqual([4, 17, 30, 100]);
      expect((await s.listJobs("workq", true)).map((j) => j.seq)).toEqual([6]);
      expect((await s.listJobs("workq", false, { sub: true })).map((j) => j.key)).toEqual(["40[1]"]);
      const first = await s.listJobs("workq", false, { limit: 2 });
      expect(first.length).toBeGreaterThanOrEqual(2);
      expect(first.slice(0, 2).map((j) => j.seq)).toEqual([4, 17]);
      // the list index holds what counting and finding a job needs, nothing that changes at
      // every write (ver, comment, trace) and nothing large (env, script)
      const listed = (await s.listJobs("workq", false, { limit: 2 }))[0] as unknown as Record<
        string,
        unknown
      >;
      expect(Object.keys(listed).sort()).toEqual(["id", "key", "queue", "seq", "state", "user"]);
      expect(listed).toMatchObject({ id: "4.casper", key: "4", seq: 4, queue: "workq", state: "Q" });
      expect((await s.getJob("4"))?.script).toBe("true\n");
      const sub = (await s.listJobs("workq", false, { sub: true }))[0];
      expect([sub.parentKey, sub.arrayIndex]).toEqual(["40", 1]);
    });

    it("reads the rows a page or an array's subjobs show from the table: full records, no script", async () => {
      const s = store();
      const env = { PBS_O_HOME: "/home/alice", PBS_O_WORKDIR: "/tmp" };
      await s.createJob(job(4, { comment: "first", env }));
      const r = (await s.getJob("4")) as JobRecord;
      await s.updateJob(r, { ...r, comment: "changed after the index entry was written" });
      const [row] = (await s.listJobPage({ queues: ["workq"], history: false, limit: 1 })).jobs;
      expect(row.env).toEqual(env);
      expect(row.comment).toBe("changed after the index entry was written");
      expect(row.ver).toBe(r.ver + 1);
      expect(row.script).toBeUndefined();
      await s.createJob(subjob(5, 1, { env }));
      const [sub] = await s.listSubjobs(job(5, { state: "B" }));
      expect([sub.key, sub.env, sub.ver, sub.script]).toEqual(["5[1]", env, 0, undefined]);
      const done = (await s.getJob("5[1]")) as JobRecord;
      await s.updateJob(done, { ...done, state: "F" });
      const [fin] = await s.finishedSubjobs({ queue: "workq", seq: 5 });
      expect([fin.key, fin.ver, fin.state, fin.env]).toEqual(["5[1]", 1, "F", env]);
    });

    it("lists an array's subjobs, active and finished, by index", async () => {
      const s = store();
      for (const i of [10, 2, 0, 7]) await s.createJob(subjob(5, i));
      await s.createJob(subjob(6, 1));
      for (const k of ["5[2]", "5[10]"]) {
        const r = (await s.getJob(k)) as JobRecord;
        await s.updateJob(r, { ...r, state: "X" });
      }
      const parent = job(5, { state: "B" });
      expect((await s.listSubjobs(parent)).map((j) => [j.arrayIndex, j.state])).toEqual([
        [0, "R"],
        [2, "X"],
        [7, "R"],
        [10, "X"],
      ]);
      const fin = await s.finishedSubjobs(parent);
      expect(fin.map((j) => j.arrayIndex).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual([2, 10]);
    });
  });

  describe("the dashboard's pages", () => {
    const STATES: JobState[] = ["Q", "H", "R", "F"];
    /** 260 jobs over two queues, four users and states, some finished. */
    const seed = async () => {
      const s = store();
      const all: JobRecord[] = [];
      for (let seq = 1; seq <= 260; seq++) {
        const state = STATES[seq % 4];
        const j = job(seq, {
          queue: seq % 3 === 0 ? "other" : "workq",
          user: `u${seq % 5}`,
          owner: `u${seq % 5}@h`,
          project: seq % 2 ? "P1" : "P2",
          state: state === "F" ? "R" : state,
          holds: state === "H" ? "u" : "",
        });
        all.push(j);
      }
      // written 20 at a time (distinct keys: no write waits on another), each finished one ended
      for (let i = 0; i < all.length; i += 20)
        await Promise.all(
          all.slice(i, i + 20).map(async (j) => {
            await s.createJob(j);
            if (STATES[j.seq % 4] === "F") await s.updateJob(j, { ...j, state: "F" });
          }),
        );
      for (const j of all) if (STATES[j.seq % 4] === "F") j.state = "F";
      return { s, all };
    };
    /** Every page of `q`, following `next`; each page's jobs newest first. */
    const pages = async (s: ReturnType<typeof store>, q: JobPageQuery) => {
      const out: number[][] = [];
      let before: number | undefined;
      for (let i = 0; i < 100; i++) {
        const p = await s.listJobPage({ ...q, before });
        expect(p.jobs.length).toBeLessThanOrEqual(q.limit);
        out.push(p.jobs.map((j) => j.seq));
        if (p.next === undefined) return out;
        expect(p.next).toBe(p.jobs[p.jobs.length - 1].seq);
        before = p.next;
      }
      throw new Error("no last page");
    };

    it("pages through active and finished jobs of two queues, newest first, to the end", async () => {
      const { s, all } = await seed();
      const want = all
        .filter((j) => j.queue === "workq" || j.queue === "other")
        .map((j) => j.seq)
        .sort((a, b) => b - a);
      const got = await pages(s, { queues: ["workq", "other"], history: true, limit: 40 });
      expect(got.slice(0, 6).every((p) => p.length === 40)).toBe(true);
      expect(got.flat()).toEqual(want);
      const first = await s.listJobPage({ queues: ["workq", "other"], history: true, limit: 40 });
      expect(first.jobs[0].seq).toBe(260);
      expect(first.next).toBe(221);
    });

    it("filters by user, project and state on the store, paging past the read batch", async () => {
      const { s, all } = await seed();
      const q: JobPageQuery = { queues: ["workq"], history: true, limit: 7, user: "u1", project: "P1" };
      const want = all
        .filter((j) => j.queue === "workq" && j.user === "u1" && j.project === "P1")
        .map((j) => j.seq)
        .sort((a, b) => b - a);
      expect(want.length).toBeGreaterThan(14);
      expect((await pages(s, q)).flat()).toEqual(want);
      // exactly a page of matches: no next; one fewer: a next
      const exact = await s.listJobPage({ ...q, limit: want.length });
      expect(exact).toEqual({ jobs: exact.jobs, next: undefined });
      expect(exact.jobs.map((j) => j.seq)).toEqual(want);
      expect((await s.listJobPage({ ...q, limit: want.length - 1 })).next).toBe(want[want.length - 2]);
      const states: JobState[] = ["H", "F"];
      const want2 = all
        .filter((j) => j.queue === "workq" && states.includes(j.state))
        .map((j) => j.seq)
        .sort((a, b) => b - a);
      expect((await pages(s, { queues: ["workq"], history: true, limit: 30, states })).flat()).toEqual(want2);
    });

    it("pages oldest first from an `after` cursor (qstat's listing), each job once, filters on the store", async () => {
      const { s, all } = await seed();
      const q: JobPageQuery = { queues: ["workq", "other"], history: true, limit: 45, order: "oldest" };
      const seen: number[] = [];
      let after: number | undefined;
      for (let i = 0; i < 100; i++) {
        const p = await s.listJobPage({ ...q, after });
        expect(p.jobs.length).toBeLessThanOrEqual(q.limit);
        seen.push(...p.jobs.map((j) => j.seq));
        if (p.next === undefined) break;
        expect(p.next).toBe(p.jobs[p.jobs.length - 1].seq);
        after = p.next;
      }
      expect(seen).toEqual(all.map((j) => j.seq));
      const mine = await s.listJobPage({
        queues: ["workq"],
        history: false,
        limit: 5,
        order: "oldest",
        after: 100,
        user: "u2",
      });
      const want = all.filter(
        (j) => j.queue === "workq" && j.state !== "F" && j.user === "u2" && j.seq > 100,
      );
      expect(mine.jobs.map((j) => j.seq)).toEqual(want.slice(0, 5).map((j) => j.seq));
      expect(mine.next).toBe(want[4].seq);
    });

    it("leaves finished jobs out without history, and starts below the cursor", async () => {
      const { s, all } = await seed();
      const page = await s.listJobPage({ queues: ["workq"], history: false, limit: 10, before: 200 });
      const want = all
        .filter((j) => j.queue === "workq" && j.state !== "F" && j.seq < 200)
        .map((j) => j.seq)
        .sort((a, b) => b - a);
      expect(page.jobs.map((j) => j.seq)).toEqual(want.slice(0, 10));
      expect(page.next).toBe(want[9]);
      // a finished-only filter without history reads nothing
      expect(await s.listJobPage({ queues: ["workq"], history: false, limit: 10, states: ["F"] })).toEqual({
        jobs: [],
        next: undefined,
      });
    });
  });
}
