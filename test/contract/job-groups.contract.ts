/**
 * Contract, group commit (JobStore.writeJobs): each write of a group lands with its accounting
 * record and charge or not at all, conditional on its own ver; a write that lost its race comes
 * back as its ConflictError with nothing of it written while the others land; groups past one
 * transaction's 100 actions or 4 MB are cut, not refused.
 */
import { describe, expect, it } from "vitest";
import { ConflictError, IllegalTransitionError, StoreError } from "../../shared/errors.js";
import type { JobWrite } from "../../shared/ports/store.js";
import type { JobRecord } from "../../shared/server/job.js";
import type { AcctRecord, UsageCharge } from "../../shared/server/records.js";
import { codeOf, dayOf, freshStore, job, type MakeStore } from "./store-fixture.js";

const T0 = Date.UTC(2026, 11, 2, 8, 0, 0);
const acct = (jobId: string, type = "E"): AcctRecord => ({ time: T0, jobId, type, data: { user: "alice" } });
const charge = (account: string, coreSeconds = 60): UsageCharge => ({
  account,
  where: "casper",
  coreSeconds,
  walltime: 60,
});

/** Running jobs 1..n, read back as stored. */
async function running(
  s: ReturnType<ReturnType<typeof freshStore>>,
  n: number,
  from = 1,
): Promise<JobRecord[]> {
  const out: JobRecord[] = [];
  for (let i = from; i < from + n; i++) {
    await s.createJob(job(i, { state: "R" }));
    out.push((await s.getJob(String(i))) as JobRecord);
  }
  return out;
}
const end = (j: JobRecord, account?: string): JobWrite => ({
  before: j,
  after: { ...j, state: "F", exitStatus: 0 },
  acct: acct(j.id),
  charge: account ? charge(account) : undefined,
});

