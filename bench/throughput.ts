/**
 * tsx bench/throughput.ts [--runs N] [--jobs N] [--plain-groups transactions|singles]
 *
 * Only the throughput part of bench/run.ts (N trivial jobs from 16 HTTP clients, first submit
 * to last obituary), plus where the CPU goes: utime+stime (and, for processes that reap
 * children, the children's cutime+cstime: the MOMs' job shells) of this process (the runtime:
 * API, scheduler, events, sweeper, SQS emulator, the benchmark's own HTTP clients) and of each
 * descendant, from /proc, before and after the burst, as CPU ms per job, with the part spent in
 * the kernel (stime, cstime) beside it. Linux only.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { PlainGroupWrites } from "../shared/adapters/dynamodb/index.js";
import { parseConfig } from "../shared/config/site-config.js";
import {
  countRequests,
  flushFileSystems,
  harnessReads,
  pct,
  startBenchStack,
  waitFinished,
} from "./local.js";

const args = process.argv.slice(2);
const opt = (name: string, dflt: number) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? Number(args[i + 1]) : dflt;
};
const RUNS = opt("runs", 1);
const JOBS = opt("jobs", 500);
// the local runtime's default, or the Lambdas' way on AWS (shared/adapters/dynamodb/jobs.ts)
const PLAIN_GROUPS: PlainGroupWrites = args.includes("--plain-groups")
  ? (args[args.indexOf("--plain-groups") + 1] as PlainGroupWrites)
  : "transactions";
if (PLAIN_GROUPS !== "transactions" && PLAIN_GROUPS !== "singles")
  throw new Error("--plain-groups takes transactions or singles");
const TCK = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

const config = parseConfig({
  sites: [
    {
      name: "bench",
      server: "bench-pbs",
      jobStart: "workdir",
      queues: [{ name: "workq", attributes: { "resources_default.walltime": "00:10:00" } }],
      nodes: [1, 2, 3, 4].map((i) => ({ name: `b${i}`, ncpus: 16, mem: "64gb" })),
    },
  ],
});

interface Proc {
  pid: number;
  ppid: number;
  own: number;
  /** of `own`, time in the kernel (stime): file-system metadata work shows here */
  sys: number;
  children: number;
  childrenSys: number;
  start: number;
}
function readAll(): Map<number, Proc> {
  const all = new Map<number, Proc>();
  for (const name of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const s = fs.readFileSync(`/proc/${name}/stat`, "utf8");
      const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
      all.set(Number(name), {
        pid: Number(name),
        ppid: Number(f[1]),
        own: Number(f[11]) + Number(f[12]),
        sys: Number(f[12]),
        children: Number(f[13]) + Number(f[14]),
        childrenSys: Number(f[14]),
        start: Number(f[19]),
      });
    } catch {
      // gone
    }
  }
  return all;
}
function tree(root: number): Map<number, Proc> {
  const all = readAll();
  const out = new Map<number, Proc>();
  const add = (pid: number) => {
    const p = all.get(pid);
    if (!p || out.has(pid)) return;
    out.set(pid, p);
    for (const c of all.values()) if (c.ppid === pid) add(c.pid);
  };
  add(root);
  return out;
}
function label(pid: number): string {
  if (pid === process.pid) return "runtime (this node process)";
  let line = "";
  try {
    line = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0").join(" ");
  } catch {
    return "?";
  }
  if (/ddb-forwarder/.test(line)) return "dynamodb forwarder (node)";
  if (/DynamoDBLocal/.test(line)) return "dynamodb local (java)";
  if (/^unshare/.test(line)) return "unshare";
  if (/mom/i.test(line)) return "moms (node)";
  return path.basename(line.split(" ")[0] ?? "?");
}

