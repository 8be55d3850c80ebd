/**
 * Node pools on AWS (issue 12): per pool of the site's configuration, the task definition of its
 * nodes' long-lived MOMs (infra/mom/ecs-node.ts), started and stopped by the scheduler's power
 * decisions (shared/adapters/executor/ecs-nodes.ts):
 *
 * - fargate: a Fargate task definition (the pool's largest node's size; each node's RunTask
 *   overrides it with its own valid Fargate size).
 * - ec2: an Auto Scaling group from 0 instances (at most one per pool node) of the pool's
 *   instance types, with the ECS-optimized AMI (the GPU one for GPU types), IMDSv2 with hop
 *   limit 1, behind an ECS capacity provider with managed scaling and termination protection:
 *   ECS starts an instance when a node's task is pending and stops it once none runs there.
 * - external: an EXTERNAL task definition for ECS Anywhere. The centre's hosts are not the
 *   stack's: the centre registers them to the cluster with an SSM activation (docs/deploy.md).
 *
 * A sleeping pool costs nothing: no task, no instance.
 */
import { Duration } from "aws-cdk-lib";
import * as autoscaling from "aws-cdk-lib/aws-autoscaling";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as iam from "aws-cdk-lib/aws-iam";
import * as ssm from "aws-cdk-lib/aws-ssm";
import { Construct } from "constructs";
import {
  EC2_INSTANCE_TYPES,
  fargateNodeSize,
  type NodePoolConfig,
  poolArch,
} from "../../../shared/config/node-pools.js";
import type { NodeConfig } from "../../../shared/config/site-config.js";
import { encodeNodePools } from "../../../shared/config/node-pools-doc.js";
import { parseSize } from "../../../shared/pbs/size.js";
import { type ExecutorExtension, MOM_CONTAINER_NAME, type MomCluster, type MomClusterProps } from "./mom.js";

/** A standard SSM parameter holds 4 KB; an advanced one 8 KB (and costs $0.05 a month). */
export const STANDARD_PARAMETER_MAX = 4096;
export const NODE_POOLS_PARAMETER_MAX = 8192;

export interface BuiltNodePool {
  config: NodePoolConfig;
  nodes: NodeConfig[];
  taskDefinition: ecs.TaskDefinition;
  capacityProvider?: ecs.AsgCapacityProvider;
}

export interface NodePoolsProps {
  site: string;
  pools: NodePoolConfig[];
  nodes: NodeConfig[];
  mom: MomCluster;
  momProps: MomClusterProps;
}

const MiB = 1024 * 1024;
const memMiB = (n: NodeConfig) => Math.ceil(parseSize(n.mem) / MiB);
const idOf = (name: string) => name.replace(/[^A-Za-z0-9]/g, "").replace(/^./, (c) => c.toUpperCase());

export class NodePools extends Construct implements ExecutorExtension {
  readonly pools: BuiltNodePool[] = [];
  /**
   * The pools' policies, task definitions and nodes (shared/config/node-pools-doc.ts), which
   * the functions read at cold start (lambdas/node-pools-env.ts): not in their environment,
   * whose 4 KB capped a site at ~40 pool nodes. Absent for a site without pools.
   */
  readonly parameter?: ssm.StringParameter;