export function jobGroupContract(makeStore: MakeStore) {
  const store = freshStore(makeStore);

  describe("writeJobs (group commit)", () => {
    it("writes every change and create with its accounting record and charge, and returns the records", async () => {
      const s = store();
      const [a, b, c] = await running(s, 3);
      const created = job(4);
      const res = await s.writeJobs([
        end(a, "P1"),
        end(b, "P1"),
        end(c, "P2"),
        { create: created, acct: acct(created.id, "Q") },
      ]);
      expect(res.map((r) => (r instanceof Error ? r.message : r.ver))).toEqual([1, 1, 1, 0]);
      for (const k of ["1", "2", "3"]) expect(await s.getJob(k)).toMatchObject({ state: "F", ver: 1 });
      expect(await s.getJob("4")).toEqual(created);
      expect(res[0]).toEqual(await s.getJob("1"));
      // two ends charged to one project both count (never one action twice on its item)
      expect((await s.getProject("P1"))?.coreSeconds).toEqual({ casper: 120 });
      expect((await s.getProject("P2"))?.coreSeconds).toEqual({ casper: 60 });
      expect((await s.listAcct(dayOf(T0))).map((r) => `${r.jobId}:${r.type}`).sort()).toEqual([
        "1.casper:E",
        "2.casper:E",
        "3.casper:E",
        "4.casper:Q",
      ]);
    });

    it("a write at a stale ver or an existing key fails alone: nothing of it is written, the others land", async () => {
      const s = store();
      const [a, b, c] = await running(s, 3);
      await s.updateJob(b, { ...b, comment: "newer" });
      const res = await s.writeJobs([
        end(a, "P1"),
        end(b, "P1"),
        end(c, "P2"),
        { create: job(1), acct: acct("1.casper", "Q") },
      ]);
      expect(res[1]).toBeInstanceOf(ConflictError);
      expect(res[3]).toBeInstanceOf(ConflictError);
      expect(res[0]).toMatchObject({ state: "F", ver: 1 });
      expect(res[2]).toMatchObject({ state: "F", ver: 1 });
      // the stale one: its job, its accounting record and its charge are untouched
      expect(await s.getJob("2")).toMatchObject({ state: "R", comment: "newer", ver: 1 });
      expect((await s.getProject("P1"))?.coreSeconds).toEqual({ casper: 60 });
      expect((await s.listAcct(dayOf(T0))).map((r) => `${r.jobId}:${r.type}`).sort()).toEqual([
        "1.casper:E",
        "3.casper:E",
      ]);
      expect(await s.getJob("1")).toMatchObject({ state: "F", ver: 1 });
    });

    it("every write of a group at a stale ver: each its ConflictError, nothing written", async () => {
      const s = store();
      const js = await running(s, 3);
      for (const j of js) await s.updateJob(j, { ...j, comment: "newer" });
      const res = await s.writeJobs(js.map((j) => end(j, "P1")));
      for (const r of res) expect(r).toBeInstanceOf(ConflictError);
      for (const j of js) expect((await s.getJob(j.key))?.state).toBe("R");
      expect(await s.getProject("P1")).toBeUndefined();
      expect(await s.listAcct(dayOf(T0))).toEqual([]);
    });

    it("plain writes (no record, no charge: the hot path): a stale one and a create over an existing key fail alone, the rest land", async () => {
      const s = store();
      const js = await running(s, 4);
      await s.updateJob(js[2], { ...js[2], comment: "newer" });
      const res = await s.writeJobs([
        ...js.map((j) => ({ before: j, after: { ...j, comment: "seen" } })),
        { create: job(9) },
        { create: job(1) },
      ]);
      expect(res.map((r) => (r instanceof Error ? r.constructor.name : `${r.state}${r.ver}`))).toEqual([
        "R1",
        "R1",
        "ConflictError",
        "R1",
        "Q0",
        "ConflictError",
      ]);
      expect(await s.getJob("3")).toMatchObject({ state: "R", comment: "newer", ver: 1 });
      for (const k of ["1", "2", "4"]) expect(await s.getJob(k)).toMatchObject({ comment: "seen", ver: 1 });
      expect(await s.getJob("9")).toEqual(job(9));
    });

    it("two writes of one job in a group: the first lands, the second (same ver) is a conflict", async () => {
      const s = store();
      const [a] = await running(s, 1);
      const res = await s.writeJobs([
        { before: a, after: { ...a, comment: "first" } },
        { before: a, after: { ...a, comment: "second" } },
      ]);
      expect(res[0]).toMatchObject({ comment: "first", ver: 1 });
      expect(res[1]).toBeInstanceOf(ConflictError);
      expect(await s.getJob("1")).toMatchObject({ comment: "first", ver: 1 });
    });

    it("a forbidden transition or an oversized job fails alone, as the single write would", async () => {
      const s = store();
      const [a, b, c] = await running(s, 3);
      const res = await s.writeJobs([
        { before: a, after: { ...a, state: "T" } },
        { before: b, after: { ...b, script: "x".repeat(420 * 1024) } },
        end(c),
      ]);
      expect(res[0]).toBeInstanceOf(IllegalTransitionError);
      expect(res[1]).toBeInstanceOf(StoreError);
      expect(codeOf(res[1])).toBe("JobTooLarge");
      expect(res[2]).toMatchObject({ state: "F", ver: 1 });
      expect(await s.getJob("1")).toEqual(a);
      expect(await s.getJob("2")).toEqual(b);
    });

    it("creates of one group land each with its own script (more than one batch of script items)", async () => {
      const s = store();
      const created = Array.from({ length: 30 }, (_, i) => job(i + 1, { script: `echo ${i + 1}\n` }));
      const res = await s.writeJobs(created.map((c) => ({ create: c, acct: acct(c.id, "Q") })));
      expect(res.filter((r) => r instanceof Error)).toEqual([]);
      const got = await s.getJobs(created.map((c) => c.key));
      expect(created.map((c) => got.get(c.key)?.script)).toEqual(created.map((c) => c.script));
      expect(await s.getJob("30")).toEqual(created[29]);
    }, 60_000);

    it("a group past 100 actions is cut into transactions: 120 ends with their records all land", async () => {
      const s = store();
      const js = await running(s, 120);
      const res = await s.writeJobs(js.map((j) => end(j)));
      expect(res.filter((r) => r instanceof Error)).toEqual([]);
      const got = await s.getJobs(js.map((j) => j.key));
      expect([...got.values()].filter((j) => j.state === "F")).toHaveLength(120);
      expect(await s.listAcct(dayOf(T0))).toHaveLength(120);
    }, 180_000);

    it("a group past 4 MB is cut into transactions: 16 jobs of 300 KB all land", async () => {
      const s = store();
      const big = "x".repeat(290 * 1024);
      const js: JobRecord[] = [];
      for (let i = 1; i <= 16; i++) {
        await s.createJob(job(i, { state: "R", script: big }));
        js.push((await s.getJob(String(i))) as JobRecord);
      }
      const res = await s.writeJobs(js.map((j) => end(j)));
      expect(res.filter((r) => r instanceof Error).map((e) => (e as Error).message)).toEqual([]);
      const got = await s.getJobs(js.map((j) => j.key));
      expect([...got.values()].filter((j) => j.state === "F")).toHaveLength(16);
    }, 180_000);
  });
}
