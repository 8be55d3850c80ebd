/**
 * The dashboard's overview costs the same whatever is queued (issue 14, point 3): it counts a
 * queue's active jobs up to OVERVIEW_COUNT_CAP, so the list-index items one view reads stop
 * growing with the queue (bench/scale.ts measured a view reading every queued job).
 */
import { describe, expect, it } from "vitest";
import { buildOverview, OVERVIEW_COUNT_CAP } from "../../../shared/api/overview.js";
import type { SiteStore } from "../../../shared/ports/index.js";
import { jobRecord } from "../../fixtures/job.js";
import { memorySite } from "../../fixtures/memory-site.js";

/** A site with `n` queued jobs; the list-index items one overview reads, and what it shows. */
async function overviewAt(n: number) {
  const site = await memorySite();
  for (let seq = 1; seq <= n; seq++) await site.store.createJob(jobRecord(seq, { queue: "casper" }));
  let listed = 0;
  const store = site.ctx.store;
  // the real store, its listJobs answers counted (what a DynamoDB Query would read)
  const counting: SiteStore = Object.create(store);
  counting.listJobs = async (...a) => {
    const r = await store.listJobs(...a);
    listed += r.length;
    return r;
  };
  const ov = await buildOverview({ ...site.ctx, store: counting });
  return { listed, queue: ov.queues[0] };
}

describe("overview at scale", () => {
  it("reads the same list items at 2 and 4 times the cap, and says the count is capped", async () => {
    const small = await overviewAt(50);
    expect(small.queue).toMatchObject({ total: 50, counts: { Q: 50 } });
    expect(small.queue.capped).toBeUndefined();
    const big = await overviewAt(2 * OVERVIEW_COUNT_CAP);
    const bigger = await overviewAt(4 * OVERVIEW_COUNT_CAP);
    expect(big.listed).toBeLessThanOrEqual(OVERVIEW_COUNT_CAP + 1);
    expect(bigger.listed).toBe(big.listed);
    expect(bigger.queue).toMatchObject({ total: OVERVIEW_COUNT_CAP, capped: true });
  });
});
