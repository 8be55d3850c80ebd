import { describe, expect, it } from "vitest";
import { startBackoffTimer } from "../../infra/local/timers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("local timers (EventBridge schedule stand-in)", () => {
  it("never overlaps itself, skips ticks while running, and stop() waits for the running call", async () => {
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    let finished = 0;
    const t = startBackoffTimer("slow", { everyMs: 20, idleMaxMs: 20 }, async () => {
      active++;
      runs++;
      maxActive = Math.max(maxActive, active);
      await sleep(120);
      active--;
      finished++;
      return true;
    });
    await sleep(400);
    await t.stop();
    expect(maxActive).toBe(1);
    // ~400 ms of 120 ms runs: far fewer than the 20 ticks
    expect(runs).toBeGreaterThanOrEqual(2);
    expect(runs).toBeLessThanOrEqual(4);
    expect(finished).toBe(runs);
    await sleep(60);
    expect(runs).toBe(finished);
  });

  it("reports errors with the timer's name and keeps going", async () => {
    const errors: [unknown, string][] = [];
    let calls = 0;
    const t = startBackoffTimer(
      "flaky",
      { everyMs: 15, idleMaxMs: 15 },
      async (): Promise<boolean> => {
        calls++;
        throw new Error(`fail ${calls}`);
      },
      (err, name) => errors.push([err, name]),
    );
    await sleep(150);
    await t.stop();
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(errors).toHaveLength(calls);
    expect(errors[0][1]).toBe("flaky");
    expect((errors[0][0] as Error).message).toBe("fail 1");
  });

  describe("backoff timer (the sweeper tick of a site with no jobs)", () => {
    const gapsOf = (at: number[]) => at.slice(1).map((t, i) => t - at[i]);

    it("doubles its pause after each idle run up to idleMaxMs, and is back to everyMs after a busy one", async () => {
      const at: number[] = [];
      let busy = false;
      const t = startBackoffTimer("idle", { everyMs: 25, idleMaxMs: 200 }, async () => {
        at.push(Date.now());
        return busy;
      });
      // runs at ~25, 75, 175, 375, 575, 775: pauses 50, 100, 200, 200
      await sleep(800);
      const idleGaps = gapsOf(at);
      expect(idleGaps.length).toBeGreaterThanOrEqual(3);
      expect(idleGaps.length).toBeLessThanOrEqual(6);
      expect(idleGaps[0]).toBeGreaterThanOrEqual(45);
      expect(idleGaps[1]).toBeGreaterThanOrEqual(95);
      for (const g of idleGaps.slice(2)) expect(g).toBeGreaterThanOrEqual(190);
      busy = true;
      await sleep(450);
      await t.stop();
      // once a run saw work: every 25 ms again
      const busyGaps = gapsOf(at).slice(-5);
      for (const g of busyGaps) expect(g).toBeLessThan(150);
    });

    it("poke() brings a long idle pause down to everyMs", async () => {
      const at: number[] = [];
      const t = startBackoffTimer("poked", { everyMs: 30, idleMaxMs: 5_000 }, async () => {
        at.push(Date.now());
        return false;
      });
      // runs at ~30, 90, 210, 450, 930: after the 5th the pause is 960 ms
      while (at.length < 5) await sleep(10);
      await sleep(100);
      const pokedAt = Date.now();
      t.poke();
      await sleep(120);
      await t.stop();
      // without the poke the next run would come ~860 ms from now; with it, ~30 ms (and the
      // doubling starts again from everyMs: the one after that ~60 ms later)
      const after = at.filter((x) => x >= pokedAt);
      expect(after.length).toBeGreaterThanOrEqual(1);
      expect(after[0] - pokedAt).toBeLessThan(100);
    });

    it("a poke during a run that says idle still gets the next run within everyMs of its end", async () => {
      const at: number[] = [];
      let t: ReturnType<typeof startBackoffTimer> | undefined;
      t = startBackoffTimer("poke-in-run", { everyMs: 30, idleMaxMs: 5_000 }, async () => {
        at.push(Date.now());
        if (at.length === 4) t?.poke();
        await sleep(10);
        return false;
      });
      await sleep(700);
      await t.stop();
      // without the poke the 5th run would come 320 ms after the 4th
      expect(at.length).toBeGreaterThanOrEqual(5);
      expect(at[4] - at[3]).toBeLessThan(100);
    });
  });
});
