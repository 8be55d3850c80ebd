/**
 * Contract, jobs: conditional writes (ver, create-if-absent), the state table, all-or-nothing
 * multi-item writes, edges, the 400 KB item limit, and copies in and out.
 */
import { describe, expect, it } from "vitest";
import { ConflictError, IllegalTransitionError, StoreError } from "../../shared/errors.js";
import type { JobRecord } from "../../shared/server/job.js";
import type { AcctRecord, UsageCharge } from "../../shared/server/records.js";
import { codeOf, dayOf, freshStore, job, type MakeStore, rejection } from "./store-fixture.js";

const T0 = Date.UTC(2026, 11, 2, 8, 0, 0);
const acct = (jobId: string, type = "E", time = T0): AcctRecord => ({
  time,
  jobId,
  type,
  data: { user: "alice" },
});
const charge = (over: Partial<UsageCharge> = {}): UsageCharge => ({
  account: "P1",
  where: "casper",
  coreSeconds: 60,
  walltime: 60,
  ...over,
});

export function jobContract(makeStore: MakeStore) {
  const store = freshStore(makeStore);

  describe("a job write is conditional", () => {
    it("creates a job once: the same key again is a ConflictError and the first one stays", async () => {
      const s = store();
      await s.createJob(job(1, { name: "first" }));
      const err = await rejection(s.createJob(job(1, { name: "second" })), ConflictError);
      expect(err).not.toBeInstanceOf(StoreError);
      expect((await s.getJob("1"))?.name).toBe("first");
    });

    it("updates at the ver read, bumps it, removes cleared fields, and returns the new record", async () => {
      const s = store();
      await s.createJob(job(1, { comment: "waiting" }));
      const read = (await s.getJob("1")) as JobRecord;
      const out = await s.updateJob(read, { ...read, state: "H", holds: "u", comment: undefined });
      expect(out.ver).toBe(1);
      const now = await s.getJob("1");
      expect(now?.ver).toBe(1);
      expect(now?.state).toBe("H");
      expect(now?.holds).toBe("u");
      expect(now && "comment" in now).toBe(false);
    });

    it("refuses a write at a stale ver with ConflictError and writes nothing", async () => {
      const s = store();
      await s.createJob(job(1));
      const read = (await s.getJob("1")) as JobRecord;
      await s.updateJob(read, { ...read, comment: "first writer" });
      await rejection(s.updateJob(read, { ...read, comment: "second writer" }), ConflictError);
      const now = await s.getJob("1");
      expect(now?.comment).toBe("first writer");
      expect(now?.ver).toBe(1);
    });

    it("refuses an update of a job that does not exist, creating nothing", async () => {
      const s = store();
      await rejection(s.updateJob(job(9), { ...job(9), comment: "x" }), ConflictError);
      expect(await s.getJob("9")).toBeUndefined();
    });
  });

  describe("the state table", () => {
    it("refuses a forbidden transition with IllegalTransitionError before writing anything", async () => {
      const s = store();
      await s.createJob(job(1));
      const read = (await s.getJob("1")) as JobRecord;
      await rejection(s.updateJob(read, { ...read, state: "M" }), IllegalTransitionError);
      // in a transaction too, with the other (legal) write not applied
      await s.createJob(job(2));
      const two = (await s.getJob("2")) as JobRecord;
      await rejection(
        s.transactJobs([
          { before: two, after: { ...two, comment: "legal" } },
          { before: read, after: { ...read, state: "M" } },
        ]),
        IllegalTransitionError,
      );
      expect(await s.getJob("1")).toEqual(read);
      expect(await s.getJob("2")).toEqual(two);
    });

    it("refuses to create a job in a state jobs are never created in", async () => {
      const s = store();
      await rejection(s.createJob(job(1, { state: "F" })), IllegalTransitionError);
      await rejection(s.transactJobs([], [job(2, { state: "B" })]), IllegalTransitionError);
      await rejection(s.createInbound(job(3, { state: "X" }), "tr-3"), IllegalTransitionError);
      expect((await s.getJobs(["1", "2", "3"])).size).toBe(0);
      expect(await s.getTransfer("tr-3")).toBeUndefined();
    });
  });

  describe("multi-item writes are all or nothing", () => {
    it("updateJob with an accounting record and a charge: all land, or none at a stale ver", async () => {
      const s = store();
      await s.createJob(job(1, { state: "R" }));
      const read = (await s.getJob("1")) as JobRecord;
      await s.updateJob(read, { ...read, state: "F" }, acct("1.casper"), charge());
      expect(await s.listAcct(dayOf(T0))).toEqual([acct("1.casper")]);
      expect((await s.getProject("P1"))?.coreSeconds).toEqual({ casper: 60 });

      await s.createJob(job(2, { state: "R" }));
      const two = (await s.getJob("2")) as JobRecord;
      await s.updateJob(two, { ...two, comment: "moved on" });
      await rejection(s.updateJob(two, { ...two, state: "F" }, acct("2.casper"), charge()), ConflictError);
      expect(await s.listAcct(dayOf(T0))).toEqual([acct("1.casper")]);
      expect((await s.getProject("P1"))?.coreSeconds).toEqual({ casper: 60 });
      expect((await s.getJob("2"))?.state).toBe("R");
    });

    it("createJob with edges, accounting and updates: a finished parent fails it all", async () => {
      const s = store();
      await s.createJob(job(1));
      await s.createJob(job(2, { state: "R" }));
      const running = (await s.getJob("2")) as JobRecord;
      await s.updateJob(running, { ...running, state: "F" });
      await s.createJob(job(3));
      const other = (await s.getJob("3")) as JobRecord;
      const child = job(4, { state: "H", holds: "s", depPending: ["1.casper", "2.casper"] });
      await rejection(
        s.createJob(
          child,
          [
            { parentKey: "1", childId: "4.casper", type: "afterok" },
            { parentKey: "2", childId: "4.casper", type: "afterok" },
          ],
          acct("4.casper", "Q"),
          [{ before: other, after: { ...other, comment: "touched" } }],
        ),
        ConflictError,
      );
      expect(await s.getJob("4")).toBeUndefined();
      expect(await s.getJobWithEdges("1")).toEqual({ job: await s.getJob("1"), edges: [] });
      expect((await s.getJob("1"))?.ver).toBe(0);
      expect((await s.getJob("1"))?.hasDeps).toBeUndefined();
      expect(await s.getJob("3")).toEqual(other);
      expect(await s.listAcct(dayOf(T0))).toEqual([]);
    });

    it("createJob under unfinished parents: edges, hasDeps and a ver bump on each parent", async () => {
      const s = store();
      await s.createJob(job(1));
      await s.createJob(job(2, { state: "T" }));
      const moved = (await s.getJob("2")) as JobRecord;
      // a moved job counts as unfinished until its end comes back
      await s.updateJob(moved, { ...moved, state: "M" });
      const child = job(3, { state: "H", holds: "s", depPending: ["1.casper", "2.casper"] });
      await s.createJob(
        child,
        [
          { parentKey: "1", childId: "3.casper", type: "afterok" },
          { parentKey: "2", childId: "3.casper", type: "afterany" },
        ],
        acct("3.casper", "Q"),
      );
      const one = await s.getJobWithEdges("1");
      expect(one.job?.hasDeps).toBe(true);
      expect(one.job?.ver).toBe(1);
      expect(one.edges).toEqual([{ parentKey: "1", childId: "3.casper", type: "afterok" }]);
      expect((await s.getJob("2"))?.ver).toBe(2);
      expect(await s.getJob("3")).toEqual(child);
      expect(await s.listAcct(dayOf(T0))).toEqual([acct("3.casper", "Q")]);
    });

    it("createJob refuses a missing parent and a moved parent whose end came back", async () => {
      const s = store();
      await rejection(
        s.createJob(job(3), [{ parentKey: "99", childId: "3.casper", type: "afterok" }]),
        ConflictError,
      );
      await s.createJob(job(1, { state: "T" }));
      const t = (await s.getJob("1")) as JobRecord;
      await s.updateJob(t, { ...t, state: "M", obittime: T0 });
      await rejection(
        s.createJob(job(3), [{ parentKey: "1", childId: "3.casper", type: "afterok" }]),
        ConflictError,
      );
      expect(await s.getJob("3")).toBeUndefined();
      expect(await s.getJob("99")).toBeUndefined();
      expect((await s.getJobWithEdges("1")).edges).toEqual([]);
    });

    it("createJob keeps a before-type edge from the new job itself, with no parent to check", async () => {
      const s = store();
      await s.createJob(job(5, { depOn: 1 }), [{ parentKey: "5", childId: "6.casper", type: "after" }]);
      const got = await s.getJobWithEdges("5");
      expect(got.job?.ver).toBe(0);
      expect(got.edges).toEqual([{ parentKey: "5", childId: "6.casper", type: "after" }]);
    });

    it("createJob with a stale update creates nothing", async () => {
      const s = store();
      await s.createJob(job(1));
      const read = (await s.getJob("1")) as JobRecord;
      await s.updateJob(read, { ...read, comment: "newer" });
      await rejection(
        s.createJob(job(2, { state: "H", holds: "s" }), [], undefined, [
          { before: read, after: { ...read, state: "H", holds: "s" } },
        ]),
        ConflictError,
      );
      expect(await s.getJob("2")).toBeUndefined();
      expect((await s.getJob("1"))?.state).toBe("Q");
    });

    it("transactJobs: one stale update or one existing key, and nothing is written", async () => {
      const s = store();
      await s.createJob(job(1));
      await s.createJob(job(2));
      const one = (await s.getJob("1")) as JobRecord;
      const two = (await s.getJob("2")) as JobRecord;
      await s.updateJob(two, { ...two, comment: "newer" });
      const sub = job(3, { state: "R", parentKey: "1", arrayIndex: 0, key: "1[0]", id: "1[0].casper" });
      await rejection(
        s.transactJobs([
          { before: one, after: { ...one, state: "B" } },
          { before: two, after: { ...two, comment: "stale" } },
        ]),
        ConflictError,
      );
      await rejection(
        s.transactJobs([{ before: one, after: { ...one, state: "B" } }], [sub, job(2)]),
        ConflictError,
      );
      expect(await s.getJob("1")).toEqual(one);
      expect(await s.getJob("1[0]")).toBeUndefined();
      await s.transactJobs([{ before: one, after: { ...one, state: "B" } }], [sub]);
      expect((await s.getJob("1"))?.state).toBe("B");
      expect(await s.getJob("1[0]")).toEqual(sub);
    });

    it("refuses two writes of one item in a transaction as a StoreError, not a conflict", async () => {
      const s = store();
      await s.createJob(job(1));
      const err = await rejection(
        s.createJob(job(2, { state: "H", holds: "s" }), [
          { parentKey: "1", childId: "2.casper", type: "afterok" },
          { parentKey: "1", childId: "2.casper", type: "afterany" },
        ]),
        StoreError,
      );
      expect(codeOf(err)).toBe("StoreValidation");
      expect(await s.getJob("2")).toBeUndefined();
      expect((await s.getJob("1"))?.ver).toBe(0);
    });
  });

  describe("edges", () => {
    it("addEdge under an unfinished parent sets hasDeps and bumps ver; read back with getJobAndEdge", async () => {
      const s = store();
      await s.createJob(job(1));
      await s.addEdge({ parentKey: "1", childId: "7.derecho", type: "afterok", site: "derecho" });
      const got = await s.getJobAndEdge("1", "7.derecho");
      expect(got.job?.hasDeps).toBe(true);
      expect(got.job?.ver).toBe(1);
      expect(got.edge).toEqual({ parentKey: "1", childId: "7.derecho", type: "afterok", site: "derecho" });
      expect((await s.getJobAndEdge("1", "8.derecho")).edge).toBeUndefined();
      await s.deleteEdge("1", "7.derecho");
      expect(await s.getJobWithEdges("1")).toEqual({ job: got.job, edges: [] });
    });

    it("addEdge on a finished or missing parent is a ConflictError and writes nothing", async () => {
      const s = store();
      await s.createJob(job(1, { state: "R" }));
      const r = (await s.getJob("1")) as JobRecord;
      const done = await s.updateJob(r, { ...r, state: "F" });
      await rejection(s.addEdge({ parentKey: "1", childId: "7.derecho", type: "afterok" }), ConflictError);
      await rejection(s.addEdge({ parentKey: "2", childId: "7.derecho", type: "afterok" }), ConflictError);
      expect(await s.getJobWithEdges("1")).toEqual({ job: await s.getJob("1"), edges: [] });
      expect((await s.getJob("1"))?.ver).toBe(done.ver);
      expect((await s.getJobWithEdges("2")).edges).toEqual([]);
    });

    it("lists every edge of a job, in child order", async () => {
      const s = store();
      await s.createJob(job(1));
      for (const c of ["9.casper", "10.casper", "8.derecho"])
        await s.addEdge({ parentKey: "1", childId: c, type: "afterany" });
      const { edges } = await s.getJobWithEdges("1");
      expect(edges.map((e) => e.childId)).toEqual(["10.casper", "8.derecho", "9.casper"]);
    });
  });

  describe("items and values", () => {
    it("refuses a job item over 400 KB with StoreError JobTooLarge, on create and on update", async () => {
      const s = store();
      const big = job(1, { script: "x".repeat(450 * 1024) });
      expect(s.jobItemBytes(big)).toBeGreaterThan(400 * 1024);
      expect(s.jobItemBytes(job(1))).toBeLessThan(2 * 1024);
      const err = await rejection(s.createJob(big), StoreError);
      expect(codeOf(err)).toBe("JobTooLarge");
      expect(err.retryable).toBe(false);
      expect(await s.getJob("1")).toBeUndefined();
      await s.createJob(job(1));
      const read = (await s.getJob("1")) as JobRecord;
      const up = await rejection(s.updateJob(read, { ...read, script: big.script }), StoreError);
      expect(codeOf(up)).toBe("JobTooLarge");
      expect(await s.getJob("1")).toEqual(read);
    });

    it("copies values in and out: changing a record given or returned changes nothing stored", async () => {
      const s = store();
      const j = job(1, { env: { A: "1" } });
      await s.createJob(j);
      j.env.A = "changed";
      j.hist.push({ time: 1, source: "S", message: "after" });
      const got = (await s.getJob("1")) as JobRecord;
      expect(got.env).toEqual({ A: "1" });
      got.env.A = "again";
      got.sel[0].ncpus = 99;
      const again = await s.getJob("1");
      expect(again?.env).toEqual({ A: "1" });
      expect(again?.hist).toEqual([]);
      expect(again?.sel[0].ncpus).toBe(1);
    });

    it("reads several jobs at once, past 100 keys, skipping missing ones and repeats", async () => {
      const s = store();
      await Promise.all(Array.from({ length: 130 }, (_, i) => s.createJob(job(i + 1))));
      const want = [...Array.from({ length: 140 }, (_, i) => String(i + 1)), "5", "5"];
      const got = await s.getJobs(want);
      expect(got.size).toBe(130);
      expect(got.get("130")?.seq).toBe(130);
      expect(got.has("131")).toBe(false);
    });

    it("returns the script whole from every job read, through state changes, and forgets it with the job", async () => {
      const s = store();
      const script = `#!/bin/bash\n#PBS -N s\n${"# line\n".repeat(300)}true\n`;
      await s.createJob(job(1, { script }));
      await s.createJob(job(2, { script: "other\n" }));
      const r = (await s.getJob("1")) as JobRecord;
      expect(r.script).toBe(script);
      const started = await s.updateJob(r, { ...r, state: "R", comment: "running" });
      await s.updateJob(started, { ...started, state: "F", comment: "done" });
      expect((await s.getJob("1"))?.script).toBe(script);
      expect((await s.getJob("1", false))?.script).toBe(script);
      const many = await s.getJobs(["1", "2"]);
      expect([many.get("1")?.script, many.get("2")?.script]).toEqual([script, "other\n"]);
      expect((await s.getJobWithEdges("1")).job?.script).toBe(script);
      expect((await s.getJobAndEdge("1", "9.casper")).job?.script).toBe(script);
      // a record read from an index has no script: writing it back keeps the stored one
      const listed = (await s.listJobPage({ queues: ["workq"], history: true, limit: 5 })).jobs.find(
        (j) => j.seq === 1,
      ) as JobRecord;
      const fin = (await s.getJob("1")) as JobRecord;
      await s.updateJob(
        { ...fin, script: listed.script as string },
        { ...fin, script: listed.script as string, comment: "x" },
      );
      expect((await s.getJob("1"))?.script).toBe(script);
      await s.purgeJob((await s.getJob("1")) as JobRecord);
      expect(await s.getJob("1")).toBeUndefined();
      await s.createJob(job(1, { script: "again\n" }));
      expect((await s.getJob("1"))?.script).toBe("again\n");
    });

    it("returns the environment from every job read, keeps it through writes that lack it, and stores a change of it", async () => {
      const s = store();
      const env = { PBS_O_HOME: "/home/alice", PBS_O_WORKDIR: "/glade/work", PBS_O_QUEUE: "workq" };
      await s.createJob(job(1, { env }));
      const r = (await s.getJob("1")) as JobRecord;
      expect(r.env).toEqual(env);
      // a record as an index read gives it (no env): written back, the stored env stays
      const [ready] = await s.queryReady("workq", 1);
      expect(ready.env).toBeUndefined();
      const held = await s.updateJob(ready, { ...ready, state: "H", holds: "u" });
      expect((await s.getJob("1"))?.env).toEqual(env);
      expect((await s.getJobs(["1"])).get("1")?.env).toEqual(env);
      expect((await s.getJobWithEdges("1")).job?.env).toEqual(env);
      // a real change (qalter -v, qmove's PBS_O_QUEUE) is stored and read back
      const cur = (await s.getJob("1")) as JobRecord;
      expect(cur.ver).toBe(held.ver);
      const moved = { ...env, PBS_O_QUEUE: "other" };
      await s.updateJob(cur, { ...cur, env: moved, comment: "moved" });
      expect((await s.getJob("1"))?.env).toEqual(moved);
      expect((await s.getJobAndEdge("1", "9.casper")).job?.env).toEqual(moved);
      const [row] = (await s.listJobPage({ queues: ["workq"], history: false, limit: 1 })).jobs;
      expect([row.env, row.script]).toEqual([moved, undefined]);
    });

    it("reserves consecutive sequence numbers", async () => {
      const s = store();
      expect(await s.reserveSeq(1)).toBe(1);
      expect(await s.reserveSeq(10)).toBe(2);
      expect(await s.reserveSeq(1)).toBe(12);
    });
  });
}
