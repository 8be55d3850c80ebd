/**
 * What a job costs on AWS, measured on the local stack (issue 14, point 2): N realistic jobs (a
 * 2 KB script with a dozen #PBS lines, run by the real MOMs) from submit to obituary, with every
 * process's DynamoDB consumed capacity (ReturnConsumedCapacity INDEXES, METAQUEUE_COST_METER=1),
 * SQS requests and handler invocations with their wall time counted, then priced at list prices
 * (bench/prices.ts) per million jobs.
 *
 * What is not measured but counted from the code: S3 (locally output stays on disk; on ECS the
 * MOM PUTs each distinct output file once, infra/mom/ecs.ts uploadOutputs) and the HTTP API
 * request of each qsub. Lambda duration is the local handlers' wall time: in the burst, on 2
 * cores shared by everything (an upper bound: mostly waiting for a turn), and again with the
 * site running one job at a time (ALONE_JOBS), each handler alone as on its own Lambda instance
 * but with nothing batched. `npm run bench -- --cost-only [--cost-jobs 300]`
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { endpointOptions, LOCAL_CREDENTIALS, summarizeCounts } from "../shared/adapters/aws-clients.js";
import { DynamoSiteStore } from "../shared/adapters/dynamodb/index.js";
import { fargateSize } from "../shared/adapters/executor/ecs.js";
import { parseConfig } from "../shared/config/site-config.js";
import type { JobRecord } from "../shared/server/job.js";
import { jobItem, storedJobItem } from "../shared/adapters/dynamodb/items.js";
import { itemSize } from "../shared/adapters/dynamodb/item-size.js";
import { summarizeCapacity } from "../shared/adapters/capacity-meter.js";
import { summarizeInvocations } from "../infra/local/invocation-meter.js";
import { countRequests, startBenchStack } from "./local.js";
import {
  LAMBDA_MEMORY_MB,
  PRICES,
  PRICES_AS_OF,
  PROVISIONED_UTILIZATION,
  provisionedUnitUsd,
} from "./prices.js";

/** A job script as users write them: ~2 KB, a dozen directives, comments, a few commands. */
export function realisticScript(): string {
  const head = [
    "#!/bin/bash",
    "#PBS -N wrf_postproc_ensemble_member",
    "#PBS -A UCSD0042",
    "#PBS -q workq",
    "#PBS -l select=1:ncpus=1:mem=2gb",
    "#PBS -l walltime=00:10:00",
    "#PBS -j oe",
    "#PBS -m n",
    "#PBS -r y",
    "#PBS -v ENSEMBLE_MEMBER=07,CASE=b.e21.BHISTcmip6.f09_g17",
    "#PBS -l place=free",
    "#PBS -W umask=022",
    "#PBS -p 10",
    "",
  ];
  const body = [
    "# Post-process one ensemble member: regrid, compute monthly means, write a summary.",
    "# The real work is elided; what matters to the batch system is the script's size and shape.",
    "set -euo pipefail",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion in the job script
    'echo "job ${PBS_JOBID:-?} member ${ENSEMBLE_MEMBER:-?} case ${CASE:-?} on $(hostname)"',
    "export OMP_NUM_THREADS=1",
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion in the job script
    "export TMPDIR=${TMPDIR:-/tmp}",
    'WORK="$TMPDIR/pp.$$"',
    'mkdir -p "$WORK"',
    "for var in T U V Q PS PRECT TS CLDTOT FLNT FSNT; do",
    '  echo "regrid $var -> 1deg (member $ENSEMBLE_MEMBER)" >> "$WORK/log"',
    "done",
    'wc -l < "$WORK/log"',
    'rm -rf "$WORK"',
  ];
  let s = `${[...head, ...body].join("\n")}\n`;
  // pad with the kind of comment block real scripts carry (provenance, contacts, history)
  let i = 0;
  while (s.length < 2048 - 80)
    s += `# history ${++i}: adjusted regrid weights and output naming for the cmip6 archive\n`;
  return s;
}

