/**
 * Flat at scale (issue 14, point 3), at the store port: a site with N queued jobs, and what a
 * scheduling cycle's reads (the ready index's top and the running jobs), a qstat of one job, the
 * dashboard's first page, one submit and a qstat of the whole queue cost, in store calls and
 * time (median of REPS), against the smallest N. Ratio ≤ 1.2 is flat.
 *
 *   npx tsx bench/scale.ts [--sizes 100,100000] [--reps 20]
 *
 * This version runs on the in-memory adapter (the one whose semantics the contract suite pins to
 * DynamoDB's), whose indexes are ordered arrays read by binary search as DynamoDB reads a GSI
 * partition (shared/adapters/memory/table.ts): a read costs what it returns. What it does not do yet: load DynamoDB Local with 100k jobs by BatchWriteItem
 * through items.ts (the way test/e2e/dashboard-scale.test.ts loads its history) and time the
 * same calls there; see docs/deploy.md "Cost and scale".
 */
import { MemorySiteStore } from "../shared/adapters/memory/index.js";
import type { JobRecord } from "../shared/server/job.js";
import { jobRecord } from "../test/fixtures/job.js";
import { median } from "./local.js";

const args = process.argv.slice(2);
const arg = (n: string, d: string) => (args.includes(`--${n}`) ? args[args.indexOf(`--${n}`) + 1] : d);
const SIZES = arg("sizes", "100,100000").split(",").map(Number);
const REPS = Number(arg("reps", "20"));

interface Row {
  calls: number;
  ms: number;
  items: number;
}

async function measure(n: number): Promise<Record<string, Row>> {
  let calls = 0;
  const store = new MemorySiteStore({ fail: () => void calls++ });
  const t0 = performance.now();
  for (let seq = 1; seq <= n; seq++) await store.createJob(jobRecord(seq, { qtime: seq, ctime: seq }));
  console.error(`${n} jobs queued in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  let next = n + 1;
  const ops: Record<string, () => Promise<number>> = {
    "scheduling cycle reads (ready top 256 + running)": async () =>
      (await store.queryReady("workq", 256)).length + (await store.queryRunning("default")).length,
    "qstat of one job": async () => ((await store.getJob(String(1 + Math.floor(n / 2)))) ? 1 : 0),
    "dashboard first page (50)": async () =>
      (await store.listJobPage({ queues: ["workq"], limit: 50, history: false })).jobs.length,
    "submit (reserve a number, create the job)": async () => {
      const seq = next++;
      await store.reserveSeq(1);
      await store.createJob(jobRecord(seq, { qtime: seq, ctime: seq }) as JobRecord);
      return 1;
    },
    // GET /v1/jobs hands qstat the queue a page at a time (QSTAT_PAGE, oldest first): one request
    "qstat of the whole queue, one page (GET /v1/jobs: 500, oldest first)": async () =>
      (await store.listJobPage({ queues: ["workq"], limit: 500, history: false, order: "oldest" })).jobs
        .length,
    "qstat of the whole queue, a page from the middle (after = N/2)": async () =>
      (
        await store.listJobPage({
          queues: ["workq"],
          limit: 500,
          history: false,
          order: "oldest",
          after: Math.floor(n / 2),
        })
      ).jobs.length,
  };
  const out: Record<string, Row> = {};
  for (const [name, op] of Object.entries(ops)) {
    const times: number[] = [];
    let items = 0;
    let c = 0;
    for (let i = 0; i < REPS; i++) {
      const before = calls;
      const s = performance.now();
      items = await op();
      times.push(performance.now() - s);
      c = calls - before;
    }
    out[name] = { calls: c, ms: median(times), items };
  }
  return out;
}

async function main(): Promise<void> {
  const results = new Map<number, Record<string, Row>>();
  for (const n of SIZES) results.set(n, await measure(n));
  const base = results.get(SIZES[0]) as Record<string, Row>;
  const head = SIZES.map((n) => `${n.toLocaleString("en")} queued`).join(" | ");
  console.log(`\n| in-memory adapter, median of ${REPS} | ${head} | ratio (largest / ${SIZES[0]}) |`);
  console.log(`|---|${SIZES.map(() => "---|").join("")}---|`);
  for (const name of Object.keys(base)) {
    const cells = SIZES.map((n) => {
      const r = (results.get(n) as Record<string, Row>)[name];
      return `${r.ms.toFixed(2)} ms, ${r.calls} calls, ${r.items} items`;
    });
    const last = (results.get(SIZES[SIZES.length - 1]) as Record<string, Row>)[name];
    const ratio = last.ms / Math.max(base[name].ms, 0.001);
    console.log(
      `| ${name} | ${cells.join(" | ")} | ${ratio.toFixed(1)}${ratio <= 1.2 ? " (flat)" : " (NOT flat)"} |`,
    );
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
