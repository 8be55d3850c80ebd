/**
 * Peer transfers, measured on two local sites: casper (one CPU, kept full by a long job) and
 * derecho (64 cores) pulling casper's overflow with the default settings.
 *   - transfer latency: a job submitted at the full origin until it runs at the peer, p50/p99
 *   - a burst of N queued jobs: moved per second (first submit to the last M record), and
 *     messages and DynamoDB requests per moved job (every process, SDK middleware counts)
 */
import { parseConfig } from "../shared/config/site-config.js";
import type { JobRecord } from "../shared/server/job.js";
import { keyOfId } from "../shared/server/mutate.js";
import type { LocalSite } from "../infra/local/runtime.js";
import { countRequests, pct, startBenchStack } from "./local.js";

export interface TransferResult {
  latencyP50: number;
  latencyP99: number;
  movedPerSec: number;
  burstDoneSec: number;
  sqsPerJob: number;
  ddbWritesPerJob: number;
  ddbReadsPerJob: number;
}

const config = parseConfig({
  sites: [
    {
      name: "casper",
      server: "casper-pbs",
      queues: [{ name: "casper", attributes: { "resources_default.walltime": "00:10:00" } }],
      nodes: [{ name: "c1", ncpus: 1, mem: "4gb" }],
    },
    {
      name: "derecho",
      server: "desched1",
      queues: [{ name: "main", attributes: { "resources_default.walltime": "00:10:00" } }],
      nodes: [1, 2, 3, 4].map((i) => ({ name: `d${i}`, ncpus: 16, mem: "64gb" })),
      federation: { pull: [{ queue: "main", from: "casper@casper-pbs" }] },
    },
  ],
});

/** `singles` jobs one at a time for the latency, then a burst of `jobs` */
export async function transferRun(jobs: number, singles: number): Promise<TransferResult> {
  const bench = await startBenchStack(config, "xfer");
  const { mq } = bench;
  try {
    const [casper, derecho] = mq.sites;
    const submit = async (site: LocalSite, script: string) =>
      (await bench.submit(site, script)).split(".")[0];
    const until = async <T>(f: () => Promise<T | undefined>, ms: number): Promise<T> => {
      const end = Date.now() + ms;
      for (;;) {
        const v = await f();
        if (v !== undefined) return v;
        if (Date.now() > end) throw new Error("bench: timed out");
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    // keep the origin full for the whole run
    const filler = await submit(casper, "sleep 3600\n");
    await until(
      async () => ((await casper.ctx.store.getJob(filler))?.state === "R" ? true : undefined),
      30_000,
    );

    // 1. latency, one job at a time on an idle peer
    const lat: number[] = [];
    for (let i = 0; i < singles; i++) {
      const key = await submit(casper, "/bin/true\n");
      const origin = await until(async () => {
        const j = await casper.ctx.store.getJob(key);
        return j?.state === "M" && j.movedTo ? j : undefined;
      }, 60_000);
      const there = await until(async () => {
        // a moved job keeps its ID (2.casper); the peer keys its copy by it (2@casper, keyOfId)
        const j = await derecho.ctx.store.getJob(keyOfId(origin.movedTo as string, derecho.config.name));
        return j?.stime ? j : undefined;
      }, 60_000);
      lat.push((there.stime as number) - origin.ctime);
      await until(async () => ((await casper.ctx.store.getJob(key))?.obittime ? true : undefined), 60_000);
    }

    // 2. a burst of queued jobs at the full origin
    const counting = await countRequests([casper, derecho]);
    const t0 = Date.now();
    const keys: string[] = [];
    const todo = Array.from({ length: jobs }, (_, i) => i);
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        while (todo.shift() !== undefined) keys.push(await submit(casper, "/bin/true\n"));
      }),
    );
    let lastMoved = 0;
    await until(async () => {
      const got = await casper.ctx.store.getJobs(keys);
      const moved = [...got.values()].filter((j: JobRecord) => j.state === "M");
      if (moved.length < keys.length) return undefined;
      lastMoved = Math.max(...moved.map((j) => j.mtime));
      return true;
    }, 600_000);
    // every end reported back to the origin: the whole exchange is in the counts
    await until(async () => {
      const got = await casper.ctx.store.getJobs(keys);
      return [...got.values()].every((j) => j.obittime !== undefined) ? true : undefined;
    }, 600_000);
    const tDone = Date.now();
    await new Promise((r) => setTimeout(r, 1000)); // trailing acks
    const { all, sum } = await counting.done();
    console.error(`transfer burst requests (all processes): ${JSON.stringify(all)}`);
    // the filler stays: deleting it is not part of the measurement
    return {
      latencyP50: pct(lat, 50),
      latencyP99: pct(lat, 99),
      movedPerSec: jobs / ((lastMoved - t0) / 1000),
      burstDoneSec: (tDone - t0) / 1000,
      sqsPerJob: sum.sqs / jobs,
      ddbWritesPerJob: sum.ddbWrite / jobs,
      ddbReadsPerJob: sum.ddbRead / jobs,
    };
  } finally {
    await bench.stop();
  }
}
