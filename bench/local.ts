/**
 * What the benchmarks share: a local metaqueue in this process on a throw-away data dir, job
 * submission over its HTTP API, request counting across every process, percentiles.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import type { MetaqueueConfig } from "../shared/config/site-config.js";
import type { JobRecord } from "../shared/server/job.js";
import { requestCounts, resetRequestCounts, summarizeCounts } from "../shared/adapters/aws-clients.js";
import {
  type LocalMetaqueue,
  type LocalOptions,
  type LocalSite,
  startLocal,
} from "../infra/local/runtime.js";

export const pct = (xs: number[], p: number) => {
  if (!xs.length) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
export const median = (xs: number[]) => pct(xs, 50);

/**
 * Write back the page cache's dirty data before a measured burst (both sides: bench/slurm.sh does
 * the same), so that a burst starts from clean inode-table blocks. On an ext4 without a journal
 * (this machine's, a Firecracker VM), the inode allocator skips every inode deleted in the last
 * 5 s, or 5 min if its inode-table block is dirty when it looks, reading that block for each
 * (fs/ext4/ialloc.c recently_deleted): a file created right after a run that removed thousands
 * of files cost up to 0.9 ms of system CPU, against 0.02 once past them (2026-12-04). This does
 * not make runs independent: the burst dirties those blocks again with its own files, and from
 * then on pays for whatever the runs of the last 5 minutes deleted (four runs in a row: 7.5 to
 * 13.9 ms of kernel CPU a job; docs/benchmark-history.md, "midnight").
 */
export function flushFileSystems(): void {
  try {
    execFileSync("sync");
  } catch {
    // no sync(1): the run pays for what is pending, as before
  }
}

export interface BenchStack {
  mq: LocalMetaqueue;
  dir: string;
  /** POST /v1/jobs at `site` as the runtime's user (with `env` as qsub's PBS_O_*); the full job ID */
  submit(
    site: LocalSite,
    script: string,
    options?: Record<string, unknown>,
    env?: Record<string, string>,
  ): Promise<string>;
  /** stop everything and remove the data */
  stop(): Promise<void>;
}

export async function startBenchStack(
  config: MetaqueueConfig,
  tag: string,
  more: Pick<LocalOptions, "plainGroupWrites"> = {},
): Promise<BenchStack> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mq-bench-${tag}-`));
  const mq = await startLocal({
    config,
    dataDir: path.join(dir, "data"),
    confPath: path.join(dir, "servers.json"),
    credentialPath: path.join(dir, "credential"),
    tickMs: 2000,
    log: () => {},
    ...more,
  });
  const token = fs.readFileSync(mq.credentialPath, "utf8").trim();
  // node:http on kept-alive connections, not fetch: the submitters share the site's two cores,
  // and undici's fetch (web streams, a body mixin per response) cost the runtime process ~0.6 ms
  // of CPU a job in the 500-job burst (node --cpu-prof), as much as a fifth of a submit's server side
  const agent = new http.Agent({ keepAlive: true, maxSockets: 16 });
  const submit: BenchStack["submit"] = (site, script, options = {}, env = {}) =>
    new Promise<string>((resolve, reject) => {
      const body = JSON.stringify({ script, options, submitDir: dir, env, submitHost: "bench" });
      const req = http.request(
        `${site.url}/v1/jobs`,
        {
          method: "POST",
          agent,
          headers: {
            "content-type": "application/json",
            "content-length": Buffer.byteLength(body),
            authorization: `Bearer ${token}`,
          },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("error", reject);
          res.on("end", () => {
            const text = Buffer.concat(chunks).toString("utf8");
            const j = JSON.parse(text) as { jobId?: string };
            if ((res.statusCode ?? 500) >= 400 || !j.jobId) reject(new Error(text));
            else resolve(j.jobId);
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  return {
    mq,
    dir,
    submit,
    stop: async () => {
      agent.destroy();
      await mq.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Count requests from now on, in this process (SDK middleware) and in every MOM of `sites`
 * (they count their own); `done()` returns the per-kind totals and their summary.
 */
export async function countRequests(sites: LocalSite[]) {
  const moms = async () => {
    const out: Record<string, number> = {};
    for (const s of sites)
      for (const [k, v] of Object.entries(await s.executor.counts())) out[k] = (out[k] ?? 0) + v;
    return out;
  };
  const before = await moms();
  resetRequestCounts();
  return {
    done: async () => {
      const all: Record<string, number> = { ...requestCounts };
      for (const [k, v] of Object.entries(await moms())) all[k] = (all[k] ?? 0) + v - (before[k] ?? 0);
      return { all, sum: summarizeCounts(all) };
    },
  };
}

/**
 * Wait until every job of `ids` (full IDs) at `site` is finished; their records. A large set is
 * read every 0.5 s, a small one every 0.1 s: each look reads every pending job's record (its
 * job item; not its script, since 2026-12-03), and at 0.1 s the harness itself was one of the biggest readers of DynamoDB Local
 * during the 500-job burst, on the 2 cores it shares with what it measures. Measured times come
 * from the records (obittime, stime), never from when this notices, so how often it looks moves
 * only the CPU it takes from the system under test.
 */
/** jobs read by waitFinished so far (each its job item, without the script item) */
export const harnessReads = { jobs: 0 };

export async function waitFinished(site: LocalSite, ids: string[], timeoutMs: number): Promise<JobRecord[]> {
  const { store } = site.ctx;
  const keyOf = (id: string) => id.split(".")[0];
  const end = Date.now() + timeoutMs;
  const pending = new Set(ids.map(keyOf));
  while (pending.size && Date.now() < end) {
    harnessReads.jobs += pending.size;
    // the job items alone: the harness wants their state, and a script read would make
    // DynamoDB Local (on the cores the site runs on) serve a second item per job per poll
    const got = await store.getJobs([...pending], { script: false });
    for (const [key, j] of got) if (j.state === "F") pending.delete(key);
    if (pending.size) await new Promise((r) => setTimeout(r, pending.size > 20 ? 500 : 100));
  }
  if (pending.size) throw new Error(`${pending.size} jobs not finished`);
  return [...(await store.getJobs(ids.map(keyOf))).values()];
}
