/**
 * Flat at scale (issue 14, point 3): a site with N queued jobs, and what a scheduling cycle, a
 * qstat of one job, the dashboard's pages, one submit and a qstat of the whole queue (its first
 * page, and one from the middle) cost, in store requests, capacity units (DynamoDB), jobs
 * returned and time (median of REPS), against the smallest N. Ratio ≤ 1.2 is flat.
 *
 *   npx tsx bench/scale.ts [--store memory|dynamodb] [--sizes 100,100000] [--reps 20]
 *
 * Everything goes through the product's code: the API handler (lambdas/handlers.ts) for the
 * requests, `runCycle` for the cycle, over the in-memory adapter or DynamoDB Local with the
 * product's table (bench/scale-site.ts loads it).
 *
 * The cycle, measured two ways, each keeping the queue at N:
 * - "cluster full": the one node's 4 cores are taken (an untimed cycle started 4 jobs), so the
 *   cycle reads and plans the top of the queue and starts nothing: a saturated site's cycle
 *   between two job ends, the usual one with a million queued.
 * - "starts 4": before each rep, untimed, the 4 running jobs end (their obituaries, through
 *   handleObituary) and 4 jobs are queued at the back; the timed cycle then claims and
 *   dispatches 4 (the executor records them): a cycle's writes as well as its reads.
 * A cycle reads at most `cycleCandidates` (200) of the ready index: with fewer queued it reads
 * all of them, so at 100 queued it returns fewer items than at 100,000 by design.
 */
import { runCycle } from "../shared/scheduler/cycle.js";
import { handleObituary } from "../shared/server/job-end.js";
import { invalidateServerState } from "../shared/server/server-state.js";
import { median } from "./local.js";
import { openScaleSite, queuedJob, type ScaleSite, type StoreKind } from "./scale-site.js";

const args = process.argv.slice(2);
const arg = (n: string, d: string) => (args.includes(`--${n}`) ? args[args.indexOf(`--${n}`) + 1] : d);
const STORE = arg("store", "memory") as StoreKind;
const SIZES = arg("sizes", "100,100000").split(",").map(Number);
const REPS = Number(arg("reps", "20"));
if (STORE !== "memory" && STORE !== "dynamodb") throw new Error(`--store memory|dynamodb, not ${STORE}`);

interface Row {
  calls: number;
  rcu: number;
  wcu: number;
  ms: number;
  items: number;
}

type Op = { prep?: () => Promise<void>; run: () => Promise<number> };

const jobsIn = (r: unknown) => (r as { jobs: unknown[] }).jobs.length;

function operations(site: ScaleSite, n: number): Record<string, Op> {
  const mid = 1 + Math.floor(n / 2);
  const endRunning = async () => {
    const ran = site.executor.dispatched.splice(0);
    const now = Date.now();
    for (const d of ran)
      await handleObituary(site.ctx, {
        type: "obit",
        jobId: d.jobId,
        runCount: d.runCount,
        momId: d.momId,
        exitStatus: 0,
        startedAt: now - 1000,
        endedAt: now,
        resourcesUsed: { walltime: 1, cput: 1, mem: 0, ncpus: 1 },
      });
    // as many queued at the back as ended: the queue stays N
    for (let i = 0; i < ran.length; i++)
      await site.ctx.store.createJob(queuedJob(await site.ctx.store.reserveSeq(1)));
    site.bus.take("sched");
    site.bus.take("events");
  };
  const cycle = async () => {
    const r = await runCycle(site.ctx, "default");
    return r.considered + r.running;
  };
  return {
    "scheduling cycle, cluster full (starts 0)": { run: cycle },
    "scheduling cycle that starts 4 (4 ended before it)": { prep: endRunning, run: cycle },
    "qstat of one job (GET /v1/jobs/<id>)": {
      run: async () => ((await site.api("GET", `/v1/jobs/${mid}.casper`)) ? 1 : 0),
    },
    "dashboard jobs page (GET /v1/jobs?limit=50)": {
      run: async () => jobsIn(await site.api("GET", "/v1/jobs", { limit: "50" })),
    },
    "dashboard overview (GET /v1/overview)": {
      run: async () => {
        const o = (await site.api("GET", "/v1/overview")) as { queues: { total: number }[] };
        return o.queues.reduce((a, q) => a + q.total, 0);
      },
    },
    "submit (POST /v1/jobs)": {
      run: async () => {
        await site.api("POST", "/v1/jobs", undefined, {
          script: "#!/bin/sh\ntrue\n",
          options: {},
          submitDir: "/tmp",
          env: {},
          submitHost: "bench",
        });
        site.bus.take("sched");
        return 1;
      },
    },
    "qstat of the whole queue, first page (GET /v1/jobs: 500)": {
      run: async () => jobsIn(await site.api("GET", "/v1/jobs")),
    },
    "qstat of the whole queue, a page from the middle (after=N/2)": {
      run: async () => jobsIn(await site.api("GET", "/v1/jobs", { after: String(mid) })),
    },
  };
}

