/**
 * ECS node pools (issue 12): a pool node is one long-lived ECS task running the MOM in node
 * mode (infra/mom/ecs.ts), which runs many jobs, as a node's pbs_mom does. The scheduler's
 * power decisions (shared/server/node-power.ts) call powerOn/powerOff through EcsExecutor.
 *
 * - powerOn = RunTask of the pool's task definition: Fargate (launch type FARGATE, the node's
 *   size rounded up to a valid Fargate size), EC2 (the pool's Auto Scaling group capacity
 *   provider, scaled from 0 by ECS; GPUs as a container resource requirement) or EXTERNAL (ECS
 *   Anywhere: a host of the centre's, registered to the cluster). The MOM's identity is in the
 *   container overrides: MOM_NODE, MOM_ID and MOM_KEY = HMAC(site secret, momId). The node is
 *   up when that MOM's signed hello arrives on the events queue (job-end.ts momHello).
 * - Idempotent: the momId and clientToken derive from the node and its power-on time (the
 *   node's `power_on_at`), so a retried power-on (the SDK's retry, a redelivered cycle) starts
 *   one task; `startedBy` is the node's tag (nodeStartedBy), so powerOff finds the task with
 *   ListTasks and nothing is written anywhere else.
 * - Paced with the job RunTasks (one token bucket per process, under ECS's RunTask rate) and
 *   failures sorted the same way (runTaskPaced): capacity and throttling are `later`, so the
 *   power module puts the node back to sleep and does not wake it again for a boot timeout.
 * - powerOff = StopTask of the node's task(s), only when the MOM's last heartbeat lists no job:
 *   the power module powers off only nodes idle in the store, and this check keeps a MOM that
 *   runs something the store does not know of (a dispatch whose claim was lost) from being cut.
 * - Runs, kills and signals reach a node MOM through its dispatch channel (the MOM push
 *   channel: ecs-channel.ts); without one, a run on a pool node is refused as `later`
 *   (DispatchError), so the job is requeued with a back-off and never started twice.
 */
import { createHash } from "node:crypto";
import {
  type AssignPublicIp,
  DescribeTasksCommand,
  type ECSClient,
  type KeyValuePair,
  ListTasksCommand,
  type RunTaskCommandInput,
  StopTaskCommand,
} from "@aws-sdk/client-ecs";
import { momKey, nodeOfMomId } from "../../auth/mom-report.js";
import { RejectedError } from "../../errors.js";
import { DispatchError, type JobRunSpec, type KillReason } from "../../ports/index.js";
import {
  EcsDispatchError,
  type EcsNodeMoms,
  type RatePacer,
  runTaskPaced,
  STARTED_BY_MAX,
  fargateSize,
} from "./ecs.js";

/** A pool as deployed (infra/aws/constructs/mom.ts nodePoolEnvironment). */
export interface EcsNodePool {
  name: string;
  kind: "fargate" | "ec2" | "external";
  /** the pool's long-lived MOM task definition (ARN or family:revision) */
  taskDefinition: string;
  /** ec2: the Auto Scaling group's capacity provider */
  capacityProvider?: string;
}

/** A pool node as configured: its pool and what its task asks for. */
export interface EcsPoolNode {
  name: string;
  pool: string;
  ncpus: number;
  /** MiB */
  memoryMiB: number;
  gpus: number;
}

/**
 * How runs reach a long-lived node MOM (the push channel: ecs-channel.ts pushChannel):
 * `momIdOf` is the momId of the node's MOM of power-on `poweredOnAt`, if any; `send` hands it
 * the run and resolves once the MOM has it (DispatchError `later` when it cannot be reached);
 * `kill` and `signal` are pushed the same way.
 */
export interface NodeDispatchChannel {
  momIdOf(node: string, poweredOnAt?: number): string | undefined;
  send(momId: string, spec: JobRunSpec): Promise<void>;
  kill?(job: { jobId: string; momId: string; runCount: number }, reason: KillReason): Promise<void>;
  signal?(job: { jobId: string; momId: string; runCount: number }, signal: NodeJS.Signals): Promise<void>;
}

/** What one MOM's last heartbeat says it runs (the site table's MOM#<id> items). */
export type MomBeatReader = (momIds: string[]) => Promise<Map<string, { jobs: unknown[]; at: number }>>;

export interface EcsNodesConfig {
  cluster: string;
  containerName: string;
  subnets: string[];
  securityGroups: string[];
  assignPublicIp: boolean;
  pools: EcsNodePool[];
  nodes: EcsPoolNode[];
  /** the site's MOM secret: each node task gets MOM_KEY = HMAC(secret, momId) */
  momSecret?: string;
  beats: MomBeatReader;
  channel?: NodeDispatchChannel;
  now?: () => number;
}

