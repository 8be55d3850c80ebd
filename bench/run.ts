/**
 * npm run bench [-- --runs 3 --jobs 500]
 *
 * Runs the local metaqueue in this process (DynamoDB Local, the SQS emulator, child-process
 * MOMs) on one site with 64 virtual cores and measures, per run:
 *   - end-to-end throughput of N trivial jobs (/bin/true), first submit to last obituary
 *   - qsub latency (the real CLI binary, spawned each time) p50/p99
 *   - submit-to-start latency on an idle site, p50
 *   - afterok release gap (parent's end to dependent's start), p50
 *   - DynamoDB and SQS requests per job, counted in the SDK middleware of every process
 * and, after each of those runs, the same workload on single-node Slurm (bench/slurm.sh, stock
 * and tuned settings; skipped when slurm-wlm is missing or with --no-slurm), so that both
 * sides' medians come from runs taken in turns;
 * then peer transfers between two sites (bench/transfer.ts; --no-transfer skips them,
 * --transfer-only runs only them, --transfer-jobs N sizes the burst, --transfer-singles N the
 * jobs sent one at a time for the latency: 60 by default; with 20, its p99 was their slowest),
 * then the PBS commands' latency as processes (bench/cli-latency.ts; --no-cli skips it),
 * and prints the medians over the runs as a table. `--idle` instead measures the CPU of an idle
 * `npm start` per process (bench/idle.ts). It is a benchmark, not a test: numbers
 * depend on the machine; compare ratios and medians.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { parseConfig } from "../shared/config/site-config.js";
import type { JobRecord } from "../shared/server/job.js";
import { cliLatencyBench } from "./cli-latency.js";
import { countRequests, flushFileSystems, median, pct, startBenchStack, waitFinished } from "./local.js";
import { idleBench } from "./idle.js";
import { costRun, printCost } from "./cost.js";
import { type TransferResult, transferRun } from "./transfer.js";

const run = promisify(execFile);
const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const RUNS = opt("runs", 3);
const JOBS = opt("jobs", 500);
/**
 * How jobs start: `workdir` (default: the submit directory, the script's own interpreter, as
 * Slurm's sbatch starts them, so the side-by-side table compares schedulers, not shells) or
 * `home-login` (PBS's default: $HOME and a login shell, which costs each job its profile
 * scripts: ~100 ms of CPU per job on this machine, `bash -l -c true`).
 */
const JOB_START = args.includes("--job-start") ? args[args.indexOf("--job-start") + 1] : "workdir";
if (JOB_START !== "workdir" && JOB_START !== "home-login")
  throw new Error(`--job-start ${JOB_START}: expected workdir or home-login`);

const config = parseConfig({
  sites: [
    {
      name: "bench",
      server: "bench-pbs",
      jobStart: JOB_START,
      queues: [{ name: "workq", attributes: { "resources_default.walltime": "00:10:00" } }],
      nodes: [1, 2, 3, 4].map((i) => ({ name: `b${i}`, ncpus: 16, mem: "64gb" })),
    },
  ],
});

interface RunResult {
  throughput: number;
  submitRate: number;
  qsubP50: number;
  qsubP99: number;
  startP50: number;
  afterokP50: number;
  ddbWrites: number;
  ddbReads: number;
  sqs: number;
}

