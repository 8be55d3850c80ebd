/**
 * The executor port on AWS: one ECS task per job run (Fargate by default).
 *
 * - dispatch = RunTask of the site's MOM task definition. The whole JobRunSpec travels in the
 *   container override environment (`JOB_SPEC`, or `JOB_SPEC_GZ` = base64 gzip when the plain
 *   JSON does not fit): ECS allows 8192 characters for ALL overrides, JSON punctuation included,
 *   so a job whose spec does not fit even compressed is refused with a clear error (loading the
 *   spec from DynamoDB in the task would lift the limit; not needed for scripts of a few KiB).
 * - the task size comes from the job's request, rounded UP to the smallest valid Fargate size;
 *   a job with GPUs or more than 16 vCPU / 120 GiB goes to the first EC2 pool (an Auto Scaling
 *   group behind an ECS capacity provider, scaled from zero by ECS) whose instance type holds it,
 *   and is refused when none does.
 * - `clientToken` is a hash of `jobId:runCount`, so a retried RunTask (the SDK's or a
 *   redelivered scheduler message) starts the run once; `startedBy` names the job, so `kill`
 *   finds the task with ListTasks without the executor writing anything to the job.
 * - RunTask answers HTTP 200 with `failures[]` when it cannot place the task: that is a throw.
 *   Failures are sorted by what the scheduler should do (the port's DispatchError.retry):
 *   capacity (`RESOURCE:*`, `AGENT`, "Capacity is unavailable"), throttling and the service's
 *   own errors back off (`later`); a request ECS refuses as invalid (InvalidParameterException,
 *   ClientException, AccessDenied, a missing or inactive task definition) or a job Fargate cannot
 *   size holds the job with the reason (`never`): retrying it would fail the same way forever.
 * - RunTask calls are paced in this process (a token bucket under the Fargate task-launch rate,
 *   20 a second with bursts of 100 per region, shared by the scheduler's reserved instances):
 *   a call over the pace is refused as `later` without being made.
 */
import { createHash } from "node:crypto";
import { gzipSync } from "node:zlib";
import {
  type AssignPublicIp,
  type CapacityProviderStrategyItem,
  DescribeTasksCommand,
  type ECSClient,
  type KeyValuePair,
  ListTasksCommand,
  RunTaskCommand,
  type RunTaskCommandInput,
  type RunTaskCommandOutput,
  StopTaskCommand,
  type TaskOverride,
} from "@aws-sdk/client-ecs";
import { momKey } from "../../auth/mom-report.js";
import { specWithoutSiteSecrets } from "../../exec/job-secrets.js";
import { RejectedError } from "../../errors.js";
import { FARGATE_SIZES } from "../../config/node-pools.js";
import {
  DispatchError,
  type Executor,
  type JobRunSpec,
  type KillReason,
  type OutputGranter,
} from "../../ports/index.js";
import { outputNames } from "../s3/output-grant.js";

/** ECS: "A total of 8192 characters are allowed for overrides", JSON formatting included. */
export const ECS_OVERRIDES_LIMIT = 8192;
/** ECS: startedBy is up to 36 letters, digits, `-`, `/` and `_`. */
export const STARTED_BY_MAX = 36;

export interface EcsExecutorConfig {
  /** cluster name or ARN */
  cluster: string;
  /** task definition family, family:revision or ARN */
  taskDefinition: string;
  /** the MOM container's name in the task definition */
  containerName: string;
  subnets: string[];
  securityGroups: string[];
  /** public subnets without NAT need a public IP to reach ECR, DynamoDB, SQS and S3 */
  assignPublicIp: boolean;
  /** e.g. FARGATE_SPOT; default: launchType FARGATE */
  capacityProviderStrategy?: CapacityProviderStrategyItem[];
  /** the site's MOM secret: each task gets MOM_KEY = HMAC(secret, momId) to sign its reports */
  momSecret?: string;
  /** EC2 pools for what Fargate cannot run (GPUs, large nodes), tried in order */
  ec2Pools?: Ec2Pool[];
  /** RunTask pacing in this process; default RUN_TASK_RATE a second, RUN_TASK_BURST at once */
  pacer?: RatePacer;
  /** the site's ECS node pools (issue 12): long-lived node MOMs, powered on and off */
  nodes?: EcsNodeMoms;
  /**
   * mints each run's output grant (issue 12 point 2: presigned PUT URLs for its output keys,
   * shared/adapters/s3/output-grant.ts), which its dispatch carries; absent: runs get none and
   * their output stays in the task (the MOMs' roles have no S3 right)
   */
  outputGrants?: OutputGranter;
}

