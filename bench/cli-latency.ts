/**
 * Command latency: the real PBS binaries as workflow tools run them, one process per job and per
 * poll. Spawns `qsub`, `qstat <id>`, `qstat` (whole queue) and `qdel <id>` N times each, one after
 * another, against a running site and prints p50/p90 per command next to `node -e 0` (the floor:
 * Node's own start) and, when slurm-wlm is installed, Slurm's `sbatch`/`squeue`/`scancel` on a
 * single-node Slurm (bench/slurm.sh cli).
 *
 * Jobs are submitted held (`qsub -h`, `sbatch -H`): none runs, so the site does nothing but answer
 * the commands, `qstat` lists the N jobs submitted so far and `qdel` deletes a live job.
 *
 * Called by bench/run.ts (`--no-cli` skips it); alone:
 *   npx tsx bench/cli-latency.ts [--n 30] [--bin-dir node_modules/.bin] [--no-slurm] [--pause-site]
 * starts its own site (bench/local.ts) for the run. `--bin-dir` names other binaries to time,
 * e.g. an older checkout's cli/bin, to compare builds on the same site. `--pause-site` stops the
 * site's tick and queue consumers (its API answers) while the commands run, so the server side
 * counts exactly the commands' own DynamoDB requests, without the ticks' in between.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { type MetaqueueConfig, parseConfig } from "../shared/config/site-config.js";
import { requestCounts, requestMs, resetRequestCounts } from "../shared/adapters/aws-clients.js";
import { median, pct, startBenchStack } from "./local.js";

const run = promisify(execFile);

export interface LatencyRow {
  command: string;
  p50: number;
  p90: number;
  n: number;
  /** the server's side, per command, when the site runs in this process (startBenchStack) */
  server?: string;
}

/**
 * What the site did for the commands since the last reset, per command: the API handler's mean
 * time and the DynamoDB requests with their mean time (the site's own ticks fall in too).
 */
function serverSide(n: number): string {
  const api = (requestCounts["lambda.api.ms"] ?? 0) / Math.max(1, requestCounts["lambda.api.n"] ?? 1);
  const ddb = Object.keys(requestCounts)
    .filter((k) => k.startsWith("dynamodb."))
    .map(
      (k) =>
        `${(requestCounts[k] / n).toFixed(1)} ${k.slice(9)} (${(requestMs[k] / requestCounts[k]).toFixed(1)} ms)`,
    );
  resetRequestCounts();
  return `handler ${api.toFixed(1)} ms; ${ddb.join(", ") || "no DynamoDB request"}`;
}

export interface CliLatencyOptions {
  /** the site's client configuration (servers.json) and the credential to use */
  confPath: string;
  credentialPath: string;
  /** a scratch directory for the job script */
  dir: string;
  /** runs per command */
  n: number;
  /** where qsub, qstat and qdel are (default node_modules/.bin) */
  binDir?: string;
  /** also time Slurm's commands (when slurm-wlm is installed) */
  slurm?: boolean;
}

/** Wall time of one process, spawn to exit, in milliseconds; its stdout. */
async function timed(file: string, args: string[], env: NodeJS.ProcessEnv, cwd: string) {
  const s = performance.now();
  const r = await run(file, args, { cwd, env, maxBuffer: 1 << 24 });
  return { ms: performance.now() - s, stdout: r.stdout };
}

function row(command: string, ms: number[]): LatencyRow {
  return { command, p50: median(ms), p90: pct(ms, 90), n: ms.length };
}

/** Times the metaqueue commands (and `node -e 0`) against the site of `opts.confPath`. */
export async function metaqueueLatency(opts: CliLatencyOptions): Promise<LatencyRow[]> {
  const bin = path.resolve(opts.binDir ?? "node_modules/.bin");
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    METAQUEUE_CONF: opts.confPath,
    METAQUEUE_CREDENTIAL: opts.credentialPath,
  };
  delete env.METAQUEUE_SERVER_URL;
  delete env.METAQUEUE_TOKEN;
  const script = path.join(opts.dir, "cli-latency.pbs");
  fs.writeFileSync(script, "#!/bin/bash\n/bin/true\n");
  const cmd = (name: string, args: string[]) => timed(path.join(bin, name), args, env, opts.dir);
  // warm-up: the page cache, the server's first requests
  const warm = (await cmd("qsub", ["-h", script])).stdout.trim();
  await cmd("qstat", [warm]);
  await cmd("qdel", [warm]);

  const node: number[] = [];
  for (let i = 0; i < opts.n; i++) node.push((await timed(process.execPath, ["-e", "0"], env, opts.dir)).ms);
  const server: string[] = [];
  resetRequestCounts();
  const sub: number[] = [];
  const ids: string[] = [];
  for (let i = 0; i < opts.n; i++) {
    const r = await cmd("qsub", ["-h", script]);
    sub.push(r.ms);
    ids.push(r.stdout.trim());
  }
  server.push(serverSide(opts.n));
  const one: number[] = [];
  for (const id of ids) one.push((await cmd("qstat", [id])).ms);
  server.push(serverSide(opts.n));
  const all: number[] = [];
  for (let i = 0; i < opts.n; i++) {
    const r = await cmd("qstat", []);
    if (!r.stdout.includes(ids[0])) throw new Error(`qstat does not list ${ids[0]}:\n${r.stdout}`);
    all.push(r.ms);
  }
  server.push(serverSide(opts.n));
  const del: number[] = [];
  for (const id of ids) del.push((await cmd("qdel", [id])).ms);
  server.push(serverSide(opts.n));
  const rows = [
    row("qsub -h script", sub),
    row("qstat <id>", one),
    row(`qstat (${opts.n} jobs)`, all),
    row("qdel <id>", del),
  ];
  rows.forEach((r, i) => {
    r.server = server[i];
  });
  return [row("node -e 0", node), ...rows];
}

