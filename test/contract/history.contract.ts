/**
 * Contract, history (issue 12): through withHistory (shared/server/history.ts), a finished job
 * carries `expiresAt` = its end + job_history_duration (the table's TTL attribute), its audit
 * lines the same, its accounting records acctKeepDays; and once that time has passed every read
 * leaves them out, although the store still holds them (DynamoDB Local, like the memory adapter,
 * never deletes on TTL, and DynamoDB itself deletes only within days).
 */
import { expect, it } from "vitest";
import type { Clock } from "../../shared/ports/clock.js";
import {
  DEFAULT_HISTORY_S,
  historySeconds,
  scriptLeaseUntil,
  withHistory,
} from "../../shared/server/history.js";
import type { AcctRecord } from "../../shared/server/records.js";
import { dayOf, freshStoreUnderTest, job, type MakeStore } from "./store-fixture.js";

const T0 = Date.UTC(2026, 11, 2, 8, 0, 0);

class StepClock implements Clock {
  constructor(public t: number) {}
  now = () => this.t;
  sleep = async (ms: number) => {
    this.t += ms;
  };
}

export function historyContract(makeStore: MakeStore) {
  const under = freshStoreUnderTest(makeStore);

  /** The store as a site uses it, with job_history_duration 10 s and accounting kept 1 day. */
  async function site() {
    const clock = new StepClock(T0);
    const s = under().store;
    await s.putServerObject({
      kind: "server",
      name: "casper-pbs",
      attrs: { job_history_duration: "00:00:10" },
      ver: 0,
    });
    return { clock, s, h: withHistory(s, { clock, settings: { acctKeepDays: 1 } }) };
  }

  const endRecord = (t: number): AcctRecord => ({
    time: t,
    jobId: "1.casper",
    type: "E",
    data: { Exit_status: 0 },
  });

  it("a finished job expires job_history_duration after its end: qstat -x, the dashboard and the job's reads leave it out", async () => {
    const { clock, s, h } = await site();
    await h.createJob(job(1, { state: "Q" }));
    await h.createJob(job(2, { state: "Q" }));
    const q = await h.getJob("1");
    expect(q?.expiresAt).toBeUndefined();
    clock.t += 5_000;
    const f = await h.updateJob(q!, { ...q!, state: "F", mtime: clock.t }, endRecord(clock.t));
    // the TTL attribute is on the stored job (epoch seconds), and on its accounting record
    expect((await s.getJob("1"))?.expiresAt).toBe((T0 + 5_000) / 1000 + 10);
    expect(f.expiresAt).toBe((T0 + 5_000) / 1000 + 10);
    const [acct] = await s.listAcct(dayOf(clock.t));
    expect(acct.expiresAt).toBe((T0 + 5_000) / 1000 + 86_400);
    await h.putAudit({
      time: clock.t,
      user: "root",
      action: "qdel",
      target: "1.casper",
      outcome: "allowed",
      jobKey: "1",
    });
    expect((await s.jobAudit("1"))[0].expiresAt).toBe((T0 + 5_000) / 1000 + 10);

    // within its history: shown
    clock.t += 9_000;
    expect((await h.getJob("1"))?.state).toBe("F");
    expect((await h.listJobs("workq", true)).map((j) => j.key)).toEqual(["1"]);
    expect((await h.jobAudit("1")).length).toBe(1);

    // past it: gone from every read, though the store still holds it (no TTL deletion here)
    clock.t += 1_000;
    expect(await h.getJob("1")).toBeUndefined();
    expect((await h.getJobs(["1", "2"])).has("1")).toBe(false);
    expect((await h.getJobWithEdges("1")).job).toBeUndefined();
    expect(await h.listJobs("workq", true)).toEqual([]);
    expect(
      (await h.listJobPage({ queues: ["workq"], history: true, limit: 10 })).jobs.map((j) => j.key),
    ).toEqual(["2"]);
    expect(await h.jobAudit("1")).toEqual([]);
    expect(await h.listAudit(dayOf(clock.t))).toEqual([]);
    expect((await s.getJob("1"))?.state).toBe("F");
    // an active job never expires
    clock.t += 365 * 86_400_000;
    expect((await h.getJob("2"))?.state).toBe("Q");
  });

  it("a finished job's script goes by its lease, after its history, with no write at its end: once the TTL has deleted what expired, nothing of the job is left", async () => {
    const { clock, s, h } = await site();
    const { ttlSweep, partition } = under();
    const script = `#!/bin/sh\n#PBS -N ttl\n${"echo a long enough script to be compressed\n".repeat(40)}`;
    // one job ended by updateJob, one by the group commit (writeJobs)
    await h.createJob(job(1, { state: "Q", script }));
    const [g] = await h.writeJobs([{ create: job(2, { state: "Q", script }) }]);
    expect(g).not.toBeInstanceOf(Error);
    // the lease: submit + history (10 s) + the margin (30 days by default)
    const lease = T0 / 1000 + 10 + 30 * 86_400;
    expect(scriptLeaseUntil(T0 / 1000, 10)).toBe(lease);
    const scriptItem = async (k: string) => (await partition(`JOB#${k}`)).find((it) => it.sk === "B");
    for (const k of ["1", "2"]) expect((await scriptItem(k))?.expiresAt).toBe(lease);
    // the lease is the script item's alone: the job's item has no expiry while active
    for (const k of ["1", "2"]) expect((await s.getJob(k))?.expiresAt).toBeUndefined();
    const q1 = await h.getJob("1");
    const q2 = await h.getJob("2");
    clock.t += 5_000;
    await h.updateJob(q1!, { ...q1!, state: "F", mtime: clock.t });
    const [w] = await h.writeJobs([{ before: q2!, after: { ...q2!, state: "F", mtime: clock.t } }]);
    expect(w).not.toBeInstanceOf(Error);
    const end = Math.floor(clock.t / 1000);
    for (const k of ["1", "2"]) {
      // the end wrote the job's item only: the script item is as the create wrote it
      expect((await scriptItem(k))?.expiresAt, `job ${k}`).toBe(lease);
      expect(lease).toBeGreaterThan((await s.getJob(k))?.expiresAt as number);
    }
    // within its history the script is still there, whatever the TTL deletes
    await ttlSweep(end + 9);
    for (const k of ["1", "2"]) expect((await h.getJob(k))?.script).toBe(script);
    // past it: the job is gone; its script item goes by its lease
    await ttlSweep(end + 10);
    for (const k of ["1", "2"]) {
      expect(await s.getJob(k)).toBeUndefined();
      expect((await partition(`JOB#${k}`)).map((it) => it.sk)).toEqual(["B"]);
    }
    // past the lease: the TTL leaves no item of the job's, its script's included
    await ttlSweep(lease);
    for (const k of ["1", "2"]) expect(await partition(`JOB#${k}`), `job ${k}`).toEqual([]);
  });

  it("accounting is kept longer than history (acctKeepDays), then left out of `metaqueue accounting`", async () => {
    const { clock, h } = await site();
    await h.putAcct(endRecord(clock.t));
    clock.t += 3_600_000;
    expect((await h.listAcct(dayOf(T0))).map((a) => a.type)).toEqual(["E"]);
    clock.t += 86_400_000;
    expect(await h.listAcct(dayOf(T0))).toEqual([]);
  });

  it("job_history_duration: PBS time form, OpenPBS's two weeks when unset", () => {
    expect(historySeconds("00:00:10")).toBe(10);
    expect(historySeconds("336:00:00")).toBe(14 * 86_400);
    expect(historySeconds(undefined)).toBe(DEFAULT_HISTORY_S);
    expect(DEFAULT_HISTORY_S).toBe(1_209_600);
  });
}