/**
 * The site's node pools as this executor drives them: long-lived node MOMs (ecs-nodes.ts
 * EcsNodes), declared here so the two modules do not import each other.
 */
export interface EcsNodeMoms {
  /** whether `node` is a pool node (its runs go to its MOM, not to a task of their own) */
  hasNode(node: string): boolean;
  /** whether `momId` names a pool node's MOM */
  isNodeMom(momId: string): boolean;
  momIdFor(node: string, poweredOnAt?: number): string;
  dispatch(spec: JobRunSpec): Promise<void>;
  kill(job: { jobId: string; momId: string; runCount: number }, reason: KillReason): Promise<void>;
  signal(job: { jobId: string; momId: string; runCount: number }, signal: NodeJS.Signals): Promise<void>;
  powerOn(node: string, at: number | undefined, pacer: RatePacer): Promise<void>;
  powerOff(node: string): Promise<void>;
  /** Stop the task of node MOM `momId` (lost), whatever it runs; nothing when it is gone. */
  stopMom(momId: string, reason: string): Promise<void>;
}

/**
 * An EC2 node pool (infra/aws/constructs/mom.ts): one instance type in an Auto Scaling group
 * (from zero) behind an ECS capacity provider, with its own task definition (bridge network:
 * EC2 awsvpc tasks get no public IP, and the site has no NAT; the instance's public IP serves).
 */
export interface Ec2Pool {
  name: string;
  capacityProvider: string;
  taskDefinition: string;
  /** what one instance offers a task: vCPUs, MiB (after the ECS agent's reserve), GPUs */
  vcpus: number;
  memoryMiB: number;
  gpus: number;
}

/**
 * What the executor reads from a run spec. `mem` (bytes) and `ngpus` are optional until the
 * server's run spec carries them: without `mem` the task gets the smallest memory valid for
 * its vCPU size.
 */
export type EcsJobRunSpec = JobRunSpec & { mem?: number; ngpus?: number };

/** Something went wrong starting the task: held when `retry` is never, backed off when later. */
export class EcsDispatchError extends DispatchError {
  constructor(
    message: string,
    readonly reason?: string,
    retry: "never" | "later" = "never",
    options?: { cause?: unknown },
  ) {
    super(message, retry, options);
  }
}

/** ECS had no room, throttled, or failed itself (RESOURCE:*, AGENT, 5xx): retry later. */
export class EcsCapacityError extends EcsDispatchError {
  constructor(message: string, reason?: string, options?: { cause?: unknown }) {
    super(message, reason, "later", options);
  }
}

/** The job cannot run on Fargate at all (GPUs, too big, spec too large). */
export class EcsUnsupportedJobError extends EcsDispatchError {}

/** RunTask exceptions that say the service is busy or failing, not that the request is wrong. */
const TRANSIENT_EXCEPTIONS = new Set([
  "ThrottlingException",
  "TooManyRequestsException",
  "ServerException",
  "ServiceUnavailableException",
  "InternalFailure",
  "RequestLimitExceeded",
  "LimitExceededException",
]);

/** RunTask exceptions that say the request itself is wrong: retrying cannot help. */
const PERMANENT_EXCEPTIONS = new Set([
  "InvalidParameterException",
  "ClientException",
  "AccessDeniedException",
  "ClusterNotFoundException",
  "PlatformUnknownException",
  "PlatformTaskDefinitionIncompatibilityException",
  "UnsupportedFeatureException",
  "BlockedException",
]);

/** Whether a RunTask exception is worth retrying later (throttling, capacity, 5xx, network). */
export function isTransientRunTaskError(err: unknown): boolean {
  const e = err as {
    name?: string;
    message?: string;
    $fault?: string;
    $metadata?: { httpStatusCode?: number };
  };
  if (e?.name && TRANSIENT_EXCEPTIONS.has(e.name)) return true;
  if (e?.name && PERMANENT_EXCEPTIONS.has(e.name)) return false;
  if (isCapacityFailure(e?.message)) return true;
  if (e?.$fault === "server" || (e?.$metadata?.httpStatusCode ?? 0) >= 500) return true;
  // no answer at all (a reset connection, a timeout): the SDK gives up with no service error
  return !e?.$metadata;
}

