/**
 * Job sequence numbers (shared/server/seq.ts): a block of numbers per process, one ADD each, and
 * never a block used past its age, so seq order stays submit order within SEQ_ORDER_SLACK_S
 * (what the script-lease pass's stop rests on, script-lease.ts).
 */
import { describe, expect, it } from "vitest";
import { MemorySiteStore } from "../../../shared/adapters/memory/index.js";
import { withHistory } from "../../../shared/server/history.js";
import { allocateSeq, SEQ_BLOCK_MAX_AGE_MS, SEQ_ORDER_SLACK_S } from "../../../shared/server/seq.js";
import { DEFAULT_SETTINGS } from "../../../shared/server/settings.js";
import { job } from "../../contract/store-fixture.js";

function clock(t: number) {
  const c = {
    t,
    now: () => c.t,
    sleep: async (ms: number) => {
      c.t += ms;
    },
  };
  return c;
}

describe("allocateSeq", () => {
  it("hands out a reserved block in order, one reservation per ten numbers", async () => {
    const store = new MemorySiteStore();
    const ctx = { store, clock: clock(1e12) };
    const seqs: number[] = [];
    for (let i = 0; i < 25; i++) seqs.push(await allocateSeq(ctx));
    expect(seqs).toEqual(Array.from({ length: 25 }, (_, i) => seqs[0] + i));
    // 3 blocks reserved: the next reservation starts after 30 numbers
    expect(await store.reserveSeq(1)).toBe(seqs[0] + 30);
  });

  it("concurrent callers share one reservation and get distinct numbers", async () => {
    const store = new MemorySiteStore();
    const ctx = { store, clock: clock(1e12) };
    const seqs = await Promise.all(Array.from({ length: 20 }, () => allocateSeq(ctx)));
    expect(new Set(seqs).size).toBe(20);
    expect(await store.reserveSeq(1)).toBe(Math.min(...seqs) + 20);
  });

  it("gives up a block past its age: a quiet process's numbers never sort below later submits by more than the slack", async () => {
    const store = new MemorySiteStore();
    const quiet = { store, clock: clock(1e12) };
    const busy = { store: new Proxy(store, {}), clock: quiet.clock };
    const a = await allocateSeq(quiet);
    // another process reserves the next block and uses it
    const b = await allocateSeq(busy);
    expect(b).toBe(a + 10);
    // within the age the quiet process goes on from its block
    quiet.clock.t += SEQ_BLOCK_MAX_AGE_MS;
    expect(await allocateSeq(quiet)).toBe(a + 1);
    // past it, the rest is skipped: a fresh block above every number handed out before
    quiet.clock.t += 1;
    const c = await allocateSeq(quiet);
    expect(c).toBe(a + 20);
    expect(SEQ_ORDER_SLACK_S * 1000).toBeGreaterThan(SEQ_BLOCK_MAX_AGE_MS);
  });
});

describe("the script-lease floor a submit records (history.ts)", () => {
  it("is written once for submissions arriving together at a process's start, and before any of them is stored", async () => {
    const base = new MemorySiteStore();
    let writes = 0;
    let landed = false;
    const store = new Proxy(base, {
      get(target, prop) {
        if (prop === "lowerScriptLeaseFloor")
          return async (t: number) => {
            writes++;
            await new Promise((r) => setTimeout(r, 5));
            await target.lowerScriptLeaseFloor(t);
            landed = true;
          };
        if (prop === "createJob")
          return async (...a: Parameters<MemorySiteStore["createJob"]>) => {
            // every create waits for the floor: none is stored with a term the pass does not know
            expect(landed).toBe(true);
            return target.createJob(...a);
          };
        const v = Reflect.get(target, prop, target);
        return typeof v === "function" ? v.bind(target) : v;
      },
    });
    const h = withHistory(store, { clock: clock(1e12), settings: DEFAULT_SETTINGS });
    await Promise.all(
      Array.from({ length: 12 }, (_, i) => h.createJob(job(i + 1, { state: "Q", script: "x" }))),
    );
    expect(writes).toBe(1);
    expect(await base.scriptLeaseFloor()).toBeGreaterThan(0);
    // a later submit under the same terms writes nothing more
    await h.createJob(job(13, { state: "Q", script: "x" }));
    expect(writes).toBe(1);
  });

  it("a failed floor write fails its submits and is tried again by the next", async () => {
    let fail = true;
    const base = new MemorySiteStore({
      fail: (op) => (op === "lowerScriptLeaseFloor" && fail ? new Error("unreachable") : undefined),
    });
    const h = withHistory(base, { clock: clock(1e12), settings: DEFAULT_SETTINGS });
    await expect(h.createJob(job(1, { state: "Q", script: "x" }))).rejects.toThrow("unreachable");
    expect(await base.getJob("1")).toBeUndefined();
    fail = false;
    await h.createJob(job(2, { state: "Q", script: "x" }));
    expect(await base.scriptLeaseFloor()).toBeGreaterThan(0);
  });
});