async function oneRun(k: number) {
  const bench = await startBenchStack(config, "tp", { plainGroupWrites: PLAIN_GROUPS });
  try {
    const site = bench.mq.sites[0];
    const waitDone = (ids: string[]) => waitFinished(site, ids, 300_000);
    await waitDone([await bench.submit(site, "/bin/true\n")]);
    flushFileSystems();
    const counting = await countRequests([site]);
    const harness0 = harnessReads.jobs;
    const before = tree(process.pid);
    const t0 = Date.now();
    const ids: string[] = [];
    const queue = Array.from({ length: JOBS }, (_, i) => i);
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (queue.shift() !== undefined) ids.push(await bench.submit(site, "/bin/true\n"));
      }),
    );
    const tSub = Date.now();
    const done = await waitDone(ids);
    const lastEnd = Math.max(...done.map((j) => j.obittime ?? 0));
    await new Promise((r) => setTimeout(r, 500));
    const after = tree(process.pid);
    const { all, sum } = await counting.done();
    const cpu: Record<string, number> = {};
    const sys: Record<string, number> = {};
    let total = 0;
    let totalSys = 0;
    for (const p of after.values()) {
      const b = before.get(p.pid);
      // a process that started during the burst (or reused a pid) counts from zero
      const spent = (k: "own" | "sys" | "children" | "childrenSys") =>
        b && b.start === p.start ? p[k] - b[k] : p[k];
      const [own, ownSys, ch, chSys] = [spent("own"), spent("sys"), spent("children"), spent("childrenSys")];
      const name = label(p.pid);
      cpu[name] = (cpu[name] ?? 0) + own;
      sys[name] = (sys[name] ?? 0) + ownSys;
      const shells = `${name}: reaped children (job shells)`;
      if (ch) {
        cpu[shells] = (cpu[shells] ?? 0) + ch;
        sys[shells] = (sys[shells] ?? 0) + chSys;
      }
      total += own + ch;
      totalSys += ownSys + chSys;
    }
    const perJob = (t: number) => Math.round(((t / TCK) * 1000 * 100) / JOBS) / 100;
    console.log(
      `run ${k + 1} (plain job writes of a group as ${PLAIN_GROUPS}): throughput ${(JOBS / ((lastEnd - t0) / 1000)).toFixed(1)} jobs/s, submit ${(JOBS / ((tSub - t0) / 1000)).toFixed(1)} jobs/s, wall ${((lastEnd - t0) / 1000).toFixed(1)} s`,
    );
    // How long a job holds its slot (claimed until its end is written: the scheduler sees the
    // slot free only then) and waits for one (queued until claimed): with 64 slots, throughput
    // is at most 64 / the slot time.
    const held = done.map((j) => (j.obittime ?? 0) - (j.stime ?? 0));
    const waited = done.map((j) => (j.stime ?? 0) - j.qtime);
    console.log(
      `slot held (start to end written) p50 ${pct(held, 50)} ms, p90 ${pct(held, 90)} ms; queued p50 ${pct(waited, 50)} ms, p90 ${pct(waited, 90)} ms`,
    );
    // The kernel's share (stime) apart: on the 2026-12-04 machine it was a third of the CPU, most
    // of it the MOMs' file creations (why: flushFileSystems, bench/local.ts), and it made their
    // CPU per job vary from 4 to 13 ms between runs.
    console.log("CPU ms per job (of it in the kernel):");
    for (const [n, t] of Object.entries(cpu).sort((a, b) => b[1] - a[1]))
      if (t) console.log(`  ${perJob(t)}\t(${perJob(sys[n] ?? 0)})\t${n}`);
    console.log(`  ${perJob(total)}\t(${perJob(totalSys)})\ttotal`);
    console.log(
      `harness: ${harnessReads.jobs - harness0} job reads while waiting (counted in the requests below)`,
    );
    console.log(`requests per job: ${JSON.stringify(sum)} (÷${JOBS})`);
    console.log(`requests: ${JSON.stringify(all)}`);
  } finally {
    await bench.stop();
  }
}

for (let k = 0; k < RUNS; k++) await oneRun(k);
process.exit(0);