/**
 * A token bucket: `rate` calls a second on average, `burst` at once. Per process; the
 * scheduler's reserved concurrency bounds how many such processes there are.
 */
export class RatePacer {
  private tokens: number;
  private at: number;
  constructor(
    private readonly rate: number,
    private readonly burst: number,
    private readonly now: () => number = Date.now,
  ) {
    this.tokens = burst;
    this.at = now();
  }

  /** Take a token: 0 when one was free, else the ms until one is. */
  take(): number {
    const t = this.now();
    this.tokens = Math.min(this.burst, this.tokens + ((t - this.at) / 1000) * this.rate);
    this.at = t;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil(((1 - this.tokens) / this.rate) * 1000);
  }
}

/** Per scheduler process: half the regional Fargate launch rate (two reserved instances). */
export const RUN_TASK_RATE = 10;
export const RUN_TASK_BURST = 50;

// ---- Fargate sizes ----

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export { FARGATE_SIZES };

/**
 * The smallest valid Fargate size with at least `ncpus` vCPUs and `memBytes` of memory (cpu
 * first, then memory within that cpu; a memory need beyond a cpu size's range moves up a size).
 */
export function fargateSize(ncpus: number, memBytes = 0, ngpus = 0): { cpu: number; memory: number } {
  if (ngpus > 0) {
    throw new EcsUnsupportedJobError(
      `job requests ngpus=${ngpus}: Fargate has no GPUs; an EC2 capacity provider with GPU instances is needed`,
    );
  }
  const cpuUnits = Math.max(1, Math.ceil(Math.max(0, ncpus) * 1024));
  const memMiB = Math.ceil(Math.max(0, memBytes) / MiB);
  for (const size of FARGATE_SIZES) {
    if (size.cpu < cpuUnits) continue;
    const memory = size.memory.find((m) => m >= memMiB);
    if (memory !== undefined) return { cpu: size.cpu, memory };
  }
  throw new EcsUnsupportedJobError(
    `job requests ncpus=${ncpus} mem=${formatGiB(memBytes)}: the largest Fargate task is 16 vCPU and 120 GiB; an EC2 capacity provider is needed`,
  );
}

function formatGiB(bytes: number): string {
  return `${Math.round((bytes / GiB) * 100) / 100}gb`;
}

// ---- names and tokens ----

/** `startedBy` for a job: its ID with characters ECS refuses turned into `-`, hashed if too long. */
export function startedByFor(jobId: string): string {
  const clean = jobId.replace(/[^A-Za-z0-9_/-]/g, "-");
  if (clean.length <= STARTED_BY_MAX) return clean;
  return `mq-${createHash("sha256")
    .update(jobId)
    .digest("hex")
    .slice(0, STARTED_BY_MAX - 3)}`;
}

/** RunTask idempotency token (≤ 64 characters): the same run always gets the same token. */
export function clientTokenFor(jobId: string, runCount: number): string {
  return createHash("sha256").update(`${jobId}:${runCount}`).digest("hex");
}

/** Failure reasons that mean "no room now, try later" rather than "this cannot work". */
export function isCapacityFailure(reason: string | undefined): boolean {
  return !!reason && /^RESOURCE:|^AGENT$|Capacity is unavailable|capacity/i.test(reason);
}

/**
 * The container overrides for a run: the spec in JOB_SPEC (or JOB_SPEC_GZ), plus JOB_ID,
 * RUN_COUNT and MOM_ID for logs and for `kill` to tell runs apart. Throws when it cannot fit.
 * The spec goes without AWS_*, ECS_* and the MOM's own names in its Variable_List (job-secrets.ts):
 * overrides are readable by anyone who may DescribeTasks, and the job must not get them.
 */
