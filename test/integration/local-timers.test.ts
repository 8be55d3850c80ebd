import { describe, expect, it } from "vitest";
import { startTimer } from "../../infra/local/timers.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("local timers (EventBridge schedule stand-in)", () => {
  it("never overlaps itself, skips ticks while running, and stop() waits for the running call", async () => {
    let active = 0;
    let maxActive = 0;
    let runs = 0;
    let finished = 0;
    const t = startTimer("slow", 20, async () => {
      active++;
      runs++;
      maxActive = Math.max(maxActive, active);
      await sleep(120);
      active--;
      finished++;
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
    const t = startTimer(
      "flaky",
      15,
      async () => {
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
});