/**
 * Slurm's counterparts on a single-node Slurm that bench/slurm.sh starts and stops; undefined when
 * slurm-wlm is not installed. Its rows: sbatch -H, squeue -j, squeue, scancel.
 */
export async function slurmLatency(n: number): Promise<LatencyRow[] | string> {
  try {
    await run("which", ["slurmctld"]);
  } catch {
    return "skipped (slurm-wlm is not installed; apt-get install slurm-wlm)";
  }
  const script = fileURLToPath(new URL("slurm.sh", import.meta.url));
  let out: string;
  try {
    out = (await run("bash", [script, "cli", "--n", String(n)], { maxBuffer: 1 << 24 })).stdout;
  } catch (err) {
    return `failed (${(err as Error).message.split("\n")[0]})`;
  }
  // slurm.sh cli prints one line per command: "cli <label> <µs> <µs> ..."
  const rows: LatencyRow[] = [];
  for (const line of out.split("\n")) {
    const m = /^cli (\S+) (.*)$/.exec(line);
    if (!m) continue;
    const ms = m[2]
      .trim()
      .split(/\s+/)
      .map((us) => Number(us) / 1000);
    rows.push(row(m[1].replace(/_/g, " "), ms));
  }
  return rows.length ? rows : `failed (no timings in its output: ${out.slice(-300)})`;
}

/** Prints the table: metaqueue's rows, then Slurm's (or why there are none). */
export async function cliLatency(opts: CliLatencyOptions): Promise<void> {
  console.error(`command latency: ${opts.n} runs per command, one process each`);
  const mq = await metaqueueLatency(opts);
  const slurm = opts.slurm === false ? "skipped (--no-slurm)" : await slurmLatency(opts.n);
  console.log(`\n| command (one process, ${opts.n} runs each) | p50 | p90 |`);
  console.log("|---|---|---|");
  const line = (r: LatencyRow, who: string) =>
    console.log(`| ${who}\`${r.command}\` | ${r.p50.toFixed(0)} ms | ${r.p90.toFixed(0)} ms |`);
  for (const r of mq) line(r, r.command.startsWith("node") ? "" : "metaqueue ");
  // only when the site runs in this process (not for another process's counters)
  if (mq.some((r) => r.server && !r.server.startsWith("handler 0.0 ms; no")))
    for (const r of mq) if (r.server) console.log(`server side of \`${r.command}\`: ${r.server}`);
  if (typeof slurm === "string") console.log(`\nSlurm's commands: ${slurm}`);
  else for (const r of slurm) line(r, "Slurm ");
}

/** Starts a site of `config` (its first), times the commands against it, stops it. */
export async function cliLatencyBench(
  config: MetaqueueConfig,
  opts: Pick<CliLatencyOptions, "n" | "binDir" | "slurm"> & { pauseSite?: boolean },
): Promise<void> {
  const bench = await startBenchStack(config, "cli");
  try {
    // (held jobs need neither: nothing is scheduled, nothing ends)
    if (opts.pauseSite) for (const site of bench.mq.sites) await site.pause();
    await cliLatency({
      ...opts,
      confPath: bench.mq.confPath,
      credentialPath: bench.mq.credentialPath,
      dir: bench.dir,
    });
  } finally {
    await bench.stop();
  }
}

async function standalone(): Promise<void> {
  const args = process.argv.slice(2);
  const val = (name: string) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
  const config = parseConfig({
    sites: [
      {
        name: "bench",
        server: "bench-pbs",
        queues: [{ name: "workq" }],
        nodes: [{ name: "b1", ncpus: 16, mem: "64gb" }],
      },
    ],
  });
  await cliLatencyBench(config, {
    n: Number(val("--n") ?? 30),
    binDir: val("--bin-dir"),
    slurm: !args.includes("--no-slurm"),
    pauseSite: args.includes("--pause-site"),
  });
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  standalone().then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