/** The PBS_O_* variables qsub sends (cli/src/commands/qsub.ts), with typical values. */
function qsubEnv(dir: string): Record<string, string> {
  return {
    PBS_O_HOME: "/glade/u/home/jdoe",
    PBS_O_LANG: "en_US.UTF-8",
    PBS_O_LOGNAME: "jdoe",
    PBS_O_MAIL: "/var/spool/mail/jdoe",
    PBS_O_PATH:
      "/glade/u/apps/opt/conda/bin:/glade/u/home/jdoe/bin:/usr/local/bin:/usr/bin:/usr/local/sbin:/usr/sbin:/opt/pbs/bin",
    PBS_O_SHELL: "/bin/bash",
    PBS_O_TZ: "America/Denver",
    PBS_O_SYSTEM: "Linux",
    PBS_O_HOST: "bench",
    PBS_O_WORKDIR: dir,
  };
}

export interface CostResult {
  jobs: number;
  scriptBytes: number;
  rruPerJob: number;
  wruPerJob: number;
  /**
   * Write units as DynamoDB Local reported them. wruPerJob is what AWS bills: the same, with the
   * transactions of several items counted from their actions (capacity-meter.ts: DynamoDB Local
   * reports too little for them). Their index writes stay as reported (a lower bound).
   */
  wruReportedPerJob: number;
  /** actions per job in transactions of several items, and those transactions */
  txActionsPerJob: number;
  txRequestsPerJob: number;
  /** capacity units per job by `R|W.Command.part` */
  unitsByPart: Record<string, number>;
  /** SQS requests per job by `queue.Command` */
  sqsByQueue: Record<string, number>;
  /** table writes per job by key class (ddbkey: capacity-meter.ts keyClass) */
  keysWritten: Record<string, number>;
  ddbRequestsPerJob: number;
  sqsPerJob: number;
  lambda: Record<string, { perJob: number; msPerCall: number; mb: number }>;
  s3PutsPerJob: number;
  /** per handler, run one job at a time: invocations per job, ms per call alone, memory */
  lambdaAlone: Record<string, { perJob: number; msPerCall: number; mb: number }>;
  /** the one-job-at-a-time phase priced whole (its own units, requests and invocations) */
  oneAtATime?: { wruPerJob: number; rruPerJob: number; sqsPerJob: number; controlPlane: number };
  /** dollars per million jobs */
  usd: {
    ddbWrite: number;
    ddbRead: number;
    sqs: number;
    lambda: number;
    httpApi: number;
    controlPlane: number;
    /** Lambda and the control plane with every handler as it ran one job at a time (lambdaAlone) */
    lambdaAlone: number;
    controlPlaneAlone: number;
    /** DynamoDB and controlPlaneAlone with the table provisioned at PROVISIONED_UTILIZATION */
    ddbProvisioned: number;
    controlPlaneProvisioned: number;
    s3Output: number;
    node1min: number;
    node10min: number;
  };
}

/** Jobs run one at a time for the handlers' durations alone (costRun). */
const ALONE_JOBS = 20;

