/**
 * Flat at scale (issue 14, point 3): a site with N queued jobs, and what a scheduling cycle, a
 * qstat of one job, the dashboard's pages, one submit, qstat -B and -Q (GET /v1/server,
 * /v1/queues), the sweeper's chart sample and a qstat of the whole queue (its first page, and one
 * from the middle) cost, in store requests, capacity units (DynamoDB), jobs returned and time
 * (each the median of REPS), against the smaller sizes. Ratio ≤ 1.2 is flat.
 *
 *   npx tsx bench/scale.ts [--store memory|dynamodb] [--sizes 100,2000,100000] [--reps 5]
 *     [--load-concurrency 8]
 *
 * Exits 1 when a request or capacity-unit count at the largest size is more than 1.2 times the
 * same count at the operation's bound size (below). Times are printed with their ratios but not
 * checked: on a shared, loaded machine they are noise (the load average is printed).
 *
 * Bounded reads: the cycle reads up to `cycleCandidates` (200) of the ready index, a qstat page
 * 500 jobs, the counts (overview, /v1/server, /v1/queues, the sample) up to JOB_COUNT_CAP (1,000)
 * a queue. Under those bounds an operation reads fewer items than at the largest size by
 * design, so each is checked against the smallest size at which it returned as many items as at
 * the largest (its "bound size", printed); the ratio to the smallest size is printed too.
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
import { loadavg } from "node:os";
import { SAMPLE_EVERY_MS, sampleSite } from "../shared/api/overview.js";
import { runCycle } from "../shared/scheduler/cycle.js";
import { handleObituary } from "../shared/server/job-end.js";
import { invalidateServerState } from "../shared/server/server-state.js";
import { median } from "./local.js";
import { openScaleSite, queuedJob, type ScaleSite, type StoreKind } from "./scale-site.js";

const args = process.argv.slice(2);
const arg = (n: string, d: string) => (args.includes(`--${n}`) ? args[args.indexOf(`--${n}`) + 1] : d);
const STORE = arg("store", "memory") as StoreKind;
const SIZES = arg("sizes", "100,2000,100000").split(",").map(Number);
const REPS = Number(arg("reps", "5"));
const LOAD_CONCURRENCY = Number(arg("load-concurrency", "8"));
if (STORE !== "memory" && STORE !== "dynamodb") throw new Error(`--store memory|dynamodb, not ${STORE}`);

interface Row {
  calls: number;
  rcu: number;
  wcu: number;
  ms: number;
  /** this process's CPU (user + system) over the operation: in memory, the product's code and its GC */
  cpuMs: number;
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
  // the sample runs at most every SAMPLE_EVERY_MS per store: each rep asks as a later tick would
  let later = 0;
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
    "qstat -B (GET /v1/server)": {
      run: async () => {
        const r = (await site.api("GET", "/v1/server")) as {
          server: { attributes: { total_jobs: unknown } };
        };
        return Number.parseInt(String(r.server.attributes.total_jobs), 10);
      },
    },
    "qstat -Q (GET /v1/queues)": {
      run: async () => {
        const r = (await site.api("GET", "/v1/queues")) as {
          queues: { attributes: { total_jobs: unknown } }[];
        };
        return r.queues.reduce((a, q) => a + Number.parseInt(String(q.attributes.total_jobs), 10), 0);
      },
    },
    "sweeper's chart sample (sampleSite)": {
      run: async () => {
        later += SAMPLE_EVERY_MS;
        const clock = { ...site.ctx.clock, now: () => Date.now() + later };
        const s = await sampleSite({ ...site.ctx, clock });
        if (!s) throw new Error("sampleSite skipped a sample");
        return s.queued + s.running + s.held;
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
  const site = await openScaleSite(STORE, { loadConcurrency: LOAD_CONCURRENCY });
  try {
    const t0 = performance.now();
    await site.load(n);
    const s = (performance.now() - t0) / 1000;
    console.error(
      `${STORE}: ${n} jobs queued in ${s.toFixed(1)} s (${(n / s).toFixed(0)} jobs/s), load ${load()}`,
    );
    // fill the node: the untimed first cycle starts 4 jobs
    await runCycle(site.ctx, "default");
    const out: Record<string, Row> = {};
    for (const [name, op] of Object.entries(operations(site, n))) {
      const reps: Row[] = [];
      for (let i = 0; i < REPS; i++) {
        await op.prep?.();
        // each request reads the server objects as a fresh Lambda would (the cache is per process)
        invalidateServerState(site.ctx);
        const before = site.counts();
        const t = performance.now();
        const cpu = process.cpuUsage();
        const items = await op.run();
        const ms = performance.now() - t;
        const used = process.cpuUsage(cpu);
        const after = site.counts();
        reps.push({
          calls: after.calls - before.calls,
          rcu: after.rcu - before.rcu,
          wcu: after.wcu - before.wcu,
          items,
          ms,
          cpuMs: (used.user + used.system) / 1000,
        });
      }
      const med = (k: keyof Row) => median(reps.map((r) => r[k]));
      out[name] = {
        calls: med("calls"),
        rcu: med("rcu"),
        wcu: med("wcu"),
        items: med("items"),
        ms: med("ms"),
        cpuMs: med("cpuMs"),
      };
      console.error(`  ${name}: ${cell(out[name])}`);
    }
    return out;
  } finally {
    await site.close();
  }
}

const load = () =>
  loadavg()
    .map((x) => x.toFixed(1))
    .join(" ");

const num = (x: number) => (Number.isInteger(x) ? String(x) : x.toFixed(1));

function cell(r: Row): string {
  const cu = STORE === "dynamodb" ? `, ${num(r.rcu)} RCU, ${num(r.wcu)} WCU` : `, ${num(r.rcu)} index items`;
  // on DynamoDB Local the store's CPU is Java's, not counted: only the wall time is shown
  const cpu = STORE === "memory" ? ` (CPU ${r.cpuMs.toFixed(2)})` : "";
  return `${r.ms.toFixed(2)} ms${cpu}, ${num(r.calls)} req${cu}, ${num(r.items)} items`;
}

/** largest / base of a count; a count that is 0 at both is flat (1) */
const ratio = (a: number, b: number) => (a === 0 && b === 0 ? 1 : a / Math.max(b, 1e-9));

async function main(): Promise<void> {
  console.error(`scale bench: --store ${STORE} --sizes ${SIZES.join(",")} --reps ${REPS}; load ${load()}`);
  const results = new Map<number, Record<string, Row>>();
  for (const n of SIZES) results.set(n, await measure(n));
  const at = (n: number) => results.get(n) as Record<string, Row>;
  const largest = SIZES[SIZES.length - 1];
  const last = at(largest);
  const head = SIZES.map((n) => `${n.toLocaleString("en")} queued`).join(" | ");
  const units = STORE === "dynamodb" ? "req / RCU / WCU" : "store calls / index items read";
  console.log(
    `\n| ${STORE}, median of ${REPS} reps | ${head} | bound size | ratio ${units} (largest / bound) | ratio ms${STORE === "memory" ? " (CPU)" : ""} (largest / bound) | ratio ${units} (largest / ${SIZES[0]}) |`,
  );
  console.log(`|---|${SIZES.map(() => "---|").join("")}---|---|---|---|`);
  const failed: string[] = [];
  for (const name of Object.keys(last)) {
    const L = last[name];
    // the smallest size at which the operation returned as many items as at the largest
    const bound = SIZES.find((n) => at(n)[name].items >= L.items) ?? SIZES[0];
    const B = at(bound)[name];
    const S = at(SIZES[0])[name];
    const counts = (b: Row) =>
      STORE === "dynamodb"
        ? [ratio(L.calls, b.calls), ratio(L.rcu, b.rcu), ratio(L.wcu, b.wcu)]
        : [ratio(L.calls, b.calls), ratio(L.rcu, b.rcu)];
    const vsBound = counts(B);
    if (bound !== largest && vsBound.some((r) => r > 1.2)) failed.push(name);
    if (bound === largest) failed.push(`${name} (no smaller size reached its bound)`);
    const fmt = (rs: number[]) => rs.map((r) => r.toFixed(2)).join(" / ");
    const cells = SIZES.map((n) => cell(at(n)[name]));
    console.log(
      `| ${name} | ${cells.join(" | ")} | ${bound.toLocaleString("en")} | ${fmt(vsBound)} | ${ratio(L.ms, B.ms).toFixed(2)}${STORE === "memory" ? ` (${ratio(L.cpuMs, B.cpuMs).toFixed(2)})` : ""} | ${fmt(counts(S))} |`,
    );
  }
  console.log(`\nload average at the end: ${load()} (times are wall clock on a shared machine: noisy)`);
  if (failed.length) {
    console.error(`NOT FLAT (a count ratio > 1.2 against its bound size): ${failed.join("; ")}`);
    process.exit(1);
  }
  console.log("flat: every request and capacity-unit ratio against its bound size is <= 1.2");
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
