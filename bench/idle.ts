/**
 * `npm run bench -- --idle [--runs N] [--idle-warmup S] [--idle-window S]`, or on its own:
 * `tsx bench/idle.ts [same flags]`.
 *
 * Issue 14 point 5, "idle is idle": starts `npm start`'s runtime (infra/local/main.ts, the default
 * metaqueue.config.json, a throw-away data dir) as its own process group with no jobs, lets it
 * settle (`--idle-warmup`, default 30 s after "metaqueue is up"), then reads utime+stime from
 * /proc/<pid>/stat of the runtime and of everything it spawned (MOMs, DynamoDB Local's forwarder
 * and JVM) at the start and end of a window (`--idle-window`, default 60 s), and prints the %
 * of one core each used, per process and in total: the median over the runs.
 *
 * Linux only (/proc). Other load on the machine does not inflate the numbers (they are the
 * processes' own CPU time), but it can slow the runtime's start.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface IdleOptions {
  /** after "metaqueue is up", before the window opens */
  warmupMs: number;
  windowMs: number;
  /** the runtime's config file (default: the repo's metaqueue.config.json) */
  configPath?: string;
  /** extra environment for the runtime (METAQUEUE_TICK_MS, METAQUEUE_SETTINGS) */
  env?: Record<string, string>;
}

export interface IdleResult {
  /** % of one core by process label (`runtime`, `mom casper-n01`, `dynamodb-local (java)`, ...) */
  perProcess: Record<string, number>;
  total: number;
  /** CPU seconds the runtime's processes had used when it said "metaqueue is up" */
  startupCpuS: Record<string, number>;
}

const CLK_TCK = (() => {
  try {
    return Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;
  } catch {
    return 100;
  }
})();

interface ProcInfo {
  pid: number;
  ppid: number;
  /** utime + stime, in clock ticks */
  ticks: number;
  /** start time since boot, in clock ticks: tells a reused pid from the process sampled before */
  start: number;
}

function readProc(pid: number): ProcInfo | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
    // the command name (field 2) is in parentheses and may hold spaces: parse after its last ')'
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    // f[0] is field 3 (state): ppid is field 4, utime 14, stime 15, starttime 22
    return { pid, ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]), start: Number(f[19]) };
  } catch {
    return null;
  }
}

/** `root` and its descendants, by walking every process's parent */
function tree(root: number): Map<number, ProcInfo> {
  const all = new Map<number, ProcInfo>();
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const p = readProc(Number(name));
    if (p) all.set(p.pid, p);
  }
  const out = new Map<number, ProcInfo>();
  const add = (pid: number) => {
    const p = all.get(pid);
    if (!p || out.has(pid)) return;
    out.set(pid, p);
    for (const c of all.values()) if (c.ppid === pid) add(c.pid);
  };
  add(root);
  return out;
}

/** A readable name for a process of the runtime's tree. */
function label(pid: number, root: number): string {
  let argv: string[] = [];
  try {
    argv = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").filter(Boolean);
  } catch {
    return `pid ${pid}`;
  }
  const line = argv.join(" ");
  if (pid === root) return "runtime (node, infra/local/main.ts)";
  // the forwarder's argument (JSON) names the jar too
  if (/ddb-forwarder/.test(line)) return "dynamodb-local forwarder (node)";
  if (/DynamoDBLocal\.jar/.test(line)) return "dynamodb-local (java)";
  if (path.basename(argv[0] ?? "") === "unshare") return "unshare";
  const mom = line.match(/MOM_NODE=(\S+)/) ?? momNode(pid);
  if (mom) return `mom ${mom[1]}`;
  return `${path.basename(argv[0] ?? "?")} ${argv.slice(1, 3).join(" ")}`.trim();
}