async function measure(n: number): Promise<Record<string, Row>> {
  const site = await openScaleSite(STORE);
  try {
    const t0 = performance.now();
    await site.load(n);
    const s = (performance.now() - t0) / 1000;
    console.error(`${STORE}: ${n} jobs queued in ${s.toFixed(1)} s (${(n / s).toFixed(0)} jobs/s)`);
    // fill the node: the untimed first cycle starts 4 jobs
    await runCycle(site.ctx, "default");
    const out: Record<string, Row> = {};
    for (const [name, op] of Object.entries(operations(site, n))) {
      const times: number[] = [];
      let row = { calls: 0, rcu: 0, wcu: 0, items: 0 };
      for (let i = 0; i < REPS; i++) {
        await op.prep?.();
        // each request reads the server objects as a fresh Lambda would (the cache is per process)
        invalidateServerState(site.ctx);
        const before = site.counts();
        const t = performance.now();
        const items = await op.run();
        times.push(performance.now() - t);
        const after = site.counts();
        row = {
          calls: after.calls - before.calls,
          rcu: after.rcu - before.rcu,
          wcu: after.wcu - before.wcu,
          items,
        };
      }
      out[name] = { ...row, ms: median(times) };
      console.error(`  ${name}: ${out[name].ms.toFixed(2)} ms`);
    }
    return out;
  } finally {
    await site.close();
  }
}

function cell(r: Row): string {
  const cu = STORE === "dynamodb" ? `, ${r.rcu} RCU, ${r.wcu} WCU` : "";
  return `${r.ms.toFixed(2)} ms, ${r.calls} req${cu}, ${r.items} items`;
}

async function main(): Promise<void> {
  const results = new Map<number, Record<string, Row>>();
  for (const n of SIZES) results.set(n, await measure(n));
  const base = results.get(SIZES[0]) as Record<string, Row>;
  const last = results.get(SIZES[SIZES.length - 1]) as Record<string, Row>;
  // with 3 sizes or more, also against the second: past the cycle's 200 candidates and a page
  const mid = SIZES.length > 2 ? (results.get(SIZES[1]) as Record<string, Row>) : undefined;
  const head = SIZES.map((n) => `${n.toLocaleString("en")} queued`).join(" | ");
  const vs = `ratio ms (req) largest / ${SIZES[0]}${mid ? ` and / ${SIZES[1]}` : ""}`;
  console.log(`\n| ${STORE}, median of ${REPS} | ${head} | ${vs} |`);
  console.log(`|---|${SIZES.map(() => "---|").join("")}---|`);
  for (const name of Object.keys(base)) {
    const cells = SIZES.map((n) => cell((results.get(n) as Record<string, Row>)[name]));
    const ratio = last[name].ms / Math.max(base[name].ms, 0.001);
    const reqs = last[name].calls / Math.max(base[name].calls, 1);
    const r2 = mid ? `; ${(last[name].ms / Math.max(mid[name].ms, 0.001)).toFixed(2)}` : "";
    console.log(`| ${name} | ${cells.join(" | ")} | ${ratio.toFixed(2)} (${reqs.toFixed(2)})${r2} |`);
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