/** The momId of a node's MOM with no channel to name it: no MOM has it, dispatch refuses. */
const NO_CHANNEL = "no-channel";

/**
 * `startedBy` of a node's task: `node/<name>` (no job's tag has a `/`: startedByFor keeps job
 * IDs' letters, digits, `-` and `_`), hashed when the name has other characters or is too long.
 */
export function nodeStartedBy(node: string): string {
  const tag = `node/${node}`;
  if (tag.length <= STARTED_BY_MAX && /^[A-Za-z0-9_-]+$/.test(node)) return tag;
  return `node/h${createHash("sha256")
    .update(node)
    .digest("hex")
    .slice(0, STARTED_BY_MAX - 6)}`;
}

/** The MOM of one power-on of `node`: `<node>:p<power-on time, base 36>`. */
export function nodeMomId(node: string, at: number): string {
  return `${node}:p${Math.max(0, Math.floor(at)).toString(36)}`;
}

/** RunTask's idempotency token for one power-on of a node. */
export function nodeClientToken(node: string, at: number): string {
  return createHash("sha256")
    .update(`node:${node}:${Math.floor(at)}`)
    .digest("hex");
}

export class EcsNodes implements EcsNodeMoms {
  private readonly pools: Map<string, EcsNodePool>;
  private readonly nodes: Map<string, EcsPoolNode>;

  constructor(
    private readonly ecs: ECSClient,
    private readonly config: EcsNodesConfig,
  ) {
    this.pools = new Map(config.pools.map((p) => [p.name, p]));
    this.nodes = new Map(config.nodes.map((n) => [n.name, n]));
  }

  hasNode(node: string): boolean {
    return this.nodes.has(node);
  }

  isNodeMom(momId: string): boolean {
    return !momId.startsWith("ecs:") && this.nodes.has(nodeOfMomId(momId));
  }

  momIdFor(node: string, poweredOnAt?: number): string {
    return this.config.channel?.momIdOf(node, poweredOnAt) ?? `${node}:${NO_CHANNEL}`;
  }

  /** qdel and the like: pushed to the node's MOM; without a channel no run reached one. */
  async kill(job: { jobId: string; momId: string; runCount: number }, reason: KillReason): Promise<void> {
    await this.config.channel?.kill?.(job, reason);
  }

  async signal(
    job: { jobId: string; momId: string; runCount: number },
    signal: NodeJS.Signals,
  ): Promise<void> {
    const ch = this.config.channel;
    if (!ch?.signal)
      throw new RejectedError(
        "NotSupported",
        `No support for requested service: qsig of ${job.jobId}: its node's MOM has no dispatch channel`,
      );
    await ch.signal(job, signal);
  }

  async dispatch(spec: JobRunSpec): Promise<void> {
    const node = nodeOfMomId(spec.momId);
    const ch = this.config.channel;
    if (!ch || spec.momId.endsWith(`:${NO_CHANNEL}`))
      throw new DispatchError(
        ch
          ? `node ${node} has no MOM of a known power-on: ${spec.jobId} waits`
          : `node ${node} is an ECS pool node, whose MOM takes runs over the dispatch channel, and the dispatch channel is not deployed: ${spec.jobId} waits`,
        "later",
      );
    await ch.send(spec.momId, spec);
  }