function momNode(pid: number): RegExpMatchArray | null {
  try {
    const env = fs.readFileSync(`/proc/${pid}/environ`, "utf8");
    return env.match(/(?:^|\0)MOM_NODE=([^\0]+)/);
  } catch {
    return null;
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One idle measurement of a fresh runtime. */
export async function idleRun(opts: IdleOptions): Promise<IdleResult> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-bench-idle-"));
  const log = path.join(dir, "runtime.log");
  const out = fs.openSync(log, "a");
  const proc: ChildProcess = spawn(process.execPath, ["--import", "tsx", "infra/local/main.ts"], {
    env: {
      ...process.env,
      METAQUEUE_CONFIG: opts.configPath ?? path.resolve("metaqueue.config.json"),
      METAQUEUE_DATA: path.join(dir, "data"),
      METAQUEUE_CONF: path.join(dir, "servers.json"),
      METAQUEUE_CREDENTIAL: path.join(dir, "credential"),
      ...opts.env,
    },
    // its own process group: the stop below reaches the JVM and the MOMs too
    detached: true,
    stdio: ["ignore", out, out],
  });
  const root = proc.pid as number;
  const killGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-root, sig);
    } catch {
      // gone
    }
  };
  try {
    const upBy = Date.now() + 180_000;
    while (!fs.readFileSync(log, "utf8").includes("metaqueue is up")) {
      if (proc.exitCode !== null)
        throw new Error(`runtime exited: ${fs.readFileSync(log, "utf8").slice(-2000)}`);
      if (Date.now() > upBy)
        throw new Error(`runtime did not come up: ${fs.readFileSync(log, "utf8").slice(-2000)}`);
      await sleep(250);
    }
    const startupCpuS: Record<string, number> = {};
    for (const p of tree(root).values()) {
      const name = label(p.pid, root).startsWith("mom ") ? "moms" : label(p.pid, root);
      startupCpuS[name] = (startupCpuS[name] ?? 0) + p.ticks / CLK_TCK;
    }
    await sleep(opts.warmupMs);
    const before = tree(root);
    const t0 = process.hrtime.bigint();
    await sleep(opts.windowMs);
    const after = tree(root);
    const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
    const perProcess: Record<string, number> = {};
    let total = 0;
    for (const p of after.values()) {
      const b = before.get(p.pid);
      // a process started within the window: all of its CPU time is the window's
      const used = b && b.start === p.start ? p.ticks - b.ticks : p.ticks;
      const pctCore = (100 * used) / CLK_TCK / seconds;
      const name = label(p.pid, root);
      perProcess[name] = (perProcess[name] ?? 0) + pctCore;
      total += pctCore;
    }
    // what ended within the window is not in `after`: count what it used up to `before`'s look
    // as 0 (unknown), and say so
    const gone = [...before.keys()].filter((pid) => !after.has(pid)).length;
    if (gone > 0) perProcess[`(${gone} process(es) ended within the window, not counted)`] = 0;
    return { perProcess, total, startupCpuS };
  } finally {
    killGroup("SIGINT");
    const by = Date.now() + 15_000;
    while (proc.exitCode === null && proc.signalCode === null && Date.now() < by) await sleep(100);
    killGroup("SIGKILL");
    fs.closeSync(out);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.floor(s.length / 2)] : Number.NaN;
};

/** Runs `runs` idle measurements and prints the medians as a table. */
export async function idleBench(args: string[]): Promise<void> {
  const num = (name: string, dflt: number) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? Number(args[i + 1]) : dflt;
  };
  const runs = num("runs", 3);
  const warmupMs = num("idle-warmup", 30) * 1000;
  const windowMs = num("idle-window", 60) * 1000;
  console.error(
    `metaqueue idle bench: ${runs} run(s), ${warmupMs / 1000} s settle + ${windowMs / 1000} s window, ${os.cpus().length} CPU(s), node ${process.version}`,
  );
  const results: IdleResult[] = [];
  for (let k = 0; k < runs; k++) {
    const r = await idleRun({ warmupMs, windowMs });
    console.error(`  run ${k + 1}: ${r.total.toFixed(2)} % of one core`);
    results.push(r);
  }
  const names = [...new Set(results.flatMap((r) => Object.keys(r.perProcess)))].sort();
  console.log(`\n| idle \`npm start\` process (median of ${runs} runs) | % of one core |`);
  console.log("|---|---|");
  for (const n of names)
    console.log(`| ${n} | ${median(results.map((r) => r.perProcess[n] ?? 0)).toFixed(2)} |`);
  console.log(`| **total** | **${median(results.map((r) => r.total)).toFixed(2)}** (target < 2) |`);
  const started = [...new Set(results.flatMap((r) => Object.keys(r.startupCpuS)))].sort();
  console.log(`\n| CPU used by start-up, until "metaqueue is up" (median) | CPU s |`);
  console.log("|---|---|");
  for (const n of started)
    console.log(`| ${n} | ${median(results.map((r) => r.startupCpuS[n] ?? 0)).toFixed(2)} |`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  idleBench(process.argv.slice(2)).then(
    () => process.exit(0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
