/**
 * Dormancy: a site with no work pauses its intake, and whatever brings work resumes it (issue
 * 14: "an idle AWS site costs nothing but storage and alarms"). On AWS the intake is what is
 * billed while nothing happens: the Lambda pollers of the site's queues (each long-polls SQS
 * around the clock, ~650,000 receives a month per queue) and the tick's invocations. Locally
 * it is the runtime's pollers. What pauses is the adapter's business (shared/ports/intake.ts).
 *
 * The state is one item (IntakeRecord), changed only by conditional writes on its `ver`:
 *
 *   awake ──tick, no work──▶ draining ──tick, no work for intakeSleepAfterMs──▶ asleep (pause)
 *     ▲                        │                                                  │
 *     └────── work, a producer ┘              a producer: waking (resume) ◀───────┘
 *
 * Who may sleep: the sweeper's tick (settleIntake), after its own check found no work. Who
 * wakes: every producer of work, before it writes (ensureAwake): the API's changing requests,
 * every cycle trigger (triggerCycles: submits, a peer's job or BACKLOG in the inbox, MOM
 * reports, cycles), and a tick that finds work while asleep (a site with peers keeps its tick).
 *
 * Why a producer cannot strand its work (the races, in the order they can happen):
 * - it reads the state after the sleeper marked `draining`: it writes awake (or waking) at the
 *   next `ver`, so the sleeper's conditional asleep write fails, or, written first, makes the
 *   producer's fail, and the producer re-reads, finds asleep and wakes it;
 * - it woke the site while the sleeper was between its asleep write and its pause: the sleeper
 *   re-reads after pausing, finds the state no longer its own asleep, and resumes;
 * - it trusted a cached `awake` (at most AWAKE_CACHE_MS old) read before the sleeper marked
 *   `draining` at t0. The API calls ensureAwake before it writes (a failed resume must leave
 *   nothing written), and writes within REQUEST_MAX_MS (its Lambda's 29 s timeout): before
 *   t0 + intakeSleepAfterMs, so the sleeper's work check, made after that, sees the work (the
 *   index it reads lags by seconds: MIN_SLEEP_AFTER_MS leaves minutes). The others call it
 *   after writing (triggerCycles): if their work was too late for the sleeper's check, their
 *   call comes more than intakeSleepAfterMs after t0, past any cache of a read before t0, so
 *   they read the state and wake the site.
 * A resume that fails leaves `waking` and throws: the request fails (the user retries) and the
 * next producer, or the tick, resumes again; nothing claims awake before a resume succeeded.
 */
import { ConflictError, IntakeError } from "../errors.js";
import type { IntakeSwitch } from "../ports/intake.js";
import type { IntakeRecord } from "./records.js";
import type { SiteContext } from "./context.js";

/** How long a process trusts an `awake` it read (no read per request while busy). */
export const AWAKE_CACHE_MS = 10_000;
/** The longest a request may run from its ensureAwake to its last write: the API's Lambda timeout, 29 s. */
export const REQUEST_MAX_MS = 30_000;
/** The shortest idle time before sleeping: the cache and a request, with room for index lag. */
export const MIN_SLEEP_AFTER_MS = 2 * (AWAKE_CACHE_MS + REQUEST_MAX_MS);

/** When each process last read `awake`, per site context. */
const seenAwake = new WeakMap<SiteContext, number>();
/** A check under way, per site context. */
const checking = new WeakMap<SiteContext, Promise<void>>();

/** The idle time a site sleeps after, or undefined when it never sleeps. */
export function sleepAfterMs(ctx: SiteContext): number | undefined {
  const ms = ctx.settings.intakeSleepAfterMs;
  return ms > 0 ? Math.max(ms, MIN_SLEEP_AFTER_MS) : undefined;
}

/** Write `state` at the next version of `cur`; false when another writer got there first. */
async function advance(ctx: SiteContext, cur: IntakeRecord | undefined, state: IntakeRecord["state"]) {
  try {
    await ctx.store.putIntake({ state, since: ctx.clock.now(), ver: (cur?.ver ?? -1) + 1 });
    return true;
  } catch (err) {
    if (err instanceof ConflictError) return false;
    throw err;
  }
}

/**
 * Make sure the site's intake runs before this producer writes work. A no-op for a site
 * without an intake switch, and without a read while this process saw `awake` lately.
 */
