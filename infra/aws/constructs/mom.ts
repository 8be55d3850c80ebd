/**
 * Where jobs run: an ECS cluster and the MOM's Fargate task definition (one task per job run,
 * started by the scheduler's RunTask; see shared/adapters/executor/ecs.ts and infra/mom/ecs.ts).
 *
 * Network: a VPC of public subnets only, with NO NAT gateway; tasks get a public IP (outbound
 * only: their security group admits nothing inbound) to reach ECR, CloudWatch Logs and SQS.
 * A NAT gateway costs about $32/month per AZ plus $0.045/GB before the first job runs; a public
 * IPv4 address costs $0.005/hour while a task runs. Free gateway endpoints keep DynamoDB and S3
 * traffic (heartbeats, output) inside AWS. Sites that need private subnets add a NAT or
 * interface endpoints (ECR, Logs, SQS; ~$7/month/AZ each) and set assignPublicIp off.
 */
import { Aws, Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
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
/** the attributes of a heartbeat item (SiteStore.putMomBeat); the task role may write no others */
export const HEARTBEAT_ATTRIBUTES = ["pk", "sk", "momId", "jobs", "at", "nonce", "sig", "expiresAt"];
/** the heartbeat items' partitions (shared/adapters/dynamodb/table.ts keys.mom) */
export const HEARTBEAT_LEADING_KEYS = "MOM#*";
/** the only files the MOM image needs from the repository (everything else stays out of the asset) */
export const MOM_IMAGE_FILES = [MOM_DOCKERFILE, "dist/mom-ecs.js", "dist/mom-ecs.js.map"];

export interface MomClusterProps {
  site: string;
  table: dynamodb.ITable;
  eventsQueue: sqs.IQueue;
  outputBucket: s3.IBucket;
  logRetention: logs.RetentionDays;
}

export class MomCluster extends Construct {
  readonly vpc: ec2.Vpc;
  readonly cluster: ecs.Cluster;
  readonly taskDefinition: ecs.FargateTaskDefinition;
  readonly container: ecs.ContainerDefinition;
  readonly securityGroup: ec2.SecurityGroup;
  readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: MomClusterProps) {
    super(scope, id);
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
    this.container = this.taskDefinition.addContainer("Mom", {
      containerName: MOM_CONTAINER_NAME,
      // Only the Dockerfile has to exist at synth; the image is built by `cdk deploy` (Docker
      // needed on the deploying machine). The bundle dist/mom-ecs.js comes from `npm run build`.
      image: ecs.ContainerImage.fromAsset(REPO_ROOT, {
        file: MOM_DOCKERFILE,
        platform: Platform.LINUX_ARM64,
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
      },
      // a tiny init as PID 1: forwards StopTask's SIGTERM to the MOM and reaps orphaned job processes
      linuxParameters: new ecs.LinuxParameters(this, "Linux", { initProcessEnabled: true }),
      // StopTask: SIGTERM, then SIGKILL after this; the MOM needs kill_delay + reporting time
      stopTimeout: Duration.seconds(120),
    });

    const role = this.taskDefinition.taskRole;
    // output files
    props.outputBucket.grantPut(role);
    // the obituary
    props.eventsQueue.grantSendMessages(role);
    // heartbeats only: PutItem of MOM#<id> items holding just the heartbeat's attributes.
    // The job's own code runs in this task and can reach these credentials; the conditions
    // keep it from rewriting jobs or server objects (managers, queues...) through them. (A
    // forged beat of another MOM is not trusted: the sweeper checks each beat's signature.)
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
    };
  }

  /** RunTask of the MOM task definition only (and iam:PassRole of its two roles, to ECS only). */
  grantDispatch(grantee: iam.IGrantable): void {
    this.taskDefinition.grantRun(grantee);
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