export function containerEnvironment(
  containerName: string,
  spec: JobRunSpec,
  momSecret?: string,
): KeyValuePair[] {
  const base: KeyValuePair[] = [
    { name: "JOB_ID", value: spec.jobId },
    { name: "RUN_COUNT", value: String(spec.runCount) },
    { name: "MOM_ID", value: spec.momId },
    ...(momSecret ? [{ name: "MOM_KEY", value: momKey(momSecret, spec.momId) }] : []),
  ];
  const json = JSON.stringify(specWithoutSiteSecrets(spec));
  const plain = [...base, { name: "JOB_SPEC", value: json }];
  if (overridesLength(containerName, plain) <= ECS_OVERRIDES_LIMIT) return plain;
  const gz = [...base, { name: "JOB_SPEC_GZ", value: gzipSync(json).toString("base64") }];
  const n = overridesLength(containerName, gz);
  if (n <= ECS_OVERRIDES_LIMIT) return gz;
  throw new EcsUnsupportedJobError(
    `job ${spec.jobId}: its run spec (script and environment, ${json.length} characters, ${n} gzipped in the ECS overrides) exceeds the ${ECS_OVERRIDES_LIMIT}-character limit of ECS task overrides; shorten the script (e.g. run a file from the job's directory) or its Variable_List`,
  );
}

/** Characters of the overrides JSON for this environment, with the largest cpu/memory strings. */
function overridesLength(containerName: string, environment: KeyValuePair[]): number {
  const o: TaskOverride = {
    cpu: "16384",
    memory: "122880",
    containerOverrides: [{ name: containerName, environment }],
  };
  return JSON.stringify(o).length;
}

/**
 * RunTask under `pacer`, one task, its failures sorted as the scheduler acts on them: over the
 * pace, throttled, no capacity or the service failing = EcsCapacityError (later); a request ECS
 * refuses = EcsDispatchError (never). `what` names the run or node in messages.
 */
export async function runTaskPaced(
  ecs: ECSClient,
  pacer: RatePacer,
  input: RunTaskCommandInput,
  what: string,
): Promise<NonNullable<RunTaskCommandOutput["tasks"]>[number]> {
  const wait = pacer.take();
  if (wait > 0) {
    throw new EcsCapacityError(
      `ECS RunTask for ${what} not made: over this scheduler's task-start pace (${wait} ms to the next)`,
      "paced",
    );
  }
  let out: RunTaskCommandOutput;
  try {
    out = await ecs.send(new RunTaskCommand(input));
  } catch (err) {
    const e = err as { name?: string; message?: string };
    // throttling and some capacity refusals arrive as exceptions rather than failures[]
    const reason = `${e.name ?? "Error"}: ${e.message ?? String(err)}`;
    if (isTransientRunTaskError(err)) {
      throw new EcsCapacityError(`ECS RunTask for ${what} failed, will retry: ${reason}`, reason, {
        cause: err,
      });
    }
    throw new EcsDispatchError(`ECS RunTask for ${what} failed: ${reason}`, reason, "never", {
      cause: err,
    });
  }
  const failure = out.failures?.[0];
  const task = out.tasks?.[0];
  if (failure || !task) {
    const reason = failure
      ? [failure.reason, failure.detail].filter(Boolean).join(": ") || "unknown failure"
      : "no task started";
    if (isCapacityFailure(failure?.reason)) {
      throw new EcsCapacityError(`ECS has no capacity for ${what} now (${reason}); requeued`, reason);
    }
    throw new EcsDispatchError(`ECS could not start ${what}: ${reason}`, reason);
  }
  return task;
}

// ---- the executor ----

export class EcsExecutor implements Executor {
  /**
   * One task, so one MOM, per run (momIdFor), whose heartbeat item can go with its obituary.
   * Not with node pools: a node's MOM outlives its runs and beats into one item (power-off reads
   * it); a site's remaining per-run tasks' items then expire by the table's TTL instead.
   */
  readonly momPerRun: boolean;
  // an ECS task sees its container's file system only, never the submit host's
  readonly refusesStaging =
    "file staging is not supported on this site: its jobs run in ECS tasks, which cannot reach the submit host's files; copy files in the job script (e.g. from S3)";

  private readonly pacer: RatePacer;
  constructor(
    private readonly ecs: ECSClient,
    private readonly config: EcsExecutorConfig,
  ) {
    this.pacer = config.pacer ?? new RatePacer(RUN_TASK_RATE, RUN_TASK_BURST);
    this.momPerRun = !config.nodes;
  }

  momIdFor(execHost: string, jobKey: string, runCount: number, poweredOnAt?: number): string {
    const n = this.config.nodes;
    if (n?.hasNode(execHost)) return n.momIdFor(execHost, poweredOnAt);
    return `ecs:${jobKey}:${runCount}`;
  }

