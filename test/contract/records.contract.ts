/**
 * Contract, the other records: server objects (versioned), reports and samples, MOM beats and
 * boots, transfers between sites, peer-message claims, and the ledger.
 */
import { describe, expect, it } from "vitest";
import { ConflictError } from "../../shared/errors.js";
import type { JobRecord } from "../../shared/server/job.js";
import type { AuditRecord, ServerObject } from "../../shared/server/records.js";
import { dayOf, freshStore, job, type MakeStore, rejection } from "./store-fixture.js";

const T0 = Date.UTC(2026, 11, 2, 8, 0, 0);
const queue = (name: string, attrs: ServerObject["attrs"] = {}): ServerObject => ({
  kind: "queue",
  name,
  attrs,
  ver: 0,
});

export function recordContract(makeStore: MakeStore) {
  const store = freshStore(makeStore);

  describe("server objects", () => {
    it("creates once, replaces at the ver read, deletes at the ver read", async () => {
      const s = store();
      await s.putServerObject(queue("workq", { enabled: true }));
      await rejection(s.putServerObject(queue("workq")), ConflictError);
      await s.putServerObject(queue("workq", { enabled: false }), 0);
      await rejection(s.putServerObject(queue("workq", { enabled: true }), 0), ConflictError);
      await rejection(s.putServerObject(queue("nosuch"), 0), ConflictError);
      expect(await s.getServerObjects()).toEqual([{ ...queue("workq", { enabled: false }), ver: 1 }]);
      await rejection(s.deleteServerObject("queue", "workq", 0), ConflictError);
      await rejection(s.deleteServerObject("queue", "nosuch", 0), ConflictError);
      await s.deleteServerObject("queue", "workq", 1);
      expect(await s.getServerObjects()).toEqual([]);
    });

    it("lists every kind, and nothing else the server partition holds", async () => {
      const s = store();
      await s.putServerObject({ kind: "server", name: "casper-pbs", attrs: { scheduling: true }, ver: 0 });
      await s.putServerObject({ kind: "sched", name: "default", attrs: {}, ver: 0 });
      await s.putServerObject({ kind: "node", name: "c1", attrs: { ncpus: 4 }, ver: 0 });
      await s.putServerObject(queue("workq"));
      await s.reserveSeq(3);
      await s.putMomBeat({ momId: "m1", jobs: [], at: T0 });
      await s.putMomBoot("c1", "m1", T0);
      const got = await s.getServerObjects();
      expect(got.map((o) => `${o.kind}:${o.name}`).sort()).toEqual([
        "node:c1",
        "queue:workq",
        "sched:default",
        "server:casper-pbs",
      ]);
      expect(got.find((o) => o.kind === "node")?.attrs).toEqual({ ncpus: 4 });
    });

    it("keeps the intake's state: created once at ver 0, then each write at the next ver only; not a server object", async () => {
      const s = store();
      expect(await s.getIntake()).toBeUndefined();
      await rejection(s.putIntake({ state: "asleep", since: T0, ver: 1 }), ConflictError);
      await s.putIntake({ state: "draining", since: T0, ver: 0 });
      await rejection(s.putIntake({ state: "awake", since: T0, ver: 0 }), ConflictError);
      await s.putIntake({ state: "asleep", since: T0 + 1, ver: 1 });
      // two writers from ver 1: one wins
      const both = await Promise.allSettled([
        s.putIntake({ state: "waking", since: T0 + 2, ver: 2 }),
        s.putIntake({ state: "awake", since: T0 + 3, ver: 2 }),
      ]);
      expect(both.filter((r) => r.status === "fulfilled")).toHaveLength(1);
      const got = await s.getIntake();
      expect(got?.ver).toBe(2);
      expect(["waking", "awake"]).toContain(got?.state);
      await rejection(s.putIntake({ state: "asleep", since: T0 + 4, ver: 4 }), ConflictError);
      await s.putServerObject(queue("workq"));
      expect((await s.getServerObjects()).map((o) => o.kind)).toEqual(["queue"]);
    });

    it("keeps the last cycle report of each scheduler, and stat samples from a time on", async () => {
      const s = store();
      await s.putCycleReport("default", { at: 1, started: 2 });
      await s.putCycleReport("default", { at: 2, started: 0 });
      await s.putCycleReport("gpu", { at: 3 });
      expect(await s.getCycleReports()).toEqual([
        { pk: "CYCLE", sk: "default", at: 2, started: 0 },
        { pk: "CYCLE", sk: "gpu", at: 3 },
      ]);
      const sample = (t: number) => ({ t, queued: t % 7, running: 1, held: 0, movedIn: { derecho: 2 } });
      for (const t of [T0 + 120_000, T0, T0 + 60_000, T0 - 60_000]) await s.putStatSample(sample(t));
      await s.putStatSample({ ...sample(T0), queued: 9 });
      // a sample of a queue counted up to the cap (shared/api/counts.ts) keeps saying so
      await s.putStatSample({ ...sample(T0 + 120_000), capped: true });
      expect(await s.getStatSamples(T0)).toEqual([
        { ...sample(T0), queued: 9 },
        sample(T0 + 60_000),
        { ...sample(T0 + 120_000), capped: true },
      ]);
    });
  });

  describe("MOMs", () => {
    it("keeps each MOM's last beat", async () => {
      const s = store();
      await s.putMomBeat({ momId: "m1", jobs: [{ jobId: "1.casper", runCount: 1 }], at: T0 });
      await s.putMomBeat({ momId: "m1", jobs: [], at: T0 + 1, nonce: "n", sig: "s" });
      await s.putMomBeat({ momId: "m2", jobs: [], at: T0 });
      const got = await s.getMomBeats(["m1", "m2", "m3", "m1"]);
      expect([...got.keys()].sort()).toEqual(["m1", "m2"]);
      expect(got.get("m1")).toEqual({ momId: "m1", jobs: [], at: T0 + 1, nonce: "n", sig: "s" });
    });

    it("drops a MOM's beat after the obituary of its only run, and keeps a beat naming other runs", async () => {
      const s = store();
      const run = { jobId: "1.casper", runCount: 2 };
      await s.putMomBeat({ momId: "ecs:1:2", jobs: [run], at: T0 });
      await s.putMomBeat({ momId: "node1", jobs: [run, { jobId: "2.casper", runCount: 1 }], at: T0 });
      await s.putMomBeat({ momId: "idle", jobs: [], at: T0 });
      await s.putMomBeat({ momId: "other", jobs: [{ jobId: "1.casper", runCount: 1 }], at: T0 });
      await s.dropMomBeat("ecs:1:2", run);
      await s.dropMomBeat("node1", run);
      await s.dropMomBeat("idle", run);
      await s.dropMomBeat("other", run); // an earlier run of the job: not this one
      await s.dropMomBeat("never-beat", run); // nothing to drop is no error
      expect([...(await s.getMomBeats(["ecs:1:2", "node1", "idle", "other"])).keys()].sort()).toEqual([
        "node1",
        "other",
      ]);
    });

    it("takes a node's later boot, the same boot again, and refuses an older one", async () => {
      const s = store();
      expect(await s.putMomBoot("c1", "m1", T0)).toBe(true);
      expect(await s.putMomBoot("c1", "m1", T0)).toBe(true);
      expect(await s.putMomBoot("c1", "m2", T0)).toBe(false); // same time, another MOM
      expect(await s.putMomBoot("c1", "m2", T0 + 1)).toBe(true);
      expect(await s.putMomBoot("c1", "m1", T0)).toBe(false); // a replayed hello
      expect(await s.putMomBoot("c2", "m1", T0 - 5)).toBe(true); // another node
    });

    it("records a MOM's push connection: a later connect wins, an older one and a stale drop do not", async () => {
      const s = store();
      const c = (connectionId: string, at: number) => ({ momId: "n1:a", connectionId, at });
      expect(await s.getMomConnection("n1:a")).toBeUndefined();
      expect(await s.putMomConnection(c("k1", T0))).toBe(true);
      expect(await s.putMomConnection(c("k1", T0))).toBe(true); // the same connect again
      expect(await s.putMomConnection(c("k2", T0 + 5))).toBe(true); // it reconnected
      expect(await s.putMomConnection(c("k0", T0 - 5))).toBe(false); // a connect delivered late
      expect(await s.getMomConnection("n1:a")).toEqual(c("k2", T0 + 5));
      expect(await s.momOfConnection("k1")).toBe("n1:a");
      // the first connection's close comes after the reconnect: the new one stays
      await s.dropMomConnection("n1:a", "k1");
      expect(await s.getMomConnection("n1:a")).toEqual(c("k2", T0 + 5));
      expect(await s.momOfConnection("k1")).toBeUndefined();
      await s.dropMomConnection("n1:a", "k2");
      expect(await s.getMomConnection("n1:a")).toBeUndefined();
      // the server partition's objects do not see them
      expect(await s.getServerObjects()).toEqual([]);
    });
  });

  describe("transfers", () => {
    const inbound = (seq: number): JobRecord =>
      job(seq, {
        state: "T",
        inbound: {
          transferId: `tr-${seq}`,
          originId: "9.derecho",
          from: "derecho",
          committed: false,
          originUser: "alice",
        },
      });

    it("creates a received job with its transfer once; the transfer again is a ConflictError", async () => {
      const s = store();
      await s.createInbound(inbound(1), "tr-1");
      expect(await s.getTransfer("tr-1")).toEqual({
        transferId: "tr-1",
        status: "created",
        key: "1",
        newId: "1.casper",
      });
      expect(await s.getJob("1")).toEqual(inbound(1));
      await rejection(s.createInbound(inbound(2), "tr-1"), ConflictError);
      expect(await s.getJob("2")).toBeUndefined();
      // a free transfer id but a taken job key: nothing either
      await rejection(s.createInbound(inbound(1), "tr-9"), ConflictError);
      expect(await s.getTransfer("tr-9")).toBeUndefined();
    });

    it("tombstones an unknown transfer, so a late FORWARD creates nothing; a known one is a ConflictError", async () => {
      const s = store();
      await s.abortInbound("tr-5");
      expect(await s.getTransfer("tr-5")).toEqual({ transferId: "tr-5", status: "aborted" });
      await rejection(s.createInbound(inbound(5), "tr-5"), ConflictError);
      expect(await s.getJob("5")).toBeUndefined();
      await s.createInbound(inbound(6), "tr-6");
      await rejection(s.abortInbound("tr-6"), ConflictError);
      expect((await s.getTransfer("tr-6"))?.status).toBe("created");
      await rejection(s.abortInbound("tr-5"), ConflictError);
    });

    it("drops the job a transfer made only if unchanged and still in transit", async () => {
      const s = store();
      await s.createInbound(inbound(1), "tr-1");
      const read = (await s.getJob("1")) as JobRecord;
      await s.updateJob(read, { ...read, comment: "changed" });
      await rejection(s.abortInbound("tr-1", read), ConflictError);
      expect((await s.getTransfer("tr-1"))?.status).toBe("created");
      expect((await s.getJob("1"))?.comment).toBe("changed");
      const now = (await s.getJob("1")) as JobRecord;
      const q = await s.updateJob(now, { ...now, state: "Q" });
      await rejection(s.abortInbound("tr-1", q), ConflictError); // committed meanwhile
      expect((await s.getJob("1"))?.state).toBe("Q");
      await s.createInbound(inbound(2), "tr-2");
      await s.abortInbound("tr-2", (await s.getJob("2")) as JobRecord);
      expect(await s.getJob("2")).toBeUndefined();
      expect(await s.getTransfer("tr-2")).toEqual({
        transferId: "tr-2",
        status: "aborted",
        key: "2",
        newId: "2.casper",
      });
    });
  });

  describe("peers", () => {
    const claim = (delivery: string, until = T0 + 600_000) => ({
      peer: "derecho",
      id: "msg-1",
      delivery,
      type: "HEARTBEAT",
      until,
    });

    it("takes a message once: the same delivery again, not another; an expired claim is taken again", async () => {
      const s = store();
      await s.claimPeerMessage(claim("q1"), T0);
      await s.claimPeerMessage(claim("q1"), T0 + 1000);
      await rejection(s.claimPeerMessage(claim("q2"), T0 + 1000), ConflictError);
      await rejection(s.claimPeerMessage(claim("q2"), T0 + 600_000), ConflictError); // still live at its end
      await s.claimPeerMessage(claim("q2", T0 + 1_200_000), T0 + 601_000);
      await rejection(s.claimPeerMessage(claim("q1"), T0 + 601_000), ConflictError); // now q2's
      await s.claimPeerMessage({ ...claim("q3"), id: "msg-2" }, T0);
    });

    it("keeps what each peer last said", async () => {
      const s = store();
      await s.putPeerSeen({ short: "gust", state: "active", at: T0 });
      await s.putPeerSeen({ short: "derecho", state: "active", at: T0 });
      await s.putPeerSeen({ short: "derecho", state: "down", at: T0 + 5 });
      expect(await s.getPeersSeen()).toEqual([
        { short: "derecho", state: "down", at: T0 + 5 },
        { short: "gust", state: "active", at: T0 },
      ]);
    });
  });

  describe("the ledger", () => {
    it("accumulates charges per counter, in decimal", async () => {
      const s = store();
      await s.chargeUsage({ account: "P1", where: "casper", coreSeconds: 0.1, walltime: 10 });
      await s.chargeUsage({ account: "P1", where: "casper", coreSeconds: 0.2, walltime: 5 });
      await s.chargeUsage({ account: "P1", where: "for_derecho", coreSeconds: 7, walltime: 7 });
      await s.chargeUsage({ account: "P2", where: "casper", coreSeconds: 1, walltime: 1 });
      expect(await s.getProject("P1")).toEqual({
        account: "P1",
        coreSeconds: { casper: 0.3, for_derecho: 7 },
        walltime: { casper: 15, for_derecho: 7 },
      });
      expect((await s.listProjects()).map((p) => p.account)).toEqual(["P1", "P2"]);
      expect(await s.getProject("P3")).toBeUndefined();
    });

    it("sets and clears an allocation, keeping the counters", async () => {
      const s = store();
      await s.chargeUsage({ account: "P1", where: "casper", coreSeconds: 100, walltime: 50 });
      await s.setAllocation("P1", 1000);
      expect(await s.getProject("P1")).toEqual({
        account: "P1",
        granted: 1000,
        coreSeconds: { casper: 100 },
        walltime: { casper: 50 },
      });
      await s.setAllocation("P1", undefined);
      expect(await s.getProject("P1")).toEqual({
        account: "P1",
        coreSeconds: { casper: 100 },
        walltime: { casper: 50 },
      });
      await s.setAllocation("P2", 5);
      expect(await s.getProject("P2")).toEqual({ account: "P2", granted: 5, coreSeconds: {}, walltime: {} });
    });

    it("lists a day's accounting records in time order", async () => {
      const s = store();
      const rec = (t: number, jobId: string, type: string) => ({
        time: t,
        jobId,
        type,
        data: { n: t % 1000 },
      });
      await s.putAcct(rec(T0 + 2000, "2.casper", "E"));
      await s.putAcct(rec(T0, "1.casper", "S"));
      await s.putAcct(rec(T0 + 1000, "1.casper", "E"));
      await s.putAcct(rec(T0 + 86_400_000, "3.casper", "Q"));
      expect(await s.listAcct(dayOf(T0))).toEqual([
        rec(T0, "1.casper", "S"),
        rec(T0 + 1000, "1.casper", "E"),
        rec(T0 + 2000, "2.casper", "E"),
      ]);
      expect((await s.listAcct(dayOf(T0 + 86_400_000))).map((r) => r.jobId)).toEqual(["3.casper"]);
    });

    it("settles an end once: its record and its charge together, nothing on the same key again", async () => {
      const s = store();
      const e = { time: T0, jobId: "1.casper", type: "E", data: { Exit_status: 0 } };
      const charge = { account: "P1", where: "casper", coreSeconds: 120, walltime: 60 };
      expect(await s.settleEnds([{ rec: e, charge }])).toEqual([true]);
      // a redelivered end: same key, so neither record nor charge again
      expect(await s.settleEnds([{ rec: e, charge }])).toEqual([false]);
      expect(await s.settleEnds([{ rec: { ...e, data: { Exit_status: 1 } } }])).toEqual([false]);
      expect(await s.listAcct(dayOf(T0))).toEqual([e]);
      expect((await s.getProject("P1"))?.coreSeconds).toEqual({ casper: 120 });
      // a batch: the settled one again beside new ones of the same project (charged once, summed)
      // and one without a charge
      const f = { ...e, jobId: "2.casper" };
      const d = { ...e, jobId: "3.casper", type: "D" };
      const g = { ...e, jobId: "4.casper" };
      expect(
        await s.settleEnds([
          { rec: e, charge },
          { rec: f, charge },
          { rec: d },
          { rec: g, charge: { ...charge, where: "for_derecho" } },
        ]),
      ).toEqual([false, true, true, true]);
      expect(await s.settleEnds([{ rec: d }])).toEqual([false]);
      expect((await s.listAcct(dayOf(T0))).map((r) => r.jobId)).toEqual([
        "1.casper",
        "2.casper",
        "3.casper",
        "4.casper",
      ]);
      expect((await s.getProject("P1"))?.coreSeconds).toEqual({ casper: 240, for_derecho: 120 });
    });

    it("puts only the accounting records that are missing (ensureAcct)", async () => {
      const s = store();
      const q = { time: T0, jobId: "1.casper", type: "Q", data: { queue: "workq" } };
      const st = { time: T0 + 1000, jobId: "1.casper", type: "S", data: { start: 1 } };
      await s.putAcct(q);
      await s.ensureAcct([{ ...q, data: { queue: "changed" } }, st]);
      await s.ensureAcct([st]);
      expect(await s.listAcct(dayOf(T0))).toEqual([q, st]);
    });

    it("ensureAcct takes a batch's checks at once: more than 100 records, a record named twice", async () => {
      const s = store();
      const recs = Array.from({ length: 130 }, (_, i) => ({
        time: T0 + i,
        jobId: `${i + 1}.casper`,
        type: "Q",
        data: { queue: "workq" },
      }));
      await s.putAcct(recs[7]);
      // the ends of one obituary batch may check the same record twice (a redelivered copy)
      await s.ensureAcct([...recs, recs[3], recs[7]]);
      const got = await s.listAcct(dayOf(T0));
      expect(got).toHaveLength(130);
      expect(new Set(got.map((r) => r.jobId)).size).toBe(130);
    });

    it("putAccts puts many records at once (more than a 25-item batch), a record named twice once", async () => {
      const s = store();
      const recs = Array.from({ length: 60 }, (_, i) => ({
        time: T0 + i,
        jobId: `${i + 1}.casper`,
        type: i % 2 ? "S" : "Q",
        data: { queue: "workq" },
      }));
      // a record already there (a repaired or repeated put) is rewritten with itself
      await s.putAcct(recs[5]);
      expect(await s.putAccts([...recs, recs[9]])).toEqual([...recs, recs[9]].map(() => undefined));
      expect(await s.listAcct(dayOf(T0))).toEqual(recs);
      expect(await s.putAccts([])).toEqual([]);
    });

    it("keeps audit lines by day, and by job next to the job", async () => {
      const s = store();
      const line = (t: number, over: Partial<AuditRecord> = {}): AuditRecord => ({
        time: t,
        user: "root",
        action: "qdel",
        target: "1.casper",
        outcome: "allowed",
        reason: "manager",
        ...over,
      });
      await s.createJob(job(1));
      await s.putAudit(line(T0 + 2, { jobKey: "1" }));
      await s.putAudit(line(T0, { jobKey: "1", outcome: "refused", user: "bob" }));
      await s.putAudit(line(T0 + 1, { action: "qmgr", target: "set server" }));
      expect(await s.listAudit(dayOf(T0))).toEqual([
        line(T0, { jobKey: "1", outcome: "refused", user: "bob" }),
        line(T0 + 1, { action: "qmgr", target: "set server" }),
        line(T0 + 2, { jobKey: "1" }),
      ]);
      expect((await s.jobAudit("1")).map((a) => a.time)).toEqual([T0, T0 + 2]);
      // the job itself is untouched, and its audit lines are not edges
      expect(await s.getJobWithEdges("1")).toEqual({ job: job(1), edges: [] });
    });
  });
}