async function oneRun(k: number): Promise<RunResult> {
  const bench = await startBenchStack(config, "site");
  const { mq, dir } = bench;
  try {
    const site = mq.sites[0];
    const submit = (script: string, options: Record<string, unknown> = {}) =>
      bench.submit(site, script, options);
    const waitDone = (ids: string[], timeoutMs: number) => waitFinished(site, ids, timeoutMs);
    const trivial = "/bin/true\n";
    await waitDone([await submit(trivial)], 30_000); // warm-up: MOMs, connections, JIT

    // 1. throughput and requests per job
    flushFileSystems();
    const counting = await countRequests([site]);
    const t0 = Date.now();
    const ids: string[] = [];
    const queue = Array.from({ length: JOBS }, (_, i) => i);
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (queue.shift() !== undefined) ids.push(await submit(trivial));
      }),
    );
    const tSubmitted = Date.now();
    const done = await waitDone(ids, 300_000);
    const lastEnd = Math.max(...done.map((j: JobRecord) => j.obittime ?? 0));
    // let trailing cycles triggered by the last obituaries finish before reading the counters
    await new Promise((r) => setTimeout(r, 500));
    const { all, sum } = await counting.done();

    // 2. qsub latency: the real binary, one after another
    const bin = path.resolve("node_modules/.bin/qsub");
    const script = path.join(dir, "true.pbs");
    fs.writeFileSync(script, "#!/bin/bash\n/bin/true\n");
    const lat: number[] = [];
    const qsubIds: string[] = [];
    for (let i = 0; i < 40; i++) {
      const s = performance.now();
      const r = await run(bin, [script], {
        cwd: dir,
        env: { ...process.env, METAQUEUE_CONF: mq.confPath, METAQUEUE_CREDENTIAL: mq.credentialPath },
      });
      lat.push(performance.now() - s);
      qsubIds.push(r.stdout.trim());
    }
    await waitDone(qsubIds, 60_000);

    // 3. submit-to-start on an idle site
    const starts: number[] = [];
    for (let i = 0; i < 20; i++) {
      const [j] = await waitDone([await submit(trivial)], 30_000);
      starts.push((j.stime ?? 0) - j.ctime);
    }

    // 4. afterok gap
    const gaps: number[] = [];
    for (let i = 0; i < 10; i++) {
      const parent = await submit("sleep 0.2\n");
      const child = await submit(trivial, { depend: `afterok:${parent}` });
      const [p, c] = await waitDone([parent, child], 30_000);
      const [pj, cj] = p.id === parent ? [p, c] : [c, p];
      gaps.push((cj.stime ?? 0) - (pj.obittime ?? 0));
    }

    const r: RunResult = {
      throughput: JOBS / ((lastEnd - t0) / 1000),
      submitRate: JOBS / ((tSubmitted - t0) / 1000),
      qsubP50: median(lat),
      qsubP99: pct(lat, 99),
      startP50: median(starts),
      afterokP50: median(gaps),
      ddbWrites: sum.ddbWrite / JOBS,
      ddbReads: sum.ddbRead / JOBS,
      sqs: sum.sqs / JOBS,
    };
    console.error(
      `run ${k + 1}/${RUNS}: ${JSON.stringify(r, (_, v) => (typeof v === "number" ? Math.round(v * 100) / 100 : v))}`,
    );
    if (k === 0) console.error(`requests in run 1 (all processes): ${JSON.stringify(all)}`);
    return r;
  } finally {
    await bench.stop();
  }
}

async function transfers(): Promise<void> {
  if (args.includes("--no-transfer")) return;
  const n = opt("transfer-jobs", JOBS);
  const singles = opt("transfer-singles", 60);
  console.error(`peer transfers: ${RUNS} run(s), ${singles} single jobs then a burst of ${n}, two sites`);
  const rs: TransferResult[] = [];
  for (let k = 0; k < RUNS; k++) {
    const r = await transferRun(n, singles);
    console.error(
      `transfer run ${k + 1}/${RUNS}: ${JSON.stringify(r, (_, v) => (typeof v === "number" ? Math.round(v * 100) / 100 : v))}`,
    );
    rs.push(r);
  }
  const m = (f: (r: TransferResult) => number) => median(rs.map(f));
  console.log(`\n| peer transfer (median of ${RUNS} runs) | metaqueue |`);
  console.log("|---|---|");
  console.log(
    `| transfer latency p50 (submit at full origin → running at peer) | ${m((r) => r.latencyP50).toFixed(0)} ms |`,
  );
  console.log(`| transfer latency p99 | ${m((r) => r.latencyP99).toFixed(0)} ms |`);
  console.log(
    `| jobs moved per second, burst of ${n} queued jobs | ${m((r) => r.movedPerSec).toFixed(1)} jobs/s |`,
  );
  console.log(`| burst: all ${n} moved, run and reported back | ${m((r) => r.burstDoneSec).toFixed(1)} s |`);
  console.log(`| SQS requests per moved job (move, run, end report) | ${m((r) => r.sqsPerJob).toFixed(2)} |`);
  console.log(`| DynamoDB writes per moved job (both sites) | ${m((r) => r.ddbWritesPerJob).toFixed(2)} |`);
  console.log(`| DynamoDB reads per moved job (both sites) | ${m((r) => r.ddbReadsPerJob).toFixed(2)} |`);
}

