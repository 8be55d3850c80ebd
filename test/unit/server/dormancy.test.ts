/**
 * Dormancy (shared/server/dormancy.ts): an idle site pauses its intake after
 * intakeSleepAfterMs with no work, and every producer of work resumes it before writing, so no
 * job waits on a paused intake. The races are played out with a switch whose pause lets a
 * producer in halfway.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { makeSweeperHandler } from "../../../lambdas/handlers.js";
import type { IntakeSwitch } from "../../../shared/ports/intake.js";
import type { SiteContext } from "../../../shared/server/context.js";
import {
  AWAKE_CACHE_MS,
  ensureAwake,
  MIN_SLEEP_AFTER_MS,
  REQUEST_MAX_MS,
  settleIntake,
} from "../../../shared/server/dormancy.js";
import { type MemorySite, memorySite } from "../../fixtures/memory-site.js";

/** A switch that records what it was told; `duringPause` runs in the middle of a pause. */
class FakeIntake implements IntakeSwitch {
  running = true;
  pauses = 0;
  resumes = 0;
  failResume = false;
  duringPause?: () => Promise<void>;
  async pause(): Promise<void> {
    this.pauses++;
    const between = this.duringPause;
    this.duringPause = undefined;
    await between?.();
    this.running = false;
  }
  async resume(): Promise<void> {
    if (this.failResume) throw new Error("Rate exceeded");
    this.resumes++;
    this.running = true;
  }
}

const AFTER = MIN_SLEEP_AFTER_MS;
let s: MemorySite;
let intake: FakeIntake;
let tick: () => Promise<{ hasWork: boolean }>;

beforeEach(async () => {
  s = await memorySite({ settings: { intakeSleepAfterMs: AFTER } });
  intake = new FakeIntake();
  s.ctx.intake = intake;
  tick = makeSweeperHandler(s.ctx);
});

const state = async () => (await s.store.getIntake())?.state ?? "awake";
const submitBody = { script: "#!/bin/bash\necho hi\n", submitDir: "/home/alice" };

/** Ticks until the site sleeps: one to start draining, one past intakeSleepAfterMs. */
async function putToSleep(): Promise<void> {
  await tick();
  expect(await state()).toBe("draining");
  s.clock.advance(AFTER);
  await tick();
  expect(await state()).toBe("asleep");
  expect(intake.running).toBe(false);
}

