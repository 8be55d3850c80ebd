/**
 * qstat -B (GET /v1/server), qstat -Q (GET /v1/queues, /v1/queues/<name>) and the sweeper's chart
 * sample cost the same whatever is queued (issue 14, point 3): each counts a queue's active jobs
 * up to JOB_COUNT_CAP (shared/api/counts.ts) and says when it stopped there ("1000+"). Before,
 * each read every active job of every queue from the list index.
 */
import { describe, expect, it } from "vitest";
import { JOB_COUNT_CAP } from "../../../shared/api/counts.js";
import { sampleSite } from "../../../shared/api/overview.js";
import { jobRecord } from "../../fixtures/job.js";
import { memorySite } from "../../fixtures/memory-site.js";

/** List-index entries each request reads at a site with `n` queued, and what it answers. */
async function countsAt(n: number) {
  const site = await memorySite();
  for (let seq = 1; seq <= n; seq++) await site.store.createJob(jobRecord(seq, { queue: "casper" }));
  // the real store's listJobs, its answers counted (what a DynamoDB Query would read and bill)
  let listed = 0;
  const list = site.store.listJobs.bind(site.store);
  site.store.listJobs = async (...a) => {
    const r = await list(...a);
    listed += r.length;
    return r;
  };
  const read = async <T>(f: () => Promise<T>) => {
    listed = 0;
    const out = await f();
    return { listed, out };
  };
  const get = (path: string) =>
    read(async () => {
      const r = await site.api("GET", path, { as: "alice" });
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      return r.body;
    });
  return {
    server: await get("/v1/server"),
    queues: await get("/v1/queues"),
    queue: await get("/v1/queues/casper"),
    sample: await read(async () => sampleSite(site.ctx)),
  };
}

describe("job counts at scale", () => {
  it("are exact under the cap", async () => {
    const c = await countsAt(50);
    expect(c.server.out.server.attributes).toMatchObject({
      total_jobs: 50,
      state_count: "Transit:0 Queued:50 Held:0 Waiting:0 Running:0 Exiting:0 Begun:0",
    });
    expect(c.queues.out.queues[0].attributes).toMatchObject({ total_jobs: 50 });
    expect(c.queue.out.queue.attributes.state_count).toMatch(/ Queued:50 /);
    expect(c.sample.out).toMatchObject({ queued: 50, running: 0 });
    expect(c.sample.out?.capped).toBeUndefined();
  });

  it("read the same list items at 2 and 4 times the cap, and say the counts are lower bounds", async () => {
    const big = await countsAt(2 * JOB_COUNT_CAP);
    const bigger = await countsAt(4 * JOB_COUNT_CAP);
    for (const k of ["server", "queues", "queue", "sample"] as const) {
      expect(big[k].listed, k).toBeLessThanOrEqual(JOB_COUNT_CAP + 1);
      expect(bigger[k].listed, k).toBe(big[k].listed);
    }
    expect(bigger.server.out.server.attributes).toMatchObject({
      total_jobs: `${JOB_COUNT_CAP}+`,
      state_count: `Transit:0+ Queued:${JOB_COUNT_CAP}+ Held:0+ Waiting:0+ Running:0+ Exiting:0+ Begun:0+`,
    });
    expect(bigger.queues.out.queues[0].attributes.total_jobs).toBe(`${JOB_COUNT_CAP}+`);
    expect(bigger.queue.out.queue.attributes.state_count).toMatch(new RegExp(` Queued:${JOB_COUNT_CAP}\\+ `));
    expect(bigger.sample.out).toMatchObject({ queued: JOB_COUNT_CAP, capped: true });
  });
});