  /** The RunTask input for a run (pure; throws EcsUnsupportedJobError for what no pool can run). */
  runTaskInput(spec: EcsJobRunSpec): RunTaskCommandInput {
    let size: { cpu: number; memory: number };
    try {
      size = fargateSize(spec.ncpus, spec.mem ?? 0, spec.ngpus ?? 0);
    } catch (err) {
      if (!(err instanceof EcsUnsupportedJobError)) throw err;
      return this.ec2RunTaskInput(spec, err);
    }
    const { cpu, memory } = size;
    const c = this.config;
    return {
      cluster: c.cluster,
      taskDefinition: c.taskDefinition,
      count: 1,
      ...(c.capacityProviderStrategy?.length
        ? { capacityProviderStrategy: c.capacityProviderStrategy }
        : { launchType: "FARGATE" }),
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: c.subnets,
          securityGroups: c.securityGroups,
          assignPublicIp: (c.assignPublicIp ? "ENABLED" : "DISABLED") as AssignPublicIp,
        },
      },
      overrides: {
        cpu: String(cpu),
        memory: String(memory),
        containerOverrides: [
          { name: c.containerName, environment: containerEnvironment(c.containerName, spec, c.momSecret) },
        ],
      },
      startedBy: startedByFor(spec.jobId),
      clientToken: clientTokenFor(spec.jobId, spec.runCount),
    };
  }

  /**
   * RunTask on the first EC2 pool whose instance holds the job. The task asks for the job's
   * vCPUs, memory and GPUs (ECS places it on an instance with that much free, and the capacity
   * provider's managed scaling starts an instance when none has: the first job on a cold pool
   * waits for an instance boot, minutes; RunTask answers with a capacity failure meanwhile only
   * when the provider cannot scale).
   */
  private ec2RunTaskInput(spec: EcsJobRunSpec, fargateRefusal: EcsUnsupportedJobError): RunTaskCommandInput {
    const c = this.config;
    const ncpus = Math.max(0, spec.ncpus);
    const memMiB = Math.ceil(Math.max(0, spec.mem ?? 0) / MiB);
    const gpus = spec.ngpus ?? 0;
    const pool = c.ec2Pools?.find((p) => p.vcpus >= ncpus && p.memoryMiB >= memMiB && p.gpus >= gpus);
    if (!pool) {
      const pools = c.ec2Pools?.length
        ? c.ec2Pools.map((p) => `${p.name} (${p.vcpus} vCPU, ${p.memoryMiB} MiB, ${p.gpus} GPU)`).join(", ")
        : "none configured";
      throw new EcsUnsupportedJobError(
        `${fargateRefusal.message}; no EC2 pool holds it either (pools: ${pools})`,
        fargateRefusal.reason,
      );
    }
    // at least the smallest Fargate memory, so a job that asked for none still gets some
    const memory = Math.max(512, memMiB);
    return {
      cluster: c.cluster,
      taskDefinition: pool.taskDefinition,
      count: 1,
      capacityProviderStrategy: [{ capacityProvider: pool.capacityProvider, weight: 1 }],
      overrides: {
        cpu: String(Math.max(128, Math.ceil(ncpus * 1024))),
        memory: String(memory),
        containerOverrides: [
          {
            name: c.containerName,
            environment: containerEnvironment(c.containerName, spec, c.momSecret),
            ...(gpus > 0 && { resourceRequirements: [{ type: "GPU" as const, value: String(gpus) }] }),
          },
        ],
      },
      startedBy: startedByFor(spec.jobId),
      clientToken: clientTokenFor(spec.jobId, spec.runCount),
    };
  }

  async dispatch(plain: JobRunSpec): Promise<void> {
    // the run goes with the right to write its output, and only its own (a per-run task reads
    // it from its overrides, a node MOM from the pushed run); minted here, no request made.
    // A grant differs at each call (its signing time), which RunTask's clientToken tolerates:
    // the token is per claim (jobId:runCount, and each claim is a new runCount), and the only
    // resend of one claim's RunTask is the SDK's own retry, of the same serialized request.
    const g = this.config.outputGrants;
    const spec = g
      ? { ...plain, outputGrant: await g.grant(plain.jobId, plain.runCount, outputNames(plain)) }
      : plain;
    // a pool node's long-lived MOM gets its runs over the dispatch channel (ecs-nodes.ts)
    if (this.config.nodes?.isNodeMom(spec.momId)) return this.config.nodes.dispatch(spec);
    await runTaskPaced(this.ecs, this.pacer, this.runTaskInput(spec), spec.jobId);
  }

  /** Power a pool node on: RunTask of its long-lived MOM (ecs-nodes.ts), paced with the runs. */
  async powerOn(node: string, at?: number): Promise<void> {
    if (!this.config.nodes) throw new EcsDispatchError(`node ${node}: this site has no ECS node pools`);
    await this.config.nodes.powerOn(node, at, this.pacer);
  }

  /** Power a pool node off: StopTask of its MOM, only when its last beat lists no job. */
  async powerOff(node: string): Promise<void> {
    await this.config.nodes?.powerOff(node);
  }

  /**
   * qsig: ECS offers no way to signal a running task's processes (only StopTask, which qdel
   * uses), and the ECS MOM listens to nothing but its task's stop: refused, PBS's way, until
   * the MOM gets a request channel.
   */
  async signal(
    job: { jobId: string; momId: string; runCount: number },
    signal: NodeJS.Signals,
  ): Promise<void> {
    // a pool node's MOM gets it pushed on its channel (ecs-nodes.ts)
    if (this.config.nodes?.isNodeMom(job.momId)) return this.config.nodes.signal(job, signal);
    throw new RejectedError(
      "NotSupported",
      `No support for requested service: qsig of ${job.jobId}, which runs on an ECS task (ECS can only stop it: qdel)`,
    );
  }

  /**
   * Stop the run's task: ListTasks by `startedBy`, keep the task(s) of this run (RUN_COUNT in
   * their overrides), StopTask with the reason. ECS sends SIGTERM, the MOM kills the job and
   * reports the obituary. Nothing to stop (the task already ended) is not an error.
   */
  async kill(job: { jobId: string; momId: string; runCount: number }, reason: KillReason): Promise<void> {
    // a pool node's MOM runs other jobs too: the kill is pushed to it, its task is not stopped
    if (this.config.nodes?.isNodeMom(job.momId)) return this.config.nodes.kill(job, reason);
    await this.stopRun(job, `metaqueue: ${reason} of ${job.jobId} run ${job.runCount}`);
  }

  /**
   * The sweeper declared the run's MOM lost (silent, or it never reported): its task is stopped
   * before the job is requeued, so a task that still runs it (its MOM cut off from the site, or
   * hung) does not run it beside the new run. A stopped task's late obituary names the old run,
   * which the server ignores. Any error of ECS rejects: the job then waits for the next sweep.
   */
  async stopLost(job: { jobId: string; momId: string; runCount: number }, why: string): Promise<void> {
    // a pool node's MOM: its node task is what may still run the job
    const nodes = this.config.nodes;
    if (nodes?.isNodeMom(job.momId)) return nodes.stopMom(job.momId, `metaqueue: MOM lost (${why})`);
    await this.stopRun(job, `metaqueue: MOM lost (${why}), ${job.jobId} run ${job.runCount}`);
  }

  private async stopRun(job: { jobId: string; runCount: number }, reason: string): Promise<void> {
    const c = this.config;
    const listed = await this.ecs.send(
      new ListTasksCommand({
        cluster: c.cluster,
        startedBy: startedByFor(job.jobId),
        desiredStatus: "RUNNING",
      }),
    );
    const arns = listed.taskArns ?? [];
    if (!arns.length) return;
    const described = await this.ecs.send(new DescribeTasksCommand({ cluster: c.cluster, tasks: arns }));
    const ofThisRun = (described.tasks ?? []).filter((t) => {
      const env = t.overrides?.containerOverrides?.find((o) => o.name === c.containerName)?.environment ?? [];
      const byName = new Map(env.map((kv) => [kv.name, kv.value]));
      return byName.get("JOB_ID") === job.jobId && byName.get("RUN_COUNT") === String(job.runCount);
    });
    await Promise.all(
      ofThisRun.map((t) =>
        this.ecs.send(
          new StopTaskCommand({
            cluster: c.cluster,
            task: t.taskArn,
            reason: reason.slice(0, 255),
          }),
        ),
      ),
    );
  }
}