  constructor(
    scope: Construct,
    id: string,
    private readonly props: NodePoolsProps,
  ) {
    super(scope, id);
    for (const pool of props.pools) {
      const nodes = props.nodes.filter((n) => n.pool === pool.name);
      this.pools.push(
        pool.kind === "fargate"
          ? this.fargate(pool, nodes)
          : pool.kind === "ec2"
            ? this.ec2(pool, nodes)
            : this.external(pool, nodes),
      );
    }
    if (!this.pools.length) return;
    const value = this.document();
    // a deploy-time token stands for an ARN or name of up to ~100 characters
    const size = value.replace(/\$\{Token\[[^\]]*\]\}/g, "x".repeat(100)).length;
    if (size > NODE_POOLS_PARAMETER_MAX)
      throw new Error(
        `site ${props.site}: its node pools' description (${size} characters) exceeds the ${NODE_POOLS_PARAMETER_MAX} an SSM parameter holds: name pool nodes in runs (n0001, n0002, ...), or fewer nodes`,
      );
    this.parameter = new ssm.StringParameter(this, "Config", {
      description: `metaqueue ${props.site}: its node pools (policies, task definitions, nodes)`,
      stringValue: value,
      tier: size > STANDARD_PARAMETER_MAX ? ssm.ParameterTier.ADVANCED : ssm.ParameterTier.STANDARD,
    });
  }

  /** The parameter's value: policies, pools and nodes (nodes as runs of names). */
  document(): string {
    return encodeNodePools({ policies: JSON.parse(this.policies()), ecs: JSON.parse(this.ecsPools()) });
  }

  /**
   * What a function that needs the pools gets in its environment: where to read them. Grant it
   * the read too (grantRead).
   */
  environment(): Record<string, string> {
    return this.parameter ? { NODE_POOLS_PARAMETER: this.parameter.parameterName } : {};
  }

  /** Let `fn` read the pools' parameter (GetParameter of it alone). */
  grantRead(fn: iam.IGrantable): void {
    if (!this.parameter) return;
    fn.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ["ssm:GetParameter"], resources: [this.parameter.parameterArn] }),
    );
  }

  private family(pool: NodePoolConfig): string {
    return `metaqueue-${this.props.site}-node-${pool.name.replace(/[^A-Za-z0-9-]/g, "-")}`;
  }

  private fargate(pool: NodePoolConfig, nodes: NodeConfig[]): BuiltNodePool {
    const { mom, momProps } = this.props;
    // the largest node's size (config validation checked every node has one)
    const sizes = nodes.map((n) => fargateNodeSize(n.ncpus, memMiB(n)) ?? { cpu: 256, memory: 512 });
    const cpu = Math.max(256, ...sizes.map((s) => s.cpu));
    const memory = Math.max(512, ...sizes.filter((s) => s.cpu === cpu).map((s) => s.memory));
    const arch = poolArch(pool);
    const td = new ecs.FargateTaskDefinition(this, `${idOf(pool.name)}Task`, {
      family: this.family(pool),
      cpu,
      memoryLimitMiB: memory,
      runtimePlatform: {
        cpuArchitecture: arch === "arm64" ? ecs.CpuArchitecture.ARM64 : ecs.CpuArchitecture.X86_64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    mom.addMom(td, arch, momProps);
    mom.grantMomRole(td.taskRole, momProps);
    return { config: pool, nodes, taskDefinition: td };
  }

  private ec2(pool: NodePoolConfig, nodes: NodeConfig[]): BuiltNodePool {
    const { mom, momProps, site } = this.props;
    const id = idOf(pool.name);
    const types = pool.instanceTypes ?? [];
    const gpus = types.some((t) => (EC2_INSTANCE_TYPES[t]?.gpus ?? 0) > 0) || nodes.some((n) => n.ngpus > 0);
    const arch = poolArch(pool);
    const hw = gpus
      ? ecs.AmiHardwareType.GPU
      : arch === "arm64"
        ? ecs.AmiHardwareType.ARM
        : ecs.AmiHardwareType.STANDARD;
    const role = new iam.Role(this, `${id}InstanceRole`, {
      assumedBy: new iam.ServicePrincipal("ec2.amazonaws.com"),
      description: `metaqueue ${site} node pool ${pool.name} instances: the ECS agent only`,
    });
    const launchTemplate = new ec2.LaunchTemplate(this, `${id}Template`, {
      instanceType: new ec2.InstanceType(types[0]),
      machineImage: ecs.EcsOptimizedImage.amazonLinux2(hw),
      userData: ec2.UserData.forLinux(),
      role,
      securityGroup: mom.securityGroup,
      associatePublicIpAddress: true,
      requireImdsv2: true,
      httpPutResponseHopLimit: 1,
      blockDevices: [
        { deviceName: "/dev/xvda", volume: ec2.BlockDeviceVolume.ebs(100, { encrypted: true }) },
      ],
    });
    const asg = new autoscaling.AutoScalingGroup(this, `${id}Asg`, {
      vpc: mom.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      ...(types.length > 1
        ? {
            mixedInstancesPolicy: {
              launchTemplate,
              launchTemplateOverrides: types.map((t) => ({ instanceType: new ec2.InstanceType(t) })),
            },
          }
        : { launchTemplate }),
      // an idle pool has no instance; at most one per node (a node is one long-lived task)
      minCapacity: 0,
      maxCapacity: Math.max(1, nodes.length),
      newInstancesProtectedFromScaleIn: true,
    });
    const capacityProvider = new ecs.AsgCapacityProvider(this, `${id}Capacity`, {
      autoScalingGroup: asg,
      capacityProviderName: `mq-${site}-node-${pool.name.replace(/[^A-Za-z0-9-]/g, "-")}`,
      enableManagedScaling: true,
      enableManagedTerminationProtection: true,
      targetCapacityPercent: 100,
    });
    mom.cluster.addAsgCapacityProvider(capacityProvider);
    const td = new ecs.Ec2TaskDefinition(this, `${id}Task`, {
      family: this.family(pool),
      networkMode: ecs.NetworkMode.BRIDGE,
    });
    // a floor for placement; each node's RunTask sets its own task-level cpu/memory/GPUs
    mom.addMom(td, arch, momProps, { memoryReservationMiB: 256 });
    mom.grantMomRole(td.taskRole, momProps);
    return { config: pool, nodes, taskDefinition: td, capacityProvider };
  }

  private external(pool: NodePoolConfig, nodes: NodeConfig[]): BuiltNodePool {
    const { mom, momProps } = this.props;
    const td = new ecs.ExternalTaskDefinition(this, `${idOf(pool.name)}Task`, {
      family: this.family(pool),
      networkMode: ecs.NetworkMode.BRIDGE,
    });
    // a centre's host is the node: the MOM takes what its jobs need, up to the host
    mom.addMom(td, poolArch(pool), momProps, {
      memoryReservationMiB: 256,
      stopTimeout: Duration.seconds(120),
    });
    mom.grantMomRole(td.taskRole, momProps);
    return { config: pool, nodes, taskDefinition: td };
  }

  /** The ECS part (lambdas/ecs-env.ts): pools and their nodes' sizes, as ECS_NODE_POOLS was. */
  ecsPools(): string {
    return JSON.stringify({
      pools: this.pools.map((p) => ({
        name: p.config.name,
        kind: p.config.kind,
        taskDefinition: p.taskDefinition.taskDefinitionArn,
        ...(p.capacityProvider && { capacityProvider: p.capacityProvider.capacityProviderName }),
      })),
      nodes: this.pools.flatMap((p) =>
        p.nodes.map((n) => [n.name, p.config.name, n.ncpus, memMiB(n), n.ngpus]),
      ),
    });
  }

  /** The power policies (lambdas/env.ts), as NODE_POOLS was. */
  policies(): string {
    return JSON.stringify(
      this.pools.map(({ config: p }) => ({
        name: p.name,
        idleOff: p.idleOff,
        bootTimeout: p.bootTimeout,
        startsPerMinute: p.startsPerMinute,
      })),
    );
  }

  /**
   * The MOM push channel's URL (infra/aws/constructs/mom-channel.ts) on every pool's MOM
   * container: a node MOM connects there before its hello, and takes its runs, kills and
   * signals on that connection (infra/mom/ecs-node.ts).
   */
  connectChannel(url: string): void {
    for (const p of this.pools) {
      const c = p.taskDefinition.findContainer(MOM_CONTAINER_NAME);
      if (!c)
        throw new Error(
          `node pool ${p.config.name}: its task definition has no ${MOM_CONTAINER_NAME} container`,
        );
      c.addEnvironment("MOM_CHANNEL_URL", url);
    }
  }

  /** RunTask of the pools' task definitions only (with iam:PassRole of their task and execution roles). */
  grantPower(grantee: iam.IGrantable): void {
    for (const p of this.pools) p.taskDefinition.grantRun(grantee);
    // ListTasks/DescribeTasks/StopTask of this cluster's tasks (power-off)
    if (this.pools.length) this.props.mom.grantKill(grantee);
  }
}