  /** The RunTask input of one power-on (pure; throws EcsDispatchError for what cannot start). */
  runTaskInput(node: string, at: number): RunTaskCommandInput {
    const n = this.nodes.get(node);
    if (!n) throw new EcsDispatchError(`node ${node} is in no ECS node pool of this site`);
    const pool = this.pools.get(n.pool);
    if (!pool) throw new EcsDispatchError(`node ${node}: its pool ${n.pool} is not deployed`);
    const c = this.config;
    const momId = nodeMomId(node, at);
    const environment: KeyValuePair[] = [
      { name: "MOM_NODE", value: node },
      { name: "MOM_ID", value: momId },
      ...(c.momSecret ? [{ name: "MOM_KEY", value: momKey(c.momSecret, momId) }] : []),
    ];
    const base = {
      cluster: c.cluster,
      taskDefinition: pool.taskDefinition,
      count: 1,
      startedBy: nodeStartedBy(node),
      clientToken: nodeClientToken(node, at),
    };
    if (pool.kind === "external") {
      // the host is the node: no size to ask for, no awsvpc (ECS Anywhere has bridge/host)
      return {
        ...base,
        launchType: "EXTERNAL",
        overrides: { containerOverrides: [{ name: c.containerName, environment }] },
      };
    }
    if (pool.kind === "fargate") {
      // config validation refused GPUs and sizes beyond Fargate's; a qmgr change may not have
      const size = fargateSize(n.ncpus, n.memoryMiB * 1024 * 1024, n.gpus);
      return {
        ...base,
        launchType: "FARGATE",
        networkConfiguration: {
          awsvpcConfiguration: {
            subnets: c.subnets,
            securityGroups: c.securityGroups,
            assignPublicIp: (c.assignPublicIp ? "ENABLED" : "DISABLED") as AssignPublicIp,
          },
        },
        overrides: {
          cpu: String(size.cpu),
          memory: String(size.memory),
          containerOverrides: [{ name: c.containerName, environment }],
        },
      };
    }
    if (!pool.capacityProvider)
      throw new EcsDispatchError(`node ${node}: ec2 pool ${pool.name} has no capacity provider`);
    return {
      ...base,
      capacityProviderStrategy: [{ capacityProvider: pool.capacityProvider, weight: 1 }],
      overrides: {
        cpu: String(Math.max(128, Math.ceil(n.ncpus * 1024))),
        memory: String(Math.max(512, n.memoryMiB)),
        containerOverrides: [
          {
            name: c.containerName,
            environment,
            ...(n.gpus > 0 && { resourceRequirements: [{ type: "GPU" as const, value: String(n.gpus) }] }),
          },
        ],
      },
    };
  }

  /**
   * RunTask of the node's MOM. `at` is the node's power-on time: the same power-on retried
   * gives the same clientToken, and ECS starts one task for both calls.
   */
  async powerOn(node: string, at: number | undefined, pacer: RatePacer): Promise<void> {
    const input = this.runTaskInput(node, at ?? (this.config.now ?? Date.now)());
    await runTaskPaced(this.ecs, pacer, input, `node ${node}`);
  }

  /**
   * StopTask of the node's task(s), found by its tag. A MOM whose last heartbeat lists a job is
   * not stopped (rejects: the power module keeps the node up and asks again after idleOff). A
   * MOM with no beat yet (still booting, or its boot timed out) runs nothing and is stopped.
   */
  async powerOff(node: string): Promise<void> {
    const c = this.config;
    const tasks = await this.tasksOf(node);
    if (!tasks.length) return;
    const momIds = tasks.map((t) => t.momId).filter((m): m is string => !!m);
    const beats = momIds.length ? await c.beats(momIds) : new Map();
    for (const m of momIds) {
      const jobs = beats.get(m)?.jobs.length ?? 0;
      if (jobs > 0) throw new Error(`MOM ${m} on node ${node} still runs ${jobs} job(s): not powered off`);
    }
    await Promise.all(
      tasks.map((t) =>
        this.ecs.send(
          new StopTaskCommand({
            cluster: c.cluster,
            task: t.arn,
            reason: `metaqueue: node ${node} powered off (idle)`,
          }),
        ),
      ),
    );
  }

  /**
   * The sweeper declared node MOM `momId` lost: its task is stopped before its jobs are
   * requeued (it may be only cut off, and still run them). Only that MOM's task: a newer MOM of
   * the node (a later power-on) is left alone. Any ECS error rejects, and the sweeper tries
   * again at its next pass.
   */
  async stopMom(momId: string, reason: string): Promise<void> {
    const tasks = (await this.tasksOf(nodeOfMomId(momId))).filter((t) => t.momId === momId);
    await Promise.all(
      tasks.map((t) =>
        this.ecs.send(
          new StopTaskCommand({ cluster: this.config.cluster, task: t.arn, reason: reason.slice(0, 255) }),
        ),
      ),
    );
  }

  /** The node's running task(s), found by its tag, with the MOM id each was started as. */
  private async tasksOf(node: string): Promise<{ arn?: string; momId?: string }[]> {
    const c = this.config;
    const listed = await this.ecs.send(
      new ListTasksCommand({ cluster: c.cluster, startedBy: nodeStartedBy(node), desiredStatus: "RUNNING" }),
    );
    const arns = listed.taskArns ?? [];
    if (!arns.length) return [];
    const described = await this.ecs.send(new DescribeTasksCommand({ cluster: c.cluster, tasks: arns }));
    return (described.tasks ?? []).map((t) => {
      const env = t.overrides?.containerOverrides?.find((o) => o.name === c.containerName)?.environment ?? [];
      return { arn: t.taskArn, momId: env.find((kv) => kv.name === "MOM_ID")?.value };
    });
  }
}