export async function costRun(jobs: number): Promise<CostResult> {
  process.env.METAQUEUE_COST_METER = "1"; // before any client is built (this process and the MOMs)
  const config = parseConfig({
    sites: [
      {
        name: "bench",
        server: "bench-pbs",
        queues: [{ name: "workq", attributes: { "resources_default.walltime": "00:10:00" } }],
        nodes: [1, 2, 3, 4].map((i) => ({ name: `b${i}`, ncpus: 16, mem: "64gb" })),
      },
    ],
  });
  // the Lambdas' store sends a group's plain job writes one by one (a transaction bills its
  // items twice): measure that, not the local runtime's transactions (dynamodb/jobs.ts)
  const bench = await startBenchStack(config, "cost", { plainGroupWrites: "singles" });
  try {
    const site = bench.mq.sites[0];
    const script = realisticScript();
    const env = qsubEnv(bench.dir);
    const submit = () => bench.submit(site, script, {}, env);
    // The bench's own polling must not count as the jobs' cost: it reads through a client of its
    // own, without the counting and metering middleware.
    const raw = new DynamoDBClient({
      region: "us-east-1",
      ...endpointOptions(bench.mq.ddbEndpoint),
      credentials: LOCAL_CREDENTIALS,
    });
    const poll = new DynamoSiteStore(
      DynamoDBDocumentClient.from(raw),
      (site.ctx.store as DynamoSiteStore).table,
    );
    const waitDone = async (ids: string[]): Promise<JobRecord[]> => {
      const end = Date.now() + (ids.length === 1 ? 60_000 : 300_000);
      const pending = new Set(ids.map((id) => id.split(".")[0]));
      while (pending.size && Date.now() < end) {
        for (const [k, j] of await poll.getJobs([...pending])) if (j.state === "F") pending.delete(k);
        if (pending.size) await new Promise((r) => setTimeout(r, 200));
      }
      if (pending.size) {
        const left = await poll.getJobs([...pending].slice(0, 3));
        throw new Error(
          `${pending.size} jobs not finished, e.g. ${[...left.values()].map((j) => `${j.id} ${j.state} ${j.comment ?? ""}`).join("; ")}`,
        );
      }
      return [...(await poll.getJobs(ids.map((id) => id.split(".")[0]))).values()];
    };
    console.error(`cost: stack up; warm-up job`);
    const [warm] = await waitDone([await submit()]);
    console.error(`cost: warm-up ${warm.id} ${warm.state} exit ${warm.exitStatus}; ${jobs} jobs`);
    if (warm.exitStatus !== 0) throw new Error(`the realistic job failed: exit ${warm.exitStatus}`);

    // The bench's own polling reads (waitDone) are not the job's: they go around the counters.
    const counting = await countRequests([site]);
    const ids: string[] = [];
    const queue = Array.from({ length: jobs }, (_, i) => i);
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        while (queue.shift() !== undefined) ids.push(await submit());
      }),
    );
    const done = await waitDone(ids);
    await new Promise((r) => setTimeout(r, 2500)); // trailing cycles and ticks
    const { all } = await counting.done();
    const bad = done.filter((j) => j.exitStatus !== 0);
    if (bad.length) throw new Error(`${bad.length} realistic jobs failed (first: exit ${bad[0].exitStatus})`);
    // One job at a time, outside the counted window: each submitted, then waited for to finish
    // before the next. Above, 8 submitters, the scheduler, the events handler and 4 MOMs share 2
    // cores, so a handler's wall time is mostly waiting for its turn (the API's ~830 ms a call);
    // a Lambda instance has its CPU to itself. Here every handler runs alone, at the price of
    // no batching (every job its own cycles and obituary: the most invocations a job can cost).
    const alone = await countRequests([site]);
    const aloneDone: JobRecord[] = [];
    for (let i = 0; i < ALONE_JOBS; i++) aloneDone.push(...(await waitDone([await submit()])));
    // the sweeper ticks by the clock, not by the job: its share stays the burst's (price)
    const aloneAll = Object.fromEntries(
      Object.entries((await alone.done()).all).filter(([k]) => !k.startsWith("lambda.sweeper.")),
    );
    const trickle = summarizeInvocations(aloneAll);
    const r = price(jobs, script, all, done, trickle);
    // everything as the one-job-at-a-time phase counted it: no batching anywhere (more SQS
    // requests and invocations per job), each handler alone
    const single = price(ALONE_JOBS, script, aloneAll, aloneDone, trickle, false);
    r.oneAtATime = {
      wruPerJob: single.wruPerJob,
      rruPerJob: single.rruPerJob,
      sqsPerJob: single.sqsPerJob,
      controlPlane: single.usd.controlPlane,
    };
    return r;
  } finally {
    await bench.stop();
  }
}

/** Dollars for the SQS requests counted: by queue (`sqsq.<queue>.<Command>`), FIFO or standard. */
function sqsUsd(all: Record<string, number>, total: number): number {
  let usd = 0;
  let byQueue = 0;
  for (const [k, v] of Object.entries(all)) {
    if (!k.startsWith("sqsq.")) continue;
    byQueue += v;
    usd += v * (k.includes(".fifo.") ? PRICES.sqsFifoRequest : PRICES.sqsStandardRequest);
  }
  return usd + Math.max(0, total - byQueue) * PRICES.sqsFifoRequest;
}