describe("an idle site's intake", () => {
  it("drains at the first idle tick and pauses only once intakeSleepAfterMs has passed with no work", async () => {
    await tick();
    expect(await state()).toBe("draining");
    s.clock.advance(AFTER - 1000);
    await tick();
    expect(await state()).toBe("draining");
    expect(intake.pauses).toBe(0);
    s.clock.advance(1000);
    await tick();
    expect(await state()).toBe("asleep");
    expect(intake.pauses).toBe(1);
    // later idle ticks (a site with peers keeps its tick) only pause again, which mends an
    // intake that runs although the state says asleep (a restarted runtime, a redeploy)
    intake.running = true;
    s.clock.advance(AFTER);
    await tick();
    expect(intake.running).toBe(false);
    expect(intake.resumes).toBe(0);
    expect(await state()).toBe("asleep");
  });

  it("a qsub over the API resumes it before the job is written, and the job runs", async () => {
    await putToSleep();
    const r = await s.api("POST", "/v1/jobs", { as: "alice", body: submitBody });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(intake.running).toBe(true);
    expect(await state()).toBe("awake");
    await s.settle();
    expect(s.executor.dispatched.map((d) => d.jobId)).toEqual([r.body.jobId]);
  });

  it("reads do not wake it, nor does a request the site cannot authenticate", async () => {
    await putToSleep();
    expect((await s.api("GET", "/v1/jobs", { as: "alice" })).status).toBe(200);
    expect((await s.api("POST", "/v1/jobs", { body: submitBody })).status).toBe(401);
    expect(intake.resumes).toBe(0);
    expect(await state()).toBe("asleep");
  });

  it("work that arrives while it drains cancels the drain: a busy site never sleeps", async () => {
    await tick();
    expect(await state()).toBe("draining");
    const r = await s.api("POST", "/v1/jobs", {
      as: "alice",
      body: { ...submitBody, options: { hold: true } },
    });
    expect(r.status, JSON.stringify(r.body)).toBe(201);
    expect(await state()).toBe("awake");
    // the held job is work: the ticks keep the site awake however long it stays held
    for (let i = 0; i < 3; i++) {
      s.clock.advance(AFTER);
      await tick();
    }
    expect(await state()).toBe("awake");
    expect(intake.pauses).toBe(0);
  });

  it("a producer that wakes it while the sweeper is pausing: the sweeper resumes after its pause", async () => {
    await tick();
    s.clock.advance(AFTER);
    // the sweeper has written asleep and is pausing when a qsub comes (another Lambda)
    let answer: { status: number } | undefined;
    intake.duringPause = async () => {
      answer = await s.api("POST", "/v1/jobs", { as: "alice", body: submitBody });
    };
    await tick();
    expect(answer?.status).toBe(201);
    // the producer's resume came before the pause took effect: only the sweeper's re-read saves it
    expect(intake.running).toBe(true);
    expect(intake.resumes).toBe(2);
    await s.settle();
    expect(s.executor.dispatched).toHaveLength(1);
  });

  it("a failed resume fails the request with nothing written (503); the next request wakes it", async () => {
    await putToSleep();
    intake.failResume = true;
    const r = await s.api("POST", "/v1/jobs", { as: "alice", body: submitBody });
    expect(r.status).toBe(503);
    expect(r.body.error.message).toMatch(/intake/);
    expect(await state()).toBe("waking");
    expect((await s.api("GET", "/v1/jobs", { as: "alice" })).body.jobs).toEqual([]);
    intake.failResume = false;
    const again = await s.api("POST", "/v1/jobs", { as: "alice", body: submitBody });
    expect(again.status).toBe(201);
    expect(intake.running).toBe(true);
    expect(await state()).toBe("awake");
  });

  it("a tick finishes a resume that failed and nobody retried", async () => {
    await putToSleep();
    intake.failResume = true;
    expect((await s.api("POST", "/v1/jobs", { as: "alice", body: submitBody })).status).toBe(503);
    intake.failResume = false;
    await tick();
    expect(intake.running).toBe(true);
    expect(await state()).toBe("awake");
  });

  it("a tick that finds work while asleep (a peer's job, on a site that keeps its tick) wakes it", async () => {
    await putToSleep();
    // a job written by a path that sent no trigger (the switch is out of reach for the write)
    s.ctx.intake = undefined;
    await s.submit("alice", "true\n");
    s.ctx.intake = intake;
    expect(intake.running).toBe(false);
    await tick();
    expect(intake.running).toBe(true);
    expect(await state()).toBe("awake");
    await putToSleepAgain();
  });

  it("another process's cached awake is trusted for AWAKE_CACHE_MS only, which the sleep outlasts", async () => {
    expect(MIN_SLEEP_AFTER_MS).toBeGreaterThan(AWAKE_CACHE_MS + REQUEST_MAX_MS);
    // another Lambda instance of the same site: its own cache
    const other: SiteContext = { ...s.ctx };
    await ensureAwake(other);
    await putToSleep();
    await ensureAwake(other);
    expect(intake.running).toBe(true);
    expect(await state()).toBe("awake");
    // within AWAKE_CACHE_MS it does not read (the state is forced asleep behind its back)
    const cur = await s.store.getIntake();
    await s.store.putIntake({ state: "asleep", since: s.clock.now(), ver: (cur?.ver ?? 0) + 1 });
    intake.running = false;
    s.clock.advance(AWAKE_CACHE_MS - 1);
    await ensureAwake(other);
    expect(intake.running).toBe(false);
    s.clock.advance(1);
    await ensureAwake(other);
    expect(intake.running).toBe(true);
  });

  it("never sleeps without a switch, or with intakeSleepAfterMs 0", async () => {
    s.ctx.settings = { ...s.ctx.settings, intakeSleepAfterMs: 0 };
    for (let i = 0; i < 3; i++) {
      expect(await settleIntake(s.ctx, false, s.clock.now())).toBeUndefined();
      s.clock.advance(AFTER);
    }
    expect(await s.store.getIntake()).toBeUndefined();
    s.ctx.settings = { ...s.ctx.settings, intakeSleepAfterMs: AFTER };
    s.ctx.intake = undefined;
    expect(await settleIntake(s.ctx, false, s.clock.now())).toBeUndefined();
    expect(await s.store.getIntake()).toBeUndefined();
  });
});

/** After the site was woken by work: it sleeps again once that work is done and time passes. */
async function putToSleepAgain(): Promise<void> {
  await s.settle();
  const [run] = s.executor.dispatched;
  await s.obit(run.jobId);
  await s.settle();
  await tick();
  expect(await state()).toBe("draining");
  s.clock.advance(AFTER);
  await tick();
  expect(await state()).toBe("asleep");
}