/** The cost of a realistic job (bench/cost.ts); --no-cost skips it, --cost-only runs only it. */
async function cost(): Promise<void> {
  if (args.includes("--no-cost")) return;
  printCost(await costRun(opt("cost-jobs", 300)));
}

async function main(): Promise<void> {
  // idle CPU of `npm start` (bench/idle.ts): ~2 min a run, so not part of the default run
  if (args.includes("--idle")) {
    await idleBench(args);
    process.exit(0);
  }
  if (args.includes("--cost-only")) {
    await cost();
    process.exit(0);
  }
  if (args.includes("--transfer-only")) {
    await transfers();
    process.exit(0);
  }
  console.error(
    `metaqueue bench: ${RUNS} run(s) of ${JOBS} trivial jobs on 64 virtual cores, ${os.cpus().length} CPU(s), node ${process.version}, jobs start: ${JOB_START}`,
  );
  // Slurm's runs alternate with metaqueue's (metaqueue, Slurm, metaqueue, Slurm, ...): on a
  // shared or throttled machine the speed drifts over minutes, and three metaqueue runs followed
  // by one Slurm run compared medians taken at different times (on 2026-12-04 Slurm tuned ran
  // 44.2 jobs/s in one bench and 30.9 an hour later). Each side's figure is a median of RUNS.
  const slurmOn = await slurmAvailable();
  const results: RunResult[] = [];
  const slurm: SlurmRun[] = [];
  let slurmFailed: string | undefined;
  for (let k = 0; k < RUNS; k++) {
    results.push(await oneRun(k));
    if (!slurmOn || slurmFailed) continue;
    const s = await slurmRun(k);
    if (typeof s === "string") slurmFailed = s;
    else slurm.push(s);
  }
  const m = (f: (r: RunResult) => number) => median(results.map(f));
  const rows: [string, string, string][] = [
    [
      `end-to-end throughput, ${JOBS} × /bin/true`,
      `${m((r) => r.throughput).toFixed(1)} jobs/s`,
      "≥ 50 jobs/s",
    ],
    ["submission rate (HTTP API, 16 clients)", `${m((r) => r.submitRate).toFixed(1)} jobs/s`, ""],
    ["qsub latency p50 (CLI process)", `${m((r) => r.qsubP50).toFixed(0)} ms`, ""],
    ["qsub latency p99 (CLI process)", `${m((r) => r.qsubP99).toFixed(0)} ms`, ""],
    ["submit-to-start p50, idle site", `${m((r) => r.startP50).toFixed(0)} ms`, "≤ 200 ms"],
    ["afterok release gap p50", `${m((r) => r.afterokP50).toFixed(0)} ms`, "≤ 200 ms"],
    ["DynamoDB write requests per job", m((r) => r.ddbWrites).toFixed(2), "≤ 8"],
    ["DynamoDB read requests per job", m((r) => r.ddbReads).toFixed(2), ""],
    ["SQS requests per job", m((r) => r.sqs).toFixed(2), "≤ 4"],
  ];
  console.log(`\n| metric (median of ${RUNS} runs) | metaqueue | target |`);
  console.log("|---|---|---|");
  for (const [a, b, c] of rows) console.log(`| ${a} | ${b} | ${c} |`);
  if (!slurmOn) {
    if (!args.includes("--no-slurm"))
      console.log("\nSlurm side by side: skipped (slurm-wlm is not installed; apt-get install slurm-wlm)");
  } else if (slurmFailed) console.log(`\nSlurm side by side: failed (${slurmFailed})`);
  else printSideBySide(results, slurm);
  if (!args.includes("--no-cli"))
    await cliLatencyBench(config, { n: 30, slurm: !args.includes("--no-slurm") });
  await transfers();
  await cost();
  process.exit(0);
}

/** slurm-wlm's daemons are installed (`apt-get install slurm-wlm`) and --no-slurm is not given */
async function slurmAvailable(): Promise<boolean> {
  if (args.includes("--no-slurm")) return false;
  try {
    await run("which", ["slurmctld"]);
    return true;
  } catch {
    return false;
  }
}

/** One run of bench/slurm.sh, stock and tuned settings (throughput jobs/s; start, afterok s). */
interface SlurmRun {
  version: string;
  default: { throughput: number; start: number; afterok: number };
  tuned: { throughput: number; start: number; afterok: number };
}