export function ensureAwake(ctx: SiteContext): Promise<void> {
  if (!ctx.intake) return Promise.resolve();
  const seen = seenAwake.get(ctx);
  if (seen !== undefined && ctx.clock.now() - seen < AWAKE_CACHE_MS) return Promise.resolve();
  // the producers of one moment (a group commit's submits) share one read
  let p = checking.get(ctx);
  if (!p) {
    p = wake(ctx, ctx.intake).finally(() => checking.delete(ctx));
    checking.set(ctx, p);
  }
  return p;
}

async function wake(ctx: SiteContext, intake: IntakeSwitch): Promise<void> {
  // A few rounds: each lost race means another writer moved the state on; re-read and go on.
  for (let round = 0; round < 5; round++) {
    const readAt = ctx.clock.now();
    const cur = await ctx.store.getIntake();
    if (!cur || cur.state === "awake") {
      seenAwake.set(ctx, readAt);
      return;
    }
    if (cur.state === "draining") {
      // still consuming: cancelling the drain is enough
      if (await advance(ctx, cur, "awake")) {
        seenAwake.set(ctx, readAt);
        return;
      }
      continue;
    }
    // asleep or waking: say so before resuming, so that a sleeper between its asleep write and
    // its pause sees it after pausing and resumes
    if (!(await advance(ctx, cur, "waking"))) continue;
    try {
      await intake.resume();
    } catch (err) {
      throw err instanceof IntakeError ? err : new IntakeError("the site's intake did not resume", err);
    }
    ctx.log.info("intake: resumed (work arrived)");
    ctx.metrics?.count("IntakeResumed", 1);
    // Our resume ran after our waking write: whatever a sleeper paused before, it resumes or
    // we did. Saying awake only saves the next producers the resume; losing that race is fine.
    await advance(ctx, { ...cur, ver: cur.ver + 1 }, "awake");
    seenAwake.set(ctx, ctx.clock.now());
    return;
  }
  throw new IntakeError("the site's intake keeps changing; try again");
}

/**
 * The tick's part: after a work check made at `checkedAt` (siteTick), move towards sleep when
 * it found none, or back when it found some. Returns the state it leaves.
 */
export async function settleIntake(
  ctx: SiteContext,
  hasWork: boolean,
  checkedAt: number,
): Promise<IntakeRecord["state"] | undefined> {
  const intake = ctx.intake;
  const after = sleepAfterMs(ctx);
  if (!intake || after === undefined) return undefined;
  const cur = await ctx.store.getIntake();
  const state = cur?.state ?? "awake";
  if (hasWork) {
    if (state === "awake") return state;
    // draining: cancel; asleep or waking (a tick that kept running, a failed resume): wake
    await ensureAwake(ctx);
    return "awake";
  }
  if (state === "awake") return (await advance(ctx, cur, "draining")) ? "draining" : state;
  if (state === "waking") {
    // a producer's resume failed, and nobody came since: finish it
    await ensureAwake(ctx);
    return "awake";
  }
  if (state === "asleep" && cur) {
    // Asleep and still idle: pause again. Idempotent, and it mends an intake that runs although
    // the state says asleep (a local runtime restarted, a deploy that re-enabled the mappings).
    return pauseAt(ctx, intake, cur);
  }
  if (state !== "draining" || !cur || checkedAt - cur.since < after) return state;
  // No work seen from `since` to this tick's check, which began `after` later: sleep.
  if (!(await advance(ctx, cur, "asleep"))) return (await ctx.store.getIntake())?.state;
  const asleep = { state: "asleep" as const, since: ctx.clock.now(), ver: cur.ver + 1 };
  const left = await pauseAt(ctx, intake, asleep);
  if (left === "asleep") {
    ctx.log.info(`intake: paused (no work for ${Math.round((checkedAt - cur.since) / 1000)} s)`);
    ctx.metrics?.count("IntakePaused", 1);
  }
  return left;
}

/** Pause, then make sure nobody woke the site meanwhile (`asleep` is the record we saw or wrote). */
async function pauseAt(
  ctx: SiteContext,
  intake: IntakeSwitch,
  asleep: IntakeRecord,
): Promise<IntakeRecord["state"] | undefined> {
  await intake.pause();
  const now = await ctx.store.getIntake();
  if (now?.state !== "asleep" || now.ver !== asleep.ver) {
    // a producer woke the site while we paused: its resume may have come before our pause
    await intake.resume();
    ctx.log.info("intake: resumed (woken while pausing)");
    return now?.state;
  }
  return "asleep";
}
