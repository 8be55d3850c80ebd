/**
 * Contract, script leases (issue 14): a job's script is stored with a lease (JobRecord.scriptUntil,
 * the TTL attribute of its script item) and nothing writes it when the job ends; the sweeper's
 * pass (shared/server/script-lease.ts) renews the leases of jobs still active near their end, so
 * a job held for months keeps its script through any TTL deletion; and reads without the script
 * (JobReadOptions) leave the stored one as it is when written back. Both adapters, same answers.
 */
import { expect, it } from "vitest";
import type { Clock } from "../../shared/ports/clock.js";
import type { SiteContext } from "../../shared/server/context.js";
import { withHistory } from "../../shared/server/history.js";
import { renewScriptLeases } from "../../shared/server/script-lease.js";
import { DEFAULT_SETTINGS } from "../../shared/server/settings.js";
import { freshStoreUnderTest, job, type MakeStore } from "./store-fixture.js";

const T0 = Date.UTC(2026, 11, 2, 8, 0, 0);
const DAY = 86_400_000;

class StepClock implements Clock {
  constructor(public t: number) {}
  now = () => this.t;
  sleep = async (ms: number) => {
    this.t += ms;
  };
}

export function scriptLeaseContract(makeStore: MakeStore) {
  const under = freshStoreUnderTest(makeStore);
  const script = `#!/bin/sh\n#PBS -N lease\n${"echo a script long enough to be compressed\n".repeat(30)}`;

  /** A site with job_history_duration 10 s, its queue, and the sweeper's context over it. */
  async function site() {
    const clock = new StepClock(T0);
    const s = under().store;
    await s.putServerObject({
      kind: "server",
      name: "casper-pbs",
      attrs: { job_history_duration: "00:00:10" },
      ver: 0,
    });
    await s.putServerObject({ kind: "queue", name: "workq", attrs: { queue_type: "execution" }, ver: 0 });
    const h = withHistory(s, { clock, settings: DEFAULT_SETTINGS });
    const quiet = { info() {}, warn() {}, error() {}, debug() {} };
    const ctx = { store: h, clock, settings: DEFAULT_SETTINGS, log: quiet } as unknown as SiteContext;
    return { clock, s, h, ctx };
  }

  it("an active job past its submit lease keeps its script through the TTL: the pass renews it, a job that ended is left to expire", async () => {
    const { clock, h, ctx } = await site();
    const { ttlSweep } = under();
    await h.createJob(job(1, { state: "H", holds: "u", script }));
    await h.createJob(job(2, { state: "Q", script }));
    await h.createJob(job(3, { state: "Q", script }));
    const lease = T0 / 1000 + 10 + 30 * 86_400;
    // day 20: not due (30 days + history, a week's notice): the pass reads the oldest job, whose
    // grant bounds every later one's, and stops there
    clock.t = T0 + 20 * DAY;
    expect(await renewScriptLeases(ctx)).toEqual({ read: 1, renewed: 0 });
    // job 3 ends on day 21; jobs 1 and 2 stay active
    clock.t = T0 + 21 * DAY;
    const j3 = await h.getJob("3");
    await h.updateJob(j3!, { ...j3!, state: "F", mtime: clock.t });
    // day 24: due; the active ones are renewed to now + history + margin
    clock.t = T0 + 24 * DAY;
    expect(await renewScriptLeases(ctx)).toEqual({ read: 2, renewed: 2 });
    // the TTL past the submit lease: the active jobs keep their scripts, the ended one's goes
    await ttlSweep(lease + 1);
    expect((await h.getJob("1"))?.script).toBe(script);
    expect((await h.getJob("2"))?.script).toBe(script);
    // a renewal only ever extends: the next pass, not due, reads the renewed ones and renews nothing
    clock.t += 3600_000;
    expect(await renewScriptLeases(ctx)).toEqual({ read: 2, renewed: 0 });
    // months later, held all along: renewed again and again, never lost
    for (let day = 50; day <= 200; day += 20) {
      clock.t = T0 + day * DAY;
      await renewScriptLeases(ctx);
      await ttlSweep(Math.floor(clock.t / 1000) + 10 + 7 * 86_400);
      expect((await h.getJob("1"))?.script, `day ${day}`).toBe(script);
    }
    // and when it ends, its script outlives its history
    const j1 = await h.getJob("1");
    await h.updateJob(j1!, { ...j1!, state: "F", mtime: clock.t });
    await ttlSweep(Math.floor(clock.t / 1000) + 9);
    expect((await h.getJob("1"))?.script).toBe(script);
  });

  it("the pass stops at the first job granted too recently for any later one to be due, and walks past the old ones", async () => {
    const { clock, h, ctx } = await site();
    await h.createJob(job(1, { state: "H", holds: "u", script }));
    clock.t = T0 + 10 * DAY;
    for (const n of [2, 3, 4, 5]) await h.createJob(job(n, { state: "Q", script }));
    // day 12: nothing due; job 1's grant (day 0) bounds the rest: one read
    clock.t = T0 + 12 * DAY;
    expect(await renewScriptLeases(ctx)).toEqual({ read: 1, renewed: 0 });
    // day 24: job 1 is due, jobs 2-5 (granted on day 10) cannot be: renews 1, reads 2, stops
    clock.t = T0 + 24 * DAY;
    expect(await renewScriptLeases(ctx)).toEqual({ read: 2, renewed: 1 });
    // day 34: jobs 2-5 are due; job 1 (renewed) is walked past
    clock.t = T0 + 34 * DAY;
    expect(await renewScriptLeases(ctx)).toEqual({ read: 5, renewed: 4 });
  });

  it("a process's first pass reads what any pass reads: the bound is in the store, not in the process", async () => {
    const { clock, h, ctx } = await site();
    for (let n = 1; n <= 40; n++) await h.createJob(job(n, { state: n % 2 ? "H" : "Q", holds: "u", script }));
    clock.t = T0 + 5 * DAY;
    // a fresh sweeper (a cold Lambda container, a restarted runtime) over 40 active jobs
    const fresh = {
      ...ctx,
      store: withHistory(ctx.store, { clock, settings: DEFAULT_SETTINGS }),
    } as SiteContext;
    expect(await renewScriptLeases(fresh)).toEqual({ read: 1, renewed: 0 });
  });

  it("terms lowered and raised again: the floor keeps the short leases granted meanwhile in the walk", async () => {
    const { clock, s, h, ctx } = await site();
    const history = async (d: string) => {
      const srv = (await s.getServerObjects()).find((o) => o.kind === "server")!;
      await s.putServerObject({ ...srv, attrs: { ...srv.attrs, job_history_duration: d } }, srv.ver);
      clock.t += 1500; // past the server-state cache
    };
    // a 30-day history: jobs 1-3 get leases of 60 days
    await history("720:00:00");
    for (const n of [1, 2, 3]) await h.createJob(job(n, { state: "H", holds: "u", script }));
    // lowered for a day: job 4 gets 30 days and 10 s
    clock.t = T0 + DAY;
    await history("00:00:10");
    await h.createJob(job(4, { state: "H", holds: "u", script }));
    // restored: on day 20 job 4's lease (day 31) ends before now + history + notice (day 57)
    await history("720:00:00");
    clock.t = T0 + 20 * DAY;
    const r = await renewScriptLeases(ctx);
    expect(r.renewed).toBe(1);
    expect(r.read).toBe(4);
    expect(
      (await s.scriptLeases("workq", false, undefined, 10)).leases.find((l) => l.key === "4")?.renewed,
    ).toBe(true);
  });

  it("a later seq granted up to the slack earlier (a quiet process's seq block) is still found", async () => {
    const { clock, s, ctx } = await site();
    const grant = (day: number) => ({
      scriptGranted: Math.floor((T0 + day * DAY) / 1000),
      scriptUntil: Math.floor((T0 + day * DAY) / 1000) + 10 + 30 * 86_400,
    });
    await s.lowerScriptLeaseFloor(10 + 30 * 86_400);
    // seq 1 from a block reserved on day 10, seq 2 from one reserved half a day before
    await s.createJob(job(1, { state: "H", holds: "u", script, ...grant(10) }));
    await s.createJob(job(2, { state: "H", holds: "u", script, ...grant(9.5) }));
    // day 32.6: job 2 is due (its lease ends on day 39.5, before now + a week), job 1 is not
    clock.t = T0 + 32.6 * DAY;
    expect(await renewScriptLeases(ctx)).toEqual({ read: 2, renewed: 1 });
  });

  it("a lease renewal never shortens a lease, never creates a script, and is listed oldest first in pages", async () => {
    const { s } = await site();
    for (const n of [1, 2, 3]) await s.createJob(job(n, { state: "Q", script, scriptUntil: 2_000_000_000 }));
    await s.createJob(job(4, { state: "Q", script }));
    await s.createJob(job(5, { state: "Q", parentKey: "9", arrayIndex: 1, script, scriptUntil: 1 }));
    const first = await s.scriptLeases("workq", false, undefined, 2);
    expect(first.leases).toEqual([
      { key: "1", seq: 1, until: 2_000_000_000, renewed: false },
      { key: "2", seq: 2, until: 2_000_000_000, renewed: false },
    ]);
    // a lease granted by the store wrapper carries its grant time
    await s.createJob(
      job(6, { state: "Q", script, scriptUntil: 2_000_000_000, scriptGranted: 1_999_000_000 }),
    );
    const six = await s.scriptLeases("workq", false, 5, 5);
    expect(six.leases).toEqual([
      { key: "6", seq: 6, until: 2_000_000_000, renewed: false, granted: 1_999_000_000 },
    ]);
    const j6 = await s.getJob("6");
    await s.updateJob(j6!, { ...j6!, state: "F" });
    expect(first.next).toBe(2);
    const rest = await s.scriptLeases("workq", false, first.next, 5);
    expect(rest.leases.map((l) => [l.key, l.until])).toEqual([
      ["3", 2_000_000_000],
      ["4", undefined],
    ]);
    expect(rest.next).toBeUndefined();
    expect((await s.scriptLeases("workq", true, undefined, 5)).leases.map((l) => l.key)).toEqual(["5"]);
    await s.renewScriptLease("1", 1_900_000_000);
    await s.renewScriptLease("2", 2_100_000_000);
    await s.renewScriptLease("4", 2_100_000_000);
    await s.renewScriptLease("77", 2_100_000_000);
    const after = await s.scriptLeases("workq", false, undefined, 10);
    expect(after.leases.map((l) => [l.key, l.until, l.renewed])).toEqual([
      ["1", 2_000_000_000, false],
      ["2", 2_100_000_000, true],
      ["3", 2_000_000_000, false],
      ["4", 2_100_000_000, true],
    ]);
    expect(await under().partition("JOB#77")).toEqual([]);
    // a finished job is not listed (the pass has nothing to keep for it)
    const j3 = await s.getJob("3");
    await s.updateJob(j3!, { ...j3!, state: "F" });
    expect((await s.scriptLeases("workq", false, undefined, 10)).leases.map((l) => l.key)).toEqual([
      "1",
      "2",
      "4",
    ]);
  });

  it("the lease floor only ever goes down", async () => {
    const { s } = await site();
    expect(await s.scriptLeaseFloor()).toBeUndefined();
    await s.lowerScriptLeaseFloor(5000);
    await s.lowerScriptLeaseFloor(7000);
    expect(await s.scriptLeaseFloor()).toBe(5000);
    await s.lowerScriptLeaseFloor(4000);
    expect(await s.scriptLeaseFloor()).toBe(4000);
    // the job counter on the same item is untouched by it, and does not touch it
    const first = await s.reserveSeq(10);
    expect(await s.reserveSeq(10)).toBe(first + 10);
    expect(await s.scriptLeaseFloor()).toBe(4000);
  });

  it("a job read without its script has none, and written back keeps the stored one", async () => {
    const { s } = await site();
    await s.createJob(job(1, { state: "Q", script }));
    await s.createJob(job(2, { state: "Q", script }));
    const bare = await s.getJob("1", true, { script: false });
    expect(bare?.state).toBe("Q");
    expect(bare).not.toHaveProperty("script");
    const many = await s.getJobs(["1", "2", "3"], { script: false });
    expect([...many.keys()].sort()).toEqual(["1", "2"]);
    for (const j of many.values()) expect(j).not.toHaveProperty("script");
    await s.updateJob(bare!, { ...bare!, state: "H", holds: "u" });
    const [w] = await s.writeJobs([
      { before: many.get("2")!, after: { ...many.get("2")!, state: "H", holds: "u" } },
    ]);
    expect(w).not.toBeInstanceOf(Error);
    for (const k of ["1", "2"]) {
      const full = await s.getJob(k);
      expect(full?.state).toBe("H");
      expect(full?.script).toBe(script);
      expect((await s.getJobs([k])).get(k)?.script).toBe(script);
    }
    // the lease is the script's only: never on the job's record
    expect(await s.getJob("1")).not.toHaveProperty("scriptUntil");
  });
}