/**
 * The same workload on a single-node Slurm (bench/slurm.sh, which starts and stops its own
 * slurmctld and slurmd for each setting): a SlurmRun, or why it failed.
 */
async function slurmRun(k: number): Promise<SlurmRun | string> {
  console.error(`Slurm run ${k + 1}/${RUNS}: the same workload on single-node Slurm (bench/slurm.sh)...`);
  let out: string;
  try {
    out = (
      await run("bash", [path.resolve("bench/slurm.sh"), "both", "--jobs", String(JOBS)], {
        maxBuffer: 1 << 24,
      })
    ).stdout;
  } catch (err) {
    return (err as Error).message.split("\n")[0];
  }
  const row = (label: string) => {
    const line = out.split("\n").find((l) => l.startsWith(`| ${label}`));
    const cells = line?.split("|").map((c) => c.trim()) ?? [];
    return [Number(cells[2]), Number(cells[3])];
  };
  const [thD, thT] = row("throughput");
  const [stD, stT] = row("submit-to-start");
  const [afD, afT] = row("afterok");
  if (![thD, thT, stD, stT, afD, afT].every(Number.isFinite)) return "bench/slurm.sh printed no table";
  const r: SlurmRun = {
    version: out.split("\n").find((l) => l.startsWith("Slurm:")) ?? "",
    default: { throughput: thD, start: stD, afterok: afD },
    tuned: { throughput: thT, start: stT, afterok: afT },
  };
  console.error(
    `Slurm run ${k + 1}/${RUNS}: ${JSON.stringify(r.default)} (stock), ${JSON.stringify(r.tuned)} (tuned)`,
  );
  return r;
}

/**
 * metaqueue's medians beside Slurm's (each of RUNS runs, taken in turns), and the throughput
 * ratio of each metaqueue run to the tuned Slurm run right after it: the pairs ran under the
 * same conditions, so their spread shows how much of a ratio is the machine's drift.
 */
function printSideBySide(mq: RunResult[], slurm: SlurmRun[]): void {
  const med = (f: (r: RunResult) => number) => median(mq.map(f));
  const us = {
    throughput: med((r) => r.throughput),
    start: med((r) => r.startP50) / 1000,
    afterok: med((r) => r.afterokP50) / 1000,
  };
  const side = (mode: "default" | "tuned") => ({
    throughput: median(slurm.map((s) => s[mode].throughput)),
    start: median(slurm.map((s) => s[mode].start)),
    afterok: median(slurm.map((s) => s[mode].afterok)),
  });
  const [dflt, tuned] = [side("default"), side("tuned")];
  const ratio = (a: number, b: number) => (Number.isFinite(a) && b > 0 ? `${(a / b).toFixed(2)}×` : "n/a");
  const list = (xs: number[], d = 1) => xs.map((x) => x.toFixed(d)).join(", ");
  const pairs = slurm.map((s, k) => mq[k].throughput / s.tuned.throughput);
  const title = `same workload, median of ${mq.length} runs (metaqueue) and ${slurm.length} (Slurm), in turns`;
  console.log(`\n| ${title} | metaqueue | Slurm default | Slurm tuned | metaqueue vs tuned |`);
  console.log("|---|---|---|---|---|");
  const row = (label: string, cells: (string | number)[]) =>
    console.log(`| ${label} | ${cells.join(" | ")} |`);
  row("throughput (jobs/s, higher is better)", [
    us.throughput.toFixed(1),
    dflt.throughput,
    tuned.throughput,
    ratio(us.throughput, tuned.throughput),
  ]);
  row("… each run (jobs/s), and each metaqueue run ÷ the tuned run after it", [
    list(mq.map((r) => r.throughput)),
    list(slurm.map((s) => s.default.throughput)),
    list(slurm.map((s) => s.tuned.throughput)),
    list(pairs, 2),
  ]);
  row("submit-to-start p50 (s, lower is better)", [
    us.start.toFixed(3),
    dflt.start,
    tuned.start,
    `${ratio(tuned.start, us.start)} faster`,
  ]);
  row("afterok gap p50 (s, lower is better)", [
    us.afterok.toFixed(3),
    dflt.afterok,
    tuned.afterok,
    `${ratio(tuned.afterok, us.afterok)} faster`,
  ]);
  console.log(`\n${slurm[0]?.version ?? ""}`);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