/** Per-job figures and their price, from the counters of a run over `jobs` jobs. */
function price(
  jobs: number,
  script: string,
  all: Record<string, number>,
  done: JobRecord[],
  trickle: Record<string, { n: number; ms: number }>,
  log = true,
): CostResult {
  const cap = summarizeCapacity(all);
  // a job item's billed KB as stored (no script: that is its B item; cold fields packed), for
  // the transactions' job updates (the project charges' ADDs are counted at 2 WRU by the meter)
  const jobKb =
    done.reduce((a, j) => a + Math.ceil(itemSize(storedJobItem(j)) / 1024), 0) / Math.max(1, done.length);
  const avg = (f: (j: JobRecord) => number) => done.reduce((a, j) => a + f(j), 0) / Math.max(1, done.length);
  if (log)
    console.error(
      `cost: the job item (A) of a finished job: ${avg((j) => itemSize(storedJobItem(j))).toFixed(0)} B as stored (${avg((j) => itemSize({ ...jobItem(j), script: undefined })).toFixed(0)} B unpacked, of which its environment ${avg((j) => itemSize({ env: j.env })).toFixed(0)} B)`,
    );
  // what the stored job item is made of, largest first: where a lever on its size has to look
  const fields = new Map<string, number>();
  for (const j of done)
    for (const [k, v] of Object.entries(storedJobItem(j)))
      if (v !== undefined) fields.set(k, (fields.get(k) ?? 0) + itemSize({ [k]: v }));
  if (log)
    console.error(
      `cost: job item fields (B, average): ${[...fields]
        .sort((a, b) => b[1] - a[1])
        .map(([k, n]) => `${k} ${(n / Math.max(1, done.length)).toFixed(0)}`)
        .join(", ")}`,
    );
  const txTable =
    (all["ddbtx.put.wru"] ?? 0) + 2 * jobKb * ((all["ddbtx.update"] ?? 0) + (all["ddbtx.delete"] ?? 0));
  const wruBilled = cap.wru - (cap.by["W.TransactWriteItemsN.table"] ?? 0) + txTable;
  const req = summarizeCounts(all);
  const inv = summarizeInvocations(all);
  const lambda: CostResult["lambda"] = {};
  let lambdaUsd = 0;
  const callUsd = (fn: string, n: number, ms: number) =>
    n * PRICES.lambdaRequest +
    (ms / 1000) * ((LAMBDA_MEMORY_MB[fn] ?? 512) / 1024) * PRICES.lambdaArmGbSecond;
  for (const [fn, { n, ms }] of Object.entries(inv)) {
    lambda[fn] = { perJob: n / jobs, msPerCall: n ? ms / n : 0, mb: LAMBDA_MEMORY_MB[fn] ?? 512 };
    lambdaUsd += callUsd(fn, n, ms);
  }
  // one job at a time (costRun): each handler's invocations per job and durations alone; the
  // sweeper's ticks come by the clock, not by the job, so its share is the burst's
  const lambdaAlone: CostResult["lambdaAlone"] = {};
  let lambdaAloneUsd = 0;
  for (const [fn, { n, ms }] of Object.entries(trickle)) {
    if (fn === "sweeper") continue;
    lambdaAlone[fn] = { perJob: n / ALONE_JOBS, msPerCall: n ? ms / n : 0, mb: LAMBDA_MEMORY_MB[fn] ?? 512 };
    lambdaAloneUsd += callUsd(fn, n, ms) / ALONE_JOBS;
  }
  if (inv.sweeper) lambdaAloneUsd += callUsd("sweeper", inv.sweeper.n, inv.sweeper.ms) / jobs;
  // HTTP API requests: each API invocation is one (the submits; the bench reads around the API)
  const httpApi = (inv.api?.n ?? 0) / jobs;
  // S3 on ECS: the MOM PUTs each distinct output file once at the end (stderr joined into stdout
  // with -j oe); the snapshots of a running job's output (infra/mom/output-upload.ts) start after
  // MOM_OUTPUT_SYNC_MS (60 s), which these jobs never reach: at most 60 per stream per hour beyond
  const s3 =
    done.reduce((a, j) => a + (j.join === "oe" ? 1 : new Set([j.outPath, j.errPath]).size), 0) / jobs;
  const size = fargateSize(done[0].sel[0]?.ncpus ?? 1, done[0].sel[0]?.mem ?? 0);
  const nodeHour =
    (size.cpu / 1024) * PRICES.fargateArmVcpuHour + (size.memory / 1024) * PRICES.fargateArmGbHour;
  const M = 1e6;
  const usd = {
    ddbWrite: (wruBilled / jobs) * PRICES.ddbWru * M,
    ddbRead: (cap.rru / jobs) * PRICES.ddbRru * M,
    // each queue at its own price: FIFO (the sched queue, `.fifo`) or standard (events, inbox);
    // requests the meter saw without a queue (none expected) at the FIFO price, an upper bound
    sqs: (sqsUsd(all, req.sqs) / jobs) * M,
    lambda: (lambdaUsd / jobs) * M,
    httpApi: httpApi * PRICES.httpApiRequest * M,
    controlPlane: 0,
    lambdaAlone: 0,
    controlPlaneAlone: 0,
    // the same units (a transaction's are doubled in both modes), at the hourly unit's price
    // spread over what a steady site uses of it
    ddbProvisioned:
      (wruBilled / jobs) * provisionedUnitUsd("write") * M +
      (cap.rru / jobs) * provisionedUnitUsd("read") * M,
    controlPlaneProvisioned: 0,
    s3Output: s3 * PRICES.s3Put * M,
    // Fargate bills per second with a one-minute minimum
    node1min: (nodeHour / 60) * M,
    node10min: (nodeHour / 6) * M,
  };
  usd.controlPlane = usd.ddbWrite + usd.ddbRead + usd.sqs + usd.lambda + usd.httpApi;
  usd.lambdaAlone = lambdaAloneUsd * M;
  usd.controlPlaneAlone = usd.controlPlane - usd.lambda + usd.lambdaAlone;
  usd.controlPlaneProvisioned = usd.controlPlaneAlone - usd.ddbWrite - usd.ddbRead + usd.ddbProvisioned;
  const unitsByPart: Record<string, number> = {};
  for (const [k, v] of Object.entries(cap.by)) unitsByPart[k] = v / jobs;
  const sqsByQueue: Record<string, number> = {};
  const keysWritten: Record<string, number> = {};
  for (const [k, v] of Object.entries(all)) {
    if (k.startsWith("sqsq.")) sqsByQueue[k.slice("sqsq.".length)] = v / jobs;
    if (k.startsWith("ddbkey.")) keysWritten[k.slice("ddbkey.".length)] = v / jobs;
  }
  return {
    jobs,
    scriptBytes: Buffer.byteLength(script),
    rruPerJob: cap.rru / jobs,
    wruPerJob: wruBilled / jobs,
    wruReportedPerJob: cap.wru / jobs,
    txActionsPerJob: (all["ddbtx.actions"] ?? 0) / jobs,
    txRequestsPerJob: (all["ddbtx.requests"] ?? 0) / jobs,
    unitsByPart,
    sqsByQueue,
    keysWritten,
    ddbRequestsPerJob: (req.ddbRead + req.ddbWrite) / jobs,
    sqsPerJob: req.sqs / jobs,
    lambda,
    s3PutsPerJob: s3,
    lambdaAlone,
    usd,
  };
}

