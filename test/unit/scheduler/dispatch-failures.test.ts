/**
 * What a cycle does when the executor refuses a dispatch (shared/scheduler/cycle.ts): a refusal
 * that will not change by itself holds the job with the reason; a capacity or throttling refusal
 * puts it back with a not-before time that doubles with each refusal in a row; the planner
 * starts no backed-off job before that time.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { DISPATCH_BACKOFF_MS } from "../../../shared/scheduler/cycle.js";
import { triggerCycles } from "../../../shared/server/messages.js";
import { sweepTick } from "../../../shared/server/tick.js";
import { DispatchError, type JobRunSpec } from "../../../shared/ports/index.js";
import { type MemorySite, memorySite } from "../../fixtures/memory-site.js";

let s: MemorySite;

/** The periodic tick, as the sweeper entry runs it: sweeps, then a cycle per partition. */
async function tick(): Promise<void> {
  await triggerCycles(s.ctx, [...(await sweepTick(s.ctx))], "tick");
  await s.settle();
}
/** what the executor answers the next dispatches (undefined: takes the job) */
let refusals: (DispatchError | undefined)[];

beforeEach(async () => {
  s = await memorySite();
  refusals = [];
  const take = s.executor.dispatch.bind(s.executor);
  Object.assign(s.executor, {
    dispatch: async (spec: JobRunSpec) => {
      const r = refusals.shift();
      if (r) throw r;
      return take(spec);
    },
  });
});

describe("dispatch failures", () => {
  it("a permanent refusal holds the job (system hold) with the reason, and counts it", async () => {
    refusals.push(new DispatchError("ECS RunTask failed: InvalidParameterException: bad subnet", "never"));
    const id = await s.submit("alice", "sleep 1\n");
    await s.settle();
    const j = await s.job(id);
    expect(j.state).toBe("H");
    expect(j.holds).toContain("s");
    expect(j.comment).toMatch(/held by the server: it cannot start: .*InvalidParameterException: bad subnet/);
    expect(s.metrics.totals["DispatchFailures|retry=never"]).toBe(1);
    // no cycle starts it again on its own
    s.clock.advance(3_600_000);
    await tick();
    expect((await s.job(id)).state).toBe("H");
    expect(s.executor.dispatched).toHaveLength(0);
  });

  it("a capacity refusal backs off: not started before its not-before time, which doubles", async () => {
    const later = () => new DispatchError("ECS has no capacity now (RESOURCE:CPU)", "later");
    refusals.push(later(), later());
    const id = await s.submit("alice", "sleep 1\n");
    await s.settle();
    let j = await s.job(id);
    expect(j.state).toBe("Q");
    expect(j.notBefore).toBe(s.clock.now() + DISPATCH_BACKOFF_MS);
    // a cycle before then leaves it queued, and says why
    s.clock.advance(DISPATCH_BACKOFF_MS - 1000);
    await tick();
    expect((await s.job(id)).state).toBe("Q");
    expect(s.executor.dispatched).toHaveLength(0);
    // due: tried again, refused again: twice as long
    s.clock.advance(1000);
    await tick();
    j = await s.job(id);
    expect(j.state).toBe("Q");
    expect(j.dispatchFails).toBe(2);
    expect(j.notBefore).toBe(s.clock.now() + 2 * DISPATCH_BACKOFF_MS);
    s.clock.advance(2 * DISPATCH_BACKOFF_MS);
    await tick();
    expect((await s.job(id)).state).toBe("R");
    expect(s.executor.ids()).toEqual([id]);
  });
});
