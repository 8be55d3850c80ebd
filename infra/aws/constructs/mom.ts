/**
 * Where jobs run: an ECS cluster and the MOM's Fargate task definition (one task per job run,
 * started by the scheduler's RunTask; see shared/adapters/executor/ecs.ts and infra/mom/ecs.ts),
 * and EC2 pools for what Fargate cannot run (GPUs, more than 16 vCPU or 120 GiB): an Auto Scaling
 * group per pool, from zero instances, behind an ECS capacity provider with managed scaling, so
 * a pool costs nothing until a job needs it (the first job waits for an instance to boot).
 *
 * Network: a VPC of public subnets only, with NO NAT gateway; tasks get a public IP (outbound
 * only: their security group admits nothing inbound) to reach ECR, CloudWatch Logs and SQS.
 * A NAT gateway costs about $32/month per AZ plus $0.045/GB before the first job runs; a public
 * IPv4 address costs $0.005/hour while a task runs. Free gateway endpoints keep DynamoDB and S3
 * traffic (heartbeats, output) inside AWS. Sites that need private subnets add a NAT or
 * interface endpoints (ECR, Logs, SQS; ~$7/month/AZ each) and set assignPublicIp off.
 */
import { Annotations, Aws, Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import * as autoscaling from "aws-cdk-lib/aws-autoscaling";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as ec2 from "aws-cdk-lib/aws-ec2";
import * as ecs from "aws-cdk-lib/aws-ecs";
import * as iam from "aws-cdk-lib/aws-iam";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as s3 from "aws-cdk-lib/aws-s3";
import type * as sqs from "aws-cdk-lib/aws-sqs";
import { Platform } from "aws-cdk-lib/aws-ecr-assets";
import { Construct } from "constructs";
import { REPO_ROOT } from "./lambda.js";

export const MOM_CONTAINER_NAME = "mom";
export const MOM_DOCKERFILE = "Dockerfile.mom";
/**
 * The MOM image's base (Dockerfile.mom's NODE_IMAGE build argument) when the deployment names
 * none: a tag, which moves. Deploy with `-c momBaseImage=node:22-slim@sha256:<digest>` (the
 * multi-platform index digest: `docker buildx imagetools inspect node:22-slim`) to pin it; an
 * unpinned base is a synth warning.
 */
export const DEFAULT_MOM_BASE_IMAGE = "node:22-slim";
/** an image reference pinned by digest */
export const PINNED_IMAGE = /^[a-z0-9][a-z0-9._/:-]*@sha256:[0-9a-f]{64}$/;
const IMAGE_REF = /^[a-z0-9][a-z0-9._/:-]*(@sha256:[0-9a-f]{64})?$/;
/** the account of the MOM image (Dockerfile.mom) that every job runs as */
export const MOM_JOB_USER = "node";
/** the attributes of a heartbeat item (SiteStore.putMomBeat); the task role may write no others */
export const HEARTBEAT_ATTRIBUTES = ["pk", "sk", "momId", "jobs", "at", "nonce", "sig", "expiresAt"];
/** the heartbeat items' partitions (shared/adapters/dynamodb/table.ts keys.mom) */
export const HEARTBEAT_LEADING_KEYS = "MOM#*";
/** the only files the MOM image needs from the repository (everything else stays out of the asset) */
export const MOM_IMAGE_FILES = [MOM_DOCKERFILE, "dist/mom-ecs.js", "dist/mom-ecs.js.map"];

/** An EC2 pool: one instance type, scaled from zero by its capacity provider. */
export interface Ec2PoolProps {
  /** letters and digits: names the capacity provider and the task family */
  name: string;
  instanceType: string;
  maxInstances: number;
  /** what one instance offers a task: vCPUs, MiB left after the ECS agent's reserve, GPUs */
  vcpus: number;
  memoryMiB: number;
  gpus: number;
  /** the instance type's CPU architecture (the MOM image is built for it) */
  arch: "arm64" | "x86_64";
}

/**
 * The default pools: one NVIDIA A10G GPU node (g5.2xlarge: 8 vCPU, 32 GiB) and a large CPU node
 * (c7g.16xlarge: 64 Graviton vCPU, 128 GiB), each up to a few instances. Memory is what ECS
 * leaves to tasks (about 4% less than the instance's).
 */
export const DEFAULT_EC2_POOLS: Ec2PoolProps[] = [
  {
    name: "gpu",
    instanceType: "g5.2xlarge",
    maxInstances: 4,
    vcpus: 8,
    memoryMiB: 30720,
    gpus: 1,
    arch: "x86_64",
  },
  {
    name: "large",
    instanceType: "c7g.16xlarge",
    maxInstances: 2,
    vcpus: 64,
    memoryMiB: 122880,
    gpus: 0,
    arch: "arm64",
  },
];

export interface MomClusterProps {
  site: string;
  table: dynamodb.ITable;
  eventsQueue: sqs.IQueue;
  outputBucket: s3.IBucket;
  logRetention: logs.RetentionDays;
  /** default DEFAULT_EC2_POOLS; [] for a Fargate-only site */
  ec2Pools?: Ec2PoolProps[];
  /** the MOM image's base image, ideally pinned by digest; default DEFAULT_MOM_BASE_IMAGE */
  baseImage?: string;
}

/** What the node pools (constructs/node-pools.ts) add to the scheduler's executor. */
export interface ExecutorExtension {
  /** where the executor reads the pools (NODE_POOLS_PARAMETER: lambdas/node-pools-env.ts) */
  environment(): Record<string, string>;
  /** let a function that drives the executor read them */
  grantRead(grantee: iam.IGrantable): void;
  /** RunTask of the pools' task definitions, StopTask/ListTasks in the cluster */
  grantPower(grantee: iam.IGrantable): void;
}

/** A pool as built: what the executor needs to send a job there (lambdas/ecs-env.ts). */
interface BuiltPool {
  props: Ec2PoolProps;
  capacityProvider: ecs.AsgCapacityProvider;
  taskDefinition: ecs.Ec2TaskDefinition;
}

export class MomCluster extends Construct {
  readonly vpc: ec2.Vpc;
  readonly cluster: ecs.Cluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly securityGroup: ec2.SecurityGroup;
  readonly logGroup: logs.LogGroup;
  readonly pools: BuiltPool[] = [];
  /** the site's node pools (issue 12), set by the stack before the scheduler is built */
  nodePools?: ExecutorExtension;

  private readonly outputBucket: s3.IBucket;

  constructor(scope: Construct, id: string, props: MomClusterProps) {
    super(scope, id);
    this.outputBucket = props.outputBucket;
    const base = props.baseImage ?? DEFAULT_MOM_BASE_IMAGE;
    if (!IMAGE_REF.test(base)) throw new Error(`momBaseImage: not an image reference: ${base}`);
    if (!PINNED_IMAGE.test(base))
      Annotations.of(this).addWarningV2(
        "metaqueue:momBaseImage",
        `the MOM image is built FROM ${base}, a tag that moves: pin it with -c momBaseImage=${base.split("@")[0]}@sha256:<index digest> (docker buildx imagetools inspect ${base})`,
      );
    this.vpc = new ec2.Vpc(this, "Vpc", {
      ipAddresses: ec2.IpAddresses.cidr("10.42.0.0/16"),
      maxAzs: 2,
      natGateways: 0,
      subnetConfiguration: [{ name: "public", subnetType: ec2.SubnetType.PUBLIC, cidrMask: 20 }],
      gatewayEndpoints: {
        S3: { service: ec2.GatewayVpcEndpointAwsService.S3 },
        DynamoDB: { service: ec2.GatewayVpcEndpointAwsService.DYNAMODB },
      },
      restrictDefaultSecurityGroup: true,
    });
    this.securityGroup = new ec2.SecurityGroup(this, "TaskSg", {
      vpc: this.vpc,
      description: `metaqueue ${props.site} MOM tasks: no inbound, outbound to AWS APIs`,
      allowAllOutbound: true,
    });
    this.cluster = new ecs.Cluster(this, "Cluster", {
      vpc: this.vpc,
      enableFargateCapacityProviders: true,
    });
    this.logGroup = new logs.LogGroup(this, "Logs", {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });

    // The smallest size: each RunTask overrides cpu/memory with the job's own Fargate size.
    this.taskDefinition = new ecs.FargateTaskDefinition(this, "Task", {
      family: `metaqueue-${props.site}-mom`,
      cpu: 256,
      memoryLimitMiB: 512,
      runtimePlatform: {
        cpuArchitecture: ecs.CpuArchitecture.ARM64,
        operatingSystemFamily: ecs.OperatingSystemFamily.LINUX,
      },
    });
    this.container = this.addMom(this.taskDefinition, "arm64", props);
    this.grantMomRole(this.taskDefinition.taskRole, props);
    for (const pool of props.ec2Pools ?? DEFAULT_EC2_POOLS) this.pools.push(this.addPool(pool, props));
  }

  /** The MOM container, the same on Fargate, EC2 and ECS Anywhere but for the image's architecture. */
  addMom(
    td: ecs.TaskDefinition,
    arch: "arm64" | "x86_64",
    props: MomClusterProps,
    extra: Partial<ecs.ContainerDefinitionOptions> = {},
  ): ecs.ContainerDefinition {
    return td.addContainer("Mom", {
      containerName: MOM_CONTAINER_NAME,
      // Only the Dockerfile has to exist at synth; the image is built by `cdk deploy` (Docker
      // needed on the deploying machine). The bundle dist/mom-ecs.js comes from `npm run build`.
      image: ecs.ContainerImage.fromAsset(REPO_ROOT, {
        file: MOM_DOCKERFILE,
        platform: arch === "arm64" ? Platform.LINUX_ARM64 : Platform.LINUX_AMD64,
        buildArgs: { NODE_IMAGE: props.baseImage ?? DEFAULT_MOM_BASE_IMAGE },
        exclude: ["*", ...MOM_IMAGE_FILES.map((f) => `!${f}`)],
      }),
      essential: true,
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: "mom", logGroup: this.logGroup }),
      environment: {
        AWS_REGION: Aws.REGION,
        TABLE_NAME: props.table.tableName,
        EVENTS_QUEUE_URL: props.eventsQueue.queueUrl,
        OUTPUT_BUCKET: props.outputBucket.bucketName,
        MOM_HEARTBEAT_MS: "10000",
        // the image's unprivileged account: jobs run as it, never as the (root) MOM
        MOM_JOB_USER: MOM_JOB_USER,
      },
      // a tiny init as PID 1: forwards StopTask's SIGTERM to the MOM and reaps orphaned job processes
      linuxParameters: new ecs.LinuxParameters(td, "Linux", { initProcessEnabled: true }),
      // StopTask: SIGTERM, then SIGKILL after this; the MOM needs kill_delay + reporting time
      stopTimeout: Duration.seconds(120),
      ...extra,
    });
  }

  /**
   * An EC2 pool: instances in the public subnets (the site has no NAT; bridge-mode tasks go out
   * through the instance's public IP), IMDSv2 with a hop limit of 1 so a job in a container
   * cannot reach the instance metadata service and the instance role's credentials, encrypted
   * root volume, and a capacity provider whose managed scaling starts instances for pending
   * tasks and stops them when none run (managed termination protection keeps a busy instance).
   */
  private addPool(p: Ec2PoolProps, props: MomClusterProps): BuiltPool {
    const id = `Pool${p.name[0].toUpperCase()}${p.name.slice(1)}`;
    const hw =
      p.gpus > 0
        ? ecs.AmiHardwareType.GPU
        : p.arch === "arm64"
          ? ecs.AmiHardwareType.ARM
          : ecs.AmiHardwareType.STANDARD;
    const role = new iam.Role(this, `${id}InstanceRole`, {
      assumedBy: new iam.ServicePrincipal("ec2.amazonaws.com"),
      description: `metaqueue ${props.site} ${p.name} pool instances: the ECS agent only`,
    });
    const launchTemplate = new ec2.LaunchTemplate(this, `${id}Template`, {
      instanceType: new ec2.InstanceType(p.instanceType),
      machineImage: ecs.EcsOptimizedImage.amazonLinux2(hw),
      userData: ec2.UserData.forLinux(),
      role,
      securityGroup: this.securityGroup,
      associatePublicIpAddress: true,
      requireImdsv2: true,
      httpPutResponseHopLimit: 1,
      blockDevices: [
        { deviceName: "/dev/xvda", volume: ec2.BlockDeviceVolume.ebs(100, { encrypted: true }) },
      ],
    });
    const asg = new autoscaling.AutoScalingGroup(this, `${id}Asg`, {
      vpc: this.vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PUBLIC },
      launchTemplate,
      minCapacity: 0,
      maxCapacity: p.maxInstances,
      newInstancesProtectedFromScaleIn: true,
    });
    const capacityProvider = new ecs.AsgCapacityProvider(this, `${id}Capacity`, {
      autoScalingGroup: asg,
      capacityProviderName: `mq-${props.site}-${p.name}`,
      enableManagedScaling: true,
      enableManagedTerminationProtection: true,
      targetCapacityPercent: 100,
    });
    this.cluster.addAsgCapacityProvider(capacityProvider);
    const taskDefinition = new ecs.Ec2TaskDefinition(this, `${id}Task`, {
      family: `metaqueue-${props.site}-mom-${p.name}`,
      networkMode: ecs.NetworkMode.BRIDGE,
    });
    // a floor for placement; each RunTask sets the job's own task-level cpu/memory/GPUs
    this.addMom(taskDefinition, p.arch, props, { memoryReservationMiB: 256 });
    this.grantMomRole(taskDefinition.taskRole, props);
    return { props: p, capacityProvider, taskDefinition };
  }

  /**
   * What a MOM task may do, on Fargate and EC2 alike. No S3 right (issue 12 point 2): a MOM
   * writes a run's output only through the presigned PUT URLs the server gives it for that
   * run's keys (grantOutputGrants), so neither it nor whatever steals its credentials can
   * write another job's output.
   */
  grantMomRole(role: iam.IRole, props: MomClusterProps): void {
    // the obituary
    props.eventsQueue.grantSendMessages(role);
    // heartbeats only: PutItem of MOM#<id> items holding just the heartbeat's attributes.
    // The job runs as another uid and cannot reach these credentials (infra/mom/ecs.ts); should
    // that fail, the conditions still keep them from rewriting jobs or server objects (managers,
    // queues...). A forged beat of another MOM is not trusted: the sweeper checks its signature.
    role.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ["dynamodb:PutItem"],
        resources: [props.table.tableArn],
        conditions: {
          "ForAllValues:StringLike": { "dynamodb:LeadingKeys": [HEARTBEAT_LEADING_KEYS] },
          "ForAllValues:StringEquals": { "dynamodb:Attributes": HEARTBEAT_ATTRIBUTES },
        },
      }),
    );
  }

  /** Environment of the Lambdas that drive the executor (lambdas/ecs-env.ts reads it). */
  executorEnvironment(): Record<string, string> {
    return {
      ECS_CLUSTER: this.cluster.clusterArn,
      ECS_TASK_DEFINITION: this.taskDefinition.taskDefinitionArn,
      ECS_CONTAINER_NAME: MOM_CONTAINER_NAME,
      ECS_SUBNETS: this.vpc.publicSubnets.map((s) => s.subnetId).join(","),
      ECS_SECURITY_GROUPS: this.securityGroup.securityGroupId,
      ECS_ASSIGN_PUBLIC_IP: "true",
      ECS_EC2_POOLS: JSON.stringify(
        this.pools.map(({ props: p, capacityProvider, taskDefinition }) => ({
          name: p.name,
          capacityProvider: capacityProvider.capacityProviderName,
          taskDefinition: taskDefinition.taskDefinitionArn,
          vcpus: p.vcpus,
          memoryMiB: p.memoryMiB,
          gpus: p.gpus,
        })),
      ),
      ...this.nodePools?.environment(),
    };
  }

  /** RunTask of the MOM task definition only (and iam:PassRole of its two roles, to ECS only). */
  grantDispatch(grantee: iam.IGrantable): void {
    this.taskDefinition.grantRun(grantee);
    for (const pool of this.pools) pool.taskDefinition.grantRun(grantee);
    // node pools: their task definitions, and StopTask/ListTasks of the cluster's tasks (power-off)
    this.nodePools?.grantPower(grantee);
  }

  /**
   * What a function minting output grants needs (shared/adapters/s3/output-grant.ts): a URL it
   * presigns carries its own right, so PutObject on the output bucket's objects, nothing else
   * of S3 (grantPut would add tagging, retention and legal holds), and the bucket's name. The
   * bucket is S3-managed encrypted: no KMS grant.
   */
  grantOutputGrants(fn: iam.IGrantable & { addEnvironment(k: string, v: string): unknown }): void {
    fn.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ["s3:PutObject"],
        resources: [this.outputBucket.arnForObjects("*")],
      }),
    );
    fn.addEnvironment("OUTPUT_BUCKET", this.outputBucket.bucketName);
  }

  /**
   * The MOM push channel's URL on the per-run task definitions' MOM containers: a per-run MOM
   * connects there only to renew its run's output grant (a job outliving the first one).
   */
  connectChannel(url: string): void {
    for (const td of [this.taskDefinition, ...this.pools.map((p) => p.taskDefinition)])
      td.findContainer(MOM_CONTAINER_NAME)?.addEnvironment("MOM_CHANNEL_URL", url);
  }

  /** Find and stop this cluster's tasks (kill); nothing outside the cluster. */
  grantKill(grantee: iam.IGrantable): void {
    const stack = Stack.of(this);
    const tasks = stack.formatArn({
      service: "ecs",
      resource: "task",
      resourceName: `${this.cluster.clusterName}/*`,
    });
    const inCluster = { ArnEquals: { "ecs:cluster": this.cluster.clusterArn } };
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({
        actions: ["ecs:DescribeTasks", "ecs:StopTask"],
        resources: [tasks],
        conditions: inCluster,
      }),
    );
    // ListTasks has no task resource: it is scoped by the cluster condition
    grantee.grantPrincipal.addToPrincipalPolicy(
      new iam.PolicyStatement({ actions: ["ecs:ListTasks"], resources: ["*"], conditions: inCluster }),
    );
  }
}