const f2 = (n: number) => n.toFixed(2);

export function printCost(r: CostResult): void {
  const lam = Object.entries(r.lambda)
    .map(([fn, l]) => `${fn} ${f2(l.perJob)} × ${l.msPerCall.toFixed(0)} ms @ ${l.mb} MB`)
    .join(", ");
  const parts = (kind: "R" | "W") => {
    const by: Record<string, number> = {};
    for (const [k, v] of Object.entries(r.unitsByPart)) {
      if (!k.startsWith(`${kind}.`)) continue;
      const part = k.split(".")[2];
      by[part] = (by[part] ?? 0) + v;
    }
    return Object.entries(by)
      .sort((a, b) => b[1] - a[1])
      .map(([p, v]) => `${p} ${f2(v)}`)
      .join(", ");
  };
  console.log(
    `\n| cost per job: ${r.jobs} realistic jobs (${r.scriptBytes} B script, 12 #PBS lines), ${PRICES_AS_OF} | per job | $ per million jobs |`,
  );
  console.log("|---|---|---|");
  console.log(
    `| DynamoDB write units (${parts("W")}; billed: transactions of several items counted from their ${f2(r.txActionsPerJob)} actions in ${f2(r.txRequestsPerJob)} requests, DynamoDB Local reported ${f2(r.wruReportedPerJob)} WRU in all) | ${f2(r.wruPerJob)} WRU | ${f2(r.usd.ddbWrite)} |`,
  );
  console.log(`| DynamoDB read units (${parts("R")}) | ${f2(r.rruPerJob)} RRU | ${f2(r.usd.ddbRead)} |`);
  console.log(`| DynamoDB requests | ${f2(r.ddbRequestsPerJob)} | (in the units) |`);
  console.log(
    `| SQS requests (sched FIFO $0.50, events and inbox standard $0.40 per million) | ${f2(r.sqsPerJob)} | ${f2(r.usd.sqs)} |`,
  );
  console.log(
    `| Lambda invocations (${lam}) | ${f2(Object.values(r.lambda).reduce((a, l) => a + l.perJob, 0))} | ${f2(r.usd.lambda)} |`,
  );
  console.log(
    `| HTTP API requests (qsub) | ${f2(r.usd.httpApi / (PRICES.httpApiRequest * 1e6))} | ${f2(r.usd.httpApi)} |`,
  );
  console.log(`| control plane per million jobs | | ${f2(r.usd.controlPlane)} (target ≤ 10) |`);
  console.log(
    `| … with Lambda as measured one job at a time, each call alone (${Object.entries(r.lambdaAlone)
      .map(([fn, l]) => `${fn} ${f2(l.perJob)} × ${l.msPerCall.toFixed(0)} ms`)
      .join(", ")}; sweeper as above; Lambda ${f2(r.usd.lambdaAlone)}) | | ${f2(r.usd.controlPlaneAlone)} |`,
  );
  const breakEven = (100 * provisionedUnitUsd("write", 1)) / PRICES.ddbWru;
  console.log(
    `| … and the table provisioned (context tableCapacity), its capacity used at ${100 * PROVISIONED_UTILIZATION} % on average — a steady site; provisioned costs less per write than on demand above ${breakEven.toFixed(0)} % (DynamoDB ${f2(r.usd.ddbProvisioned)} instead of ${f2(r.usd.ddbWrite + r.usd.ddbRead)}) | | ${f2(r.usd.controlPlaneProvisioned)} |`,
  );
  if (r.oneAtATime)
    console.log(
      `| … everything as measured one job at a time (${ALONE_JOBS} jobs, nothing batched: ${f2(r.oneAtATime.wruPerJob)} WRU, ${f2(r.oneAtATime.rruPerJob)} RRU, ${f2(r.oneAtATime.sqsPerJob)} SQS requests — the pollers' empty receives between jobs included — and the invocations above per job) | | ${f2(r.oneAtATime.controlPlane)} |`,
    );
  console.log(
    `| job output to S3 (ECS MOM PUTs at the end, counted from the code, not measured; a job running past 60 s adds at most 60 snapshot PUTs per stream per hour) | ${f2(r.s3PutsPerJob)} PUT | ${f2(r.usd.s3Output)} |`,
  );
  console.log(`| node time, 1-minute job (Fargate Arm, the job's size) | | ${r.usd.node1min.toFixed(0)} |`);
  console.log(`| node time, 10-minute job | | ${r.usd.node10min.toFixed(0)} |`);
  console.error(
    `SQS requests per job by queue and command: ${Object.entries(r.sqsByQueue)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${f2(v)}`)
      .join(", ")}`,
  );
  console.error(
    `table writes per job by key (ddbkey, capacity-meter.ts keyClass): ${Object.entries(r.keysWritten)
      .sort((a, b) => b[1] - a[1])
      .map(([k, v]) => `${k} ${f2(v)}`)
      .join(", ")}`,
  );
  console.error(
    `capacity units per job by command and part: ${JSON.stringify(r.unitsByPart, (_, v) => (typeof v === "number" ? Math.round(v * 100) / 100 : v))}`,
  );
}
