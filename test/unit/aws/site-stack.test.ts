/**
 * The site stack's template, synthesized once: the parts are built from the shared
 * definitions (table, queues, consumers), locked down (IAM scoped to this site's resources),
 * and watched (dashboard, alarms). Lambda bundling is skipped here (lambda-bundles.test.ts
 * builds and loads the handlers; cdk-synth.test.ts runs the real synth).
 */
import fs from "node:fs";
import path from "node:path";
import { App } from "aws-cdk-lib";
import { Match, Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig, type SiteConfig } from "../../../shared/config/site-config.js";
import { type QueueDef, siteQueues } from "../../../shared/adapters/sqs/queue-defs.js";
import { createTableInput, tableName } from "../../../shared/adapters/dynamodb/table.js";
import { SiteStack } from "../../../infra/aws/site-stack.js";
import { DEFAULT_MOM_BASE_IMAGE, MOM_DOCKERFILE, PINNED_IMAGE } from "../../../infra/aws/constructs/mom.js";
import { REPO_ROOT } from "../../../infra/aws/constructs/lambda.js";

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped
type Cfn = any;
type Resource = {
  Type: string;
  Properties: Record<string, Cfn>;
  DeletionPolicy?: string;
  UpdateReplacePolicy?: string;
};

const site: SiteConfig = parseConfig({
  sites: [
    {
      name: "casper",
      server: "casper-pbs",
      serverAttributes: { kill_delay: 15 },
      queues: [{ name: "casper" }],
      nodes: [{ name: "casper-n01", ncpus: 16, mem: "64gb" }],
    },
  ],
}).sites[0];

const PREFIX = "metaqueue-";
const ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_TESTPOOL";
const qdefs = siteQueues(PREFIX, site.name);
const tableDef = createTableInput(tableName(PREFIX, site.name));

let template: Template;
let resources: Record<string, Resource>;
let assetsManifest: Cfn;
let stackWarnings: string[];

const ofType = (type: string) => Object.entries(resources).filter(([, r]) => r.Type === type);
const logicalIdOf = (type: string, pred: (r: Resource) => boolean): string => {
  const found = ofType(type).filter(([, r]) => pred(r));
  expect(found, `exactly one ${type} matching`).toHaveLength(1);
  return found[0][0];
};
/** the Fargate MOM task definition (the EC2 pools have their own) */
const fargateTaskId = () =>
  logicalIdOf("AWS::ECS::TaskDefinition", (r) => r.Properties.RequiresCompatibilities?.includes("FARGATE"));
const queueId = (name: string) => logicalIdOf("AWS::SQS::Queue", (r) => r.Properties.QueueName === name);
const fnId = (what: string) =>
  logicalIdOf("AWS::Lambda::Function", (r) => r.Properties.Description === `metaqueue casper: ${what}`);
/** logical IDs a CloudFormation value refers to (Ref / Fn::GetAtt) */
function refsIn(value: unknown): string[] {
  const out: string[] = [];
  const walk = (v: unknown) => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (v && typeof v === "object") {
      for (const [k, x] of Object.entries(v)) {
        if (k === "Ref" && typeof x === "string") out.push(x);
        else if (k === "Fn::GetAtt" && Array.isArray(x)) out.push(String(x[0]));
        else walk(x);
      }
    }
  };
  walk(value);
  return out;
}
const asArray = <T>(v: T | T[]): T[] => (Array.isArray(v) ? v : [v]);

beforeAll(() => {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = new SiteStack(app, "Metaqueue-casper", {
    site,
    prefix: PREFIX,
    auth: { issuer: ISSUER, audience: ["client-abc"] },
    alarmEmail: "hpc-ops@example.org",
    managers: "alice@*",
    peerAccounts: ["111111111111"],
  });
  template = Template.fromStack(stack);
  resources = template.toJSON().Resources;
  const asm = app.synth();
  assetsManifest = JSON.parse(
    fs.readFileSync(path.join(asm.directory, "Metaqueue-casper.assets.json"), "utf8"),
  );
  stackWarnings = asm
    .getStackArtifact("Metaqueue-casper")
    .messages.filter((m) => m.level === "warning")
    .map((m) => String(m.entry.data));
}, 120_000);

describe("state", () => {
  it("the table is the shared definition: keys, attributes and every GSI with its projection", () => {
    const [[, table]] = ofType("AWS::DynamoDB::Table");
    const p = table.Properties;
    expect(p.TableName).toBe(tableDef.TableName);
    expect(p.KeySchema).toEqual(tableDef.KeySchema);
    // expiring items (stats samples, peer-message replay records) carry expiresAt
    expect(p.TimeToLiveSpecification).toEqual({ AttributeName: "expiresAt", Enabled: true });
    const byName = (a: { AttributeName?: string }[]) =>
      [...a].sort((x, y) => String(x.AttributeName).localeCompare(String(y.AttributeName)));
    expect(byName(p.AttributeDefinitions)).toEqual(byName(tableDef.AttributeDefinitions!));
    const gsis = tableDef.GlobalSecondaryIndexes!;
    expect(p.GlobalSecondaryIndexes.map((g: Cfn) => g.IndexName).sort()).toEqual(
      gsis.map((g) => g.IndexName).sort(),
    );
    for (const want of gsis) {
      const got = p.GlobalSecondaryIndexes.find((g: Cfn) => g.IndexName === want.IndexName);
      expect(got.KeySchema).toEqual(want.KeySchema);
      expect(got.Projection.ProjectionType).toBe(want.Projection!.ProjectionType);
      expect([...(got.Projection.NonKeyAttributes ?? [])].sort()).toEqual(
        [...(want.Projection!.NonKeyAttributes ?? [])].sort(),
      );
    }
  });

  it("the table is on-demand, with point-in-time recovery and deletion protection, and retained", () => {
    const [[, table]] = ofType("AWS::DynamoDB::Table");
    expect(table.Properties.BillingMode).toBe("PAY_PER_REQUEST");
    expect(table.Properties.PointInTimeRecoverySpecification).toEqual({ PointInTimeRecoveryEnabled: true });
    expect(table.Properties.DeletionProtectionEnabled).toBe(true);
    expect(table.DeletionPolicy).toBe("Retain");
    expect(table.UpdateReplacePolicy).toBe("Retain");
  });

  it("the output bucket is encrypted, private, TLS-only and retained", () => {
    const [[id, bucket]] = ofType("AWS::S3::Bucket");
    expect(bucket.Properties.BucketEncryption.ServerSideEncryptionConfiguration[0]).toMatchObject({
      ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" },
    });
    expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
      BlockPublicAcls: true,
      BlockPublicPolicy: true,
      IgnorePublicAcls: true,
      RestrictPublicBuckets: true,
    });
    expect(bucket.DeletionPolicy).toBe("Retain");
    template.hasResourceProperties("AWS::S3::BucketPolicy", {
      Bucket: { Ref: id },
      PolicyDocument: {
        Statement: Match.arrayWith([
          Match.objectLike({ Effect: "Deny", Condition: { Bool: { "aws:SecureTransport": "false" } } }),
        ]),
      },
    });
  });
});

describe("queues", () => {
  const defs: QueueDef[] = [qdefs.sched, qdefs.events, qdefs.inbox];

  it.each(defs.map((d) => [d.name, d] as const))(
    "%s: redrive to its DLQ, visibility, FIFO, SSE",
    (_n, def) => {
      const q = resources[queueId(def.name)].Properties;
      const dlqId = queueId(def.dlq!.name);
      const dlq = resources[dlqId].Properties;
      expect(q.RedrivePolicy).toEqual({
        deadLetterTargetArn: { "Fn::GetAtt": [dlqId, "Arn"] },
        maxReceiveCount: def.dlq!.maxReceiveCount,
      });
      expect(q.VisibilityTimeout).toBe(def.visibilityTimeoutSec);
      const fifo = def.name.endsWith(".fifo");
      expect(q.FifoQueue).toBe(fifo ? true : undefined);
      expect(dlq.FifoQueue).toBe(fifo ? true : undefined);
      expect(q.SqsManagedSseEnabled).toBe(true);
      expect(dlq.SqsManagedSseEnabled).toBe(true);
      expect(dlq.MessageRetentionPeriod).toBe(14 * 24 * 3600);
    },
  );

  it("every queue policy denies plain HTTP and principals of other accounts", () => {
    const policies = ofType("AWS::SQS::QueuePolicy");
    const queueIds = ofType("AWS::SQS::Queue").map(([id]) => id);
    expect(policies.flatMap(([, p]) => refsIn(p.Properties.Queues)).sort()).toEqual([...queueIds].sort());
    const inboxId = queueId(qdefs.inbox.name);
    for (const [, p] of policies) {
      if (refsIn(p.Properties.Queues).includes(inboxId)) continue; // the inbox: next test
      const st = p.Properties.PolicyDocument.Statement;
      expect(st).toEqual(
        expect.arrayContaining([
          expect.objectContaining({
            Effect: "Deny",
            Condition: { Bool: { "aws:SecureTransport": "false" } },
          }),
          expect.objectContaining({
            Effect: "Deny",
            Principal: { AWS: "*" },
            Action: "sqs:*",
            Condition: { StringNotEquals: { "aws:PrincipalAccount": { Ref: "AWS::AccountId" } } },
          }),
        ]),
      );
      // nothing is allowed by the queue policy itself
      expect(st.filter((s: Cfn) => s.Effect === "Allow")).toEqual([]);
    }
  });
});

describe("peer inbox", () => {
  it("lets only the configured peer accounts send to the inbox, and nothing else", () => {
    const inboxId = queueId(qdefs.inbox.name);
    const [, p] =
      ofType("AWS::SQS::QueuePolicy").find(([, x]) => refsIn(x.Properties.Queues).includes(inboxId)) ?? [];
    const st = p!.Properties.PolicyDocument.Statement as Cfn[];
    const deny = st.find((s) => s.Effect === "Deny" && s.Condition?.StringNotEquals);
    expect(deny.Condition.StringNotEquals["aws:PrincipalAccount"]).toEqual([
      { Ref: "AWS::AccountId" },
      "111111111111",
    ]);
    const allow = st.filter((s) => s.Effect === "Allow");
    expect(allow).toHaveLength(1);
    expect(JSON.stringify(allow[0].Principal)).toContain("111111111111");
    expect(allow[0].Action).toEqual(expect.arrayContaining(["sqs:SendMessage"]));
    expect(allow[0].Action).not.toContain("sqs:ReceiveMessage");
    expect(allow[0].Resource).toEqual({ "Fn::GetAtt": [inboxId, "Arn"] });
  });
  it("has an alarm on the inbox's dead-letter queue", () => {
    const dlqId = queueId(qdefs.inbox.dlq!.name);
    const alarms = ofType("AWS::CloudWatch::Alarm").map(([, a]) =>
      JSON.stringify(a.Properties.Dimensions ?? []),
    );
    expect(alarms.some((d) => d.includes(dlqId))).toBe(true);
  });
});

const entries = [
  "HTTP API",
  "scheduler cycles",
  "MOM reports and dependency releases",
  "periodic tick (silent MOMs, cycles)",
  "MOM push channel routes",
];

describe("lambdas", () => {
  it("five functions on Node.js 22, ARM64, with the environment lambdas/env.ts needs", () => {
    for (const what of entries) {
      const p = resources[fnId(what)].Properties;
      expect(p.Runtime).toBe("nodejs22.x");
      expect(p.Architectures).toEqual(["arm64"]);
      expect(p.Handler).toBe("index.handler");
      const env = p.Environment.Variables;
      for (const k of [
        "SITE_SHORT",
        "SITE_SERVER",
        "TABLE_NAME",
        "SCHED_QUEUE_URL",
        "EVENTS_QUEUE_URL",
        "KILL_DELAY",
        "MOM_STALE_SECONDS",
      ]) {
        expect(env[k], `${what}: ${k}`).toBeDefined();
      }
      expect(env.AWS_REGION).toBeUndefined(); // Lambda sets it
      expect(env.SITE_SHORT).toBe("casper");
      expect(env.SITE_SERVER).toBe("casper-pbs");
      expect(env.KILL_DELAY).toBe("15");
      // the MOM secret's name, never the secret (read from SSM at cold start)
      expect(env.MOM_SECRET_PARAMETER).toBe("/metaqueue/casper/mom-secret");
      expect(refsIn(env.TABLE_NAME)).toEqual([logicalIdOf("AWS::DynamoDB::Table", () => true)]);
      expect(refsIn(env.SCHED_QUEUE_URL)).toEqual([queueId(qdefs.sched.name)]);
      expect(refsIn(env.EVENTS_QUEUE_URL)).toEqual([queueId(qdefs.events.name)]);
    }
  });

  it("the scheduler, the API, the sweeper and events get the ECS executor's settings", () => {
    const clusterId = logicalIdOf("AWS::ECS::Cluster", () => true);
    const taskId = fargateTaskId();
    for (const what of [
      "scheduler cycles",
      "HTTP API",
      "periodic tick (silent MOMs, cycles)",
      "MOM reports and dependency releases",
    ]) {
      const env = resources[fnId(what)].Properties.Environment.Variables;
      expect(refsIn(env.ECS_CLUSTER)).toEqual([clusterId]);
      expect(refsIn(env.ECS_TASK_DEFINITION)).toEqual([taskId]);
      expect(env.ECS_CONTAINER_NAME).toBe("mom");
      expect(refsIn(env.ECS_SUBNETS).length).toBe(2);
      expect(env.ECS_ASSIGN_PUBLIC_IP).toBe("true");
    }
  });

  it("the sweeper may stop the cluster's tasks (a lost run) but start none; events may do neither", () => {
    const actionsOf = (what: string) => {
      const role = refsIn(resources[fnId(what)].Properties.Role)[0];
      return Object.values(resources)
        .filter((r) => r.Type === "AWS::IAM::Policy" && refsIn(r.Properties.Roles).includes(role))
        .flatMap((r) => r.Properties.PolicyDocument.Statement)
        .flatMap((st: { Action: string | string[] }) => [st.Action].flat());
    };
    const sweeper = actionsOf("periodic tick (silent MOMs, cycles)");
    expect(sweeper).toEqual(expect.arrayContaining(["ecs:StopTask", "ecs:ListTasks", "ecs:DescribeTasks"]));
    expect(sweeper).not.toContain("ecs:RunTask");
    const events = actionsOf("MOM reports and dependency releases");
    expect(events.filter((a) => a.startsWith("ecs:"))).toEqual([]);
  });

  it.each([
    ["sched", "scheduler cycles"],
    ["events", "MOM reports and dependency releases"],
  ] as const)("the %s queue feeds the %s function with the consumer definition", (q, what) => {
    const def = qdefs[q];
    const id = logicalIdOf(
      "AWS::Lambda::EventSourceMapping",
      (r) => refsIn(r.Properties.EventSourceArn)[0] === queueId(def.name),
    );
    const p = resources[id].Properties;
    expect(refsIn(p.FunctionName)).toEqual([fnId(what)]);
    expect(p.BatchSize).toBe(def.consumer.batchSize);
    expect(p.FunctionResponseTypes).toEqual(["ReportBatchItemFailures"]);
    const windowSec = def.fifo ? 0 : Math.round(def.consumer.maxBatchingWindowMs / 1000);
    expect(p.MaximumBatchingWindowInSeconds ?? 0).toBe(windowSec);
    if (def.consumer.concurrency >= 2)
      expect(p.ScalingConfig).toEqual({ MaximumConcurrency: def.consumer.concurrency });
    // the function finishes well inside the queue's visibility timeout
    expect(resources[fnId(what)].Properties.Timeout).toBeLessThanOrEqual(def.visibilityTimeoutSec);
  });

  it("the sweeper runs every minute", () => {
    template.hasResourceProperties("AWS::Events::Rule", {
      ScheduleExpression: "rate(1 minute)",
      State: "ENABLED",
      Targets: [
        Match.objectLike({ Arn: { "Fn::GetAtt": [fnId("periodic tick (silent MOMs, cycles)"), "Arn"] } }),
      ],
    });
  });
});

describe("IAM", () => {
  const statements = () =>
    ofType("AWS::IAM::Policy").flatMap(([id, p]) =>
      (p.Properties.PolicyDocument.Statement as Cfn[]).map((s) => ({
        policy: id,
        roles: refsIn(p.Properties.Roles),
        ...s,
      })),
    );

  it("every function may read the MOM secret's parameter, and no other", () => {
    const reads = statements().filter((s) => [s.Action].flat().includes("ssm:GetParameter"));
    const fnRoles = entries.map((what) => refsIn(resources[fnId(what)].Properties.Role)[0]);
    expect(new Set(reads.flatMap((s) => s.roles))).toEqual(new Set(fnRoles));
    for (const s of reads)
      expect(JSON.stringify(s.Resource)).toMatch(/:parameter\/metaqueue\/casper\/mom-secret"\]/);
  });

  it("DynamoDB and SQS actions name only this site's table (and its indexes) and queues, never *", () => {
    const tableId = logicalIdOf("AWS::DynamoDB::Table", () => true);
    const queueIds = new Set(ofType("AWS::SQS::Queue").map(([id]) => id));
    let checked = 0;
    for (const s of statements()) {
      const actions = asArray(s.Action as string | string[]);
      if (!actions.some((a) => a.startsWith("dynamodb:") || a.startsWith("sqs:"))) continue;
      checked++;
      expect(actions.filter((a) => a === "dynamodb:*" || a === "sqs:*")).toEqual([]);
      for (const r of asArray(s.Resource)) {
        expect(r, `statement ${JSON.stringify(s)}`).not.toBe("*");
        const refs = refsIn(r);
        expect(refs.length).toBeGreaterThan(0);
        for (const ref of refs) {
          if (actions.some((a) => a.startsWith("dynamodb:"))) expect(ref).toBe(tableId);
          else expect(queueIds.has(ref)).toBe(true);
        }
      }
    }
    expect(checked).toBeGreaterThan(4);
  });

  it("the table grant covers its indexes ({arn}/index/*) and nothing else", () => {
    const tableId = logicalIdOf("AWS::DynamoDB::Table", () => true);
    const ddb = statements().filter((s) =>
      asArray(s.Action).some((a: string) => a.startsWith("dynamodb:Query")),
    );
    expect(ddb.length).toBeGreaterThan(0);
    for (const s of ddb) {
      expect(s.Resource).toEqual(
        expect.arrayContaining([
          { "Fn::GetAtt": [tableId, "Arn"] },
          { "Fn::Join": ["", [{ "Fn::GetAtt": [tableId, "Arn"] }, "/index/*"]] },
        ]),
      );
    }
  });

  it("only the scheduler may RunTask, only the MOM task definitions, passing only their roles to ECS", () => {
    const taskIds = Object.keys(resources).filter((k) => resources[k].Type === "AWS::ECS::TaskDefinition");
    expect(taskIds).toHaveLength(3); // Fargate, and the gpu and large EC2 pools
    const run = statements().filter((s) => asArray(s.Action).includes("ecs:RunTask"));
    const schedRole = refsIn(resources[fnId("scheduler cycles")].Properties.Role)[0];
    for (const s of run) expect(s.roles).toEqual([schedRole]);
    expect(run.flatMap((s) => refsIn(s.Resource)).sort()).toEqual([...taskIds].sort());
    const pass = statements().filter((s) => asArray(s.Action).includes("iam:PassRole"));
    for (const s of pass) {
      expect(s.roles).toEqual([schedRole]);
      expect(s.Condition).toEqual({ StringLike: { "iam:PassedToService": "ecs-tasks.amazonaws.com" } });
    }
    const roles = taskIds.flatMap((id) => [
      ...refsIn(resources[id].Properties.TaskRoleArn),
      ...refsIn(resources[id].Properties.ExecutionRoleArn),
    ]);
    expect(pass.flatMap((s) => refsIn(s.Resource)).sort()).toEqual(roles.sort());
  });

  it("only the API (qdel) and the sweeper (a lost run) may find and stop tasks, and only in this site's cluster", () => {
    const clusterId = logicalIdOf("AWS::ECS::Cluster", () => true);
    const roleOf = (what: string) => refsIn(resources[fnId(what)].Properties.Role)[0];
    const allowed = [roleOf("HTTP API"), roleOf("periodic tick (silent MOMs, cycles)")];
    const ecs = statements().filter((s) =>
      asArray(s.Action).some((a: string) => /^ecs:(StopTask|ListTasks|DescribeTasks)$/.test(a)),
    );
    expect(ecs.length).toBeGreaterThan(0);
    for (const s of ecs) {
      expect(allowed).toEqual(expect.arrayContaining(s.roles));
      expect(s.Condition).toEqual({ ArnEquals: { "ecs:cluster": { "Fn::GetAtt": [clusterId, "Arn"] } } });
      if (asArray(s.Action).includes("ecs:StopTask")) expect(refsIn(s.Resource)).toContain(clusterId);
    }
  });

  it("only the API may read job output: s3 Get/List on the output bucket, named in its OUTPUT_BUCKET", () => {
    const [[bucketId]] = ofType("AWS::S3::Bucket");
    const apiRole = refsIn(resources[fnId("HTTP API")].Properties.Role)[0];
    const reads = statements().filter((s) => asArray(s.Action).some((a: string) => /^s3:(Get|List)/.test(a)));
    expect(reads.length).toBeGreaterThan(0);
    for (const s of reads) {
      expect(s.roles).toEqual([apiRole]);
      expect(new Set(refsIn(s.Resource))).toEqual(new Set([bucketId]));
    }
    expect(refsIn(resources[fnId("HTTP API")].Properties.Environment.Variables.OUTPUT_BUCKET)).toEqual([
      bucketId,
    ]);
  });

  it("the MOM task role: send to the events queue, PutItem of heartbeat items only, no S3 right", () => {
    const taskRole = refsIn(resources[fargateTaskId()].Properties.TaskRoleArn)[0];
    const mine = statements().filter((s) => s.roles.includes(taskRole));
    const actions = mine.flatMap((s) => asArray(s.Action as string | string[]));
    expect(actions).toEqual(expect.arrayContaining(["sqs:SendMessage", "dynamodb:PutItem"]));
    expect(actions.filter((a) => a.startsWith("dynamodb:"))).toEqual(["dynamodb:PutItem"]);
    // output goes through the presigned URLs of its run's grant (issue 12 point 2)
    expect(actions.filter((a) => a.startsWith("s3:") || a === "*")).toEqual([]);
    const put = mine.find((s) => asArray(s.Action).includes("dynamodb:PutItem"))!;
    // heartbeat partitions only (never SRV, where the server objects are), the beat's own attributes
    expect(put.Condition).toEqual({
      "ForAllValues:StringLike": { "dynamodb:LeadingKeys": ["MOM#*"] },
      "ForAllValues:StringEquals": {
        "dynamodb:Attributes": ["pk", "sk", "momId", "jobs", "at", "nonce", "sig", "expiresAt"],
      },
    });
    const send = mine.find((s) => asArray(s.Action).includes("sqs:SendMessage"))!;
    expect(refsIn(send.Resource)).toEqual([queueId(qdefs.events.name)]);
  });
});

describe("MOM on ECS", () => {
  it("the task definition is Fargate, ARM64, the image asset from Dockerfile.mom, logs to a retained log group", () => {
    const task = resources[fargateTaskId()].Properties;
    expect(task.RequiresCompatibilities).toEqual(["FARGATE"]);
    expect(task.NetworkMode).toBe("awsvpc");
    expect(task.RuntimePlatform).toEqual({ CpuArchitecture: "ARM64", OperatingSystemFamily: "LINUX" });
    const [c] = task.ContainerDefinitions;
    expect(c.Name).toBe("mom");
    expect(c.LinuxParameters.InitProcessEnabled).toBe(true);
    expect(c.LogConfiguration.LogDriver).toBe("awslogs");
    const logGroup = resources[refsIn(c.LogConfiguration.Options["awslogs-group"])[0]];
    expect(logGroup.Properties.RetentionInDays).toBe(30);
    // one image per architecture: arm64 (Fargate, the large pool), amd64 (the GPU pool)
    const images = Object.entries(assetsManifest.dockerImages) as [string, Cfn][];
    expect(images.map(([, i]) => i.source.platform).sort()).toEqual(["linux/amd64", "linux/arm64"]);
    const [hash, image] = images.find(([, i]) => i.source.platform === "linux/arm64")!;
    expect(image.source).toMatchObject({ dockerFile: MOM_DOCKERFILE, platform: "linux/arm64" });
    // the base image is a build argument, to be pinned by digest at deploy; a tag is warned about
    expect(image.source.dockerBuildArgs).toEqual({ NODE_IMAGE: DEFAULT_MOM_BASE_IMAGE });
    expect(stackWarnings.some((w) => w.includes("momBaseImage") && w.includes("a tag that moves"))).toBe(
      true,
    );
    expect(PINNED_IMAGE.test(`node:22-slim@sha256:${"a".repeat(64)}`)).toBe(true);
    expect(PINNED_IMAGE.test("node:22-slim")).toBe(false);
    expect(fs.readFileSync(path.join(REPO_ROOT, MOM_DOCKERFILE), "utf8")).toMatch(/^FROM \$\{NODE_IMAGE\}$/m);
    expect(JSON.stringify(c.Image)).toContain(`container-assets-\${AWS::AccountId}`);
    expect(JSON.stringify(c.Image)).toContain(`:${hash}`);
    const env = Object.fromEntries(c.Environment.map((e: Cfn) => [e.Name, e.Value]));
    expect(refsIn(env.TABLE_NAME)).toEqual([logicalIdOf("AWS::DynamoDB::Table", () => true)]);
    expect(refsIn(env.EVENTS_QUEUE_URL)).toEqual([queueId(qdefs.events.name)]);
    expect(refsIn(env.OUTPUT_BUCKET)).toEqual([logicalIdOf("AWS::S3::Bucket", () => true)]);
    // jobs run as the image's unprivileged account, not as the root MOM (issue 12)
    expect(env.MOM_JOB_USER).toBe("node");
    expect(fs.readFileSync(path.join(REPO_ROOT, MOM_DOCKERFILE), "utf8")).toMatch(/MOM_JOB_USER=node\b/);
    expect(fs.readFileSync(path.join(REPO_ROOT, MOM_DOCKERFILE), "utf8")).not.toMatch(/^USER /m);
  });

  it("a VPC of public subnets without NAT, free gateway endpoints for DynamoDB and S3, no inbound", () => {
    expect(ofType("AWS::EC2::NatGateway")).toHaveLength(0);
    const subnets = ofType("AWS::EC2::Subnet");
    expect(subnets).toHaveLength(2);
    for (const [, s] of subnets) expect(s.Properties.MapPublicIpOnLaunch).toBe(true);
    const endpoints = ofType("AWS::EC2::VPCEndpoint").map(([, e]) =>
      JSON.stringify(e.Properties.ServiceName),
    );
    expect(endpoints.some((n) => n.includes(".s3"))).toBe(true);
    expect(endpoints.some((n) => n.includes(".dynamodb"))).toBe(true);
    const [[, sg]] = ofType("AWS::EC2::SecurityGroup");
    expect(sg.Properties.SecurityGroupIngress).toBeUndefined();
  });

  it("EC2 pools for GPU and large jobs: from zero instances, scaled by ECS, jobs kept from the instance role", () => {
    const providers = ofType("AWS::ECS::CapacityProvider");
    expect(providers.map(([, p]) => p.Properties.Name).sort()).toEqual(["mq-casper-gpu", "mq-casper-large"]);
    const assoc = ofType("AWS::ECS::ClusterCapacityProviderAssociations")
      .flatMap(([, a]) => a.Properties.CapacityProviders)
      .map((x: unknown) => JSON.stringify(x));
    for (const [id, p] of providers) {
      const auto = p.Properties.AutoScalingGroupProvider;
      expect(auto.ManagedScaling).toMatchObject({ Status: "ENABLED", TargetCapacity: 100 });
      expect(auto.ManagedTerminationProtection).toBe("ENABLED");
      expect(assoc.some((a) => a.includes(id))).toBe(true);
      const asg = resources[refsIn(auto.AutoScalingGroupArn)[0]].Properties;
      // an idle pool has no instance: nothing billed until a job needs one
      expect(asg.MinSize).toBe("0");
      const lt = resources[refsIn(asg.LaunchTemplate.LaunchTemplateId)[0]].Properties.LaunchTemplateData;
      // IMDSv2, one hop: a job's container cannot reach the instance role's credentials
      expect(lt.MetadataOptions).toMatchObject({ HttpTokens: "required", HttpPutResponseHopLimit: 1 });
      expect(lt.BlockDeviceMappings[0].Ebs.Encrypted).toBe(true);
      expect(JSON.stringify(lt.UserData)).toContain("ECS_CLUSTER=");
    }
    const gpuAsg =
      resources[
        refsIn(
          providers.find(([, p]) => p.Properties.Name === "mq-casper-gpu")![1].Properties
            .AutoScalingGroupProvider.AutoScalingGroupArn,
        )[0]
      ].Properties;
    const gpuLt = resources[refsIn(gpuAsg.LaunchTemplate.LaunchTemplateId)[0]].Properties.LaunchTemplateData;
    expect(gpuLt.InstanceType).toBe("g5.2xlarge");
    expect(JSON.stringify(gpuLt.ImageId)).toContain("gpu");
    // the executor learns the pools from its environment
    const env = resources[fnId("scheduler cycles")].Properties.Environment.Variables;
    const pools = JSON.stringify(env.ECS_EC2_POOLS);
    expect(pools).toContain('\\"gpus\\":1');
    for (const [id] of providers) expect(pools).toContain(id);
    for (const [id, t] of ofType("AWS::ECS::TaskDefinition")) {
      if (t.Properties.RequiresCompatibilities?.includes("FARGATE")) continue;
      expect(t.Properties.NetworkMode).toBe("bridge");
      expect(pools).toContain(id);
    }
  });
});

describe("API", () => {
  it("an HTTP API whose every route but the dashboard's files and preflights needs a JWT", () => {
    // the HTTP API (the MOM channel's WebSocket API is test/unit/aws/mom-channel-stack.test.ts's)
    const [[apiId, api]] = ofType("AWS::ApiGatewayV2::Api").filter(
      ([, a]) => a.Properties.ProtocolType === "HTTP",
    );
    expect(api.Properties.ProtocolType).toBe("HTTP");
    const authId = logicalIdOf("AWS::ApiGatewayV2::Authorizer", () => true);
    expect(resources[authId].Properties).toMatchObject({
      AuthorizerType: "JWT",
      IdentitySource: ["$request.header.Authorization"],
      JwtConfiguration: { Issuer: ISSUER, Audience: ["client-abc"] },
    });
    const routes = ofType("AWS::ApiGatewayV2::Route").filter(
      ([, r]) => refsIn(r.Properties.ApiId)[0] === apiId,
    );
    expect(routes.length).toBeGreaterThan(0);
    const open = new Set(["GET /", "GET /ui", "GET /ui/{proxy+}", "OPTIONS /{proxy+}"]);
    const seenOpen: string[] = [];
    for (const [, r] of routes) {
      expect(refsIn(r.Properties.ApiId)).toEqual([apiId]);
      if (open.has(r.Properties.RouteKey)) {
        seenOpen.push(r.Properties.RouteKey);
        expect(r.Properties.AuthorizationType ?? "NONE").toBe("NONE");
        continue;
      }
      expect(r.Properties.AuthorizationType).toBe("JWT");
      expect(r.Properties.AuthorizerId).toEqual({ Ref: authId });
    }
    expect(seenOpen.sort()).toEqual([...open].sort());
    template.hasResourceProperties("AWS::ApiGatewayV2::Integration", {
      IntegrationType: "AWS_PROXY",
      IntegrationUri: { "Fn::GetAtt": [fnId("HTTP API"), "Arn"] },
    });
  });
});

describe("API access logs", () => {
  it("the default stage logs every request (who, what, status, latency) as JSON to a log group that expires", () => {
    const [[, stage]] = ofType("AWS::ApiGatewayV2::Stage");
    const settings = stage.Properties.AccessLogSettings;
    expect(settings).toBeDefined();
    const [groupId] = refsIn(settings.DestinationArn);
    expect(resources[groupId].Type).toBe("AWS::Logs::LogGroup");
    expect(resources[groupId].Properties.RetentionInDays).toBeGreaterThan(0);
    const format = JSON.parse(settings.Format);
    for (const k of ["requestId", "ip", "sub", "method", "path", "status", "latencyMs"])
      expect(format[k], k).toMatch(/^\$context\./);
  });
});

describe("seed", () => {
  it("a custom resource writes the site's server objects at deploy, with PutItem on this table only", () => {
    const tableId = logicalIdOf("AWS::DynamoDB::Table", () => true);
    const [[, seed]] = ofType("Custom::MetaqueueSiteSeed");
    expect(seed.Properties.TableName).toEqual({ Ref: tableId });
    expect(JSON.parse(seed.Properties.Site)).toEqual(site);
    expect(seed.Properties.Managers).toBe("alice@*");
    const seedFn = fnId("seed server objects from the site configuration");
    const role = refsIn(resources[seedFn].Properties.Role)[0];
    const st = ofType("AWS::IAM::Policy")
      .filter(([, p]) => refsIn(p.Properties.Roles).includes(role))
      .flatMap(([, p]) => p.Properties.PolicyDocument.Statement as Cfn[]);
    const logsId = refsIn(resources[seedFn].Properties.LoggingConfig)[0];
    expect(st).toEqual([
      // its own log group, and nothing else of CloudWatch Logs (no AWSLambdaBasicExecutionRole)
      expect.objectContaining({
        Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
        Resource: { "Fn::GetAtt": [logsId, "Arn"] },
      }),
      expect.objectContaining({ Action: "dynamodb:PutItem", Resource: { "Fn::GetAtt": [tableId, "Arn"] } }),
    ]);
    expect(resources[role].Properties.ManagedPolicyArns).toBeUndefined();
  });
});

describe("watch", () => {
  it("the dashboard shows every queue and DLQ, every function, the table", () => {
    const [[, dash]] = ofType("AWS::CloudWatch::Dashboard");
    expect(dash.Properties.DashboardName).toBe("metaqueue-casper");
    const body = JSON.stringify(dash.Properties.DashboardBody);
    for (const def of [qdefs.sched, qdefs.events]) {
      expect(body).toContain(`${def.name}: oldest message age`);
      expect(body).toContain(`DLQ ${def.dlq!.name}: oldest message age`);
    }
    for (const m of [
      "ApproximateAgeOfOldestMessage",
      "ApproximateNumberOfMessagesVisible",
      "Errors",
      "Throttles",
      "Duration",
      "ConsumedWriteCapacityUnits",
      "WriteThrottleEvents",
    ]) {
      expect(body).toContain(`\\"${m}\\"`);
    }
    for (const what of [
      "HTTP API",
      "scheduler cycles",
      "MOM reports and dependency releases",
      "periodic tick (silent MOMs, cycles)",
    ]) {
      expect(body).toContain(fnId(what));
    }
  });

  it("an alarm on each DLQ having messages, each queue's oldest message age, each function's errors and throttles", () => {
    const alarms = ofType("AWS::CloudWatch::Alarm").map(([, a]) => a.Properties);
    const topicId = logicalIdOf("AWS::SNS::Topic", () => true);
    for (const a of alarms) expect(a.AlarmActions).toEqual([{ Ref: topicId }]);
    const on = (metric: string, dimRef: string) =>
      alarms.filter((a) => a.MetricName === metric && refsIn(a.Dimensions).includes(dimRef));
    for (const def of [qdefs.sched, qdefs.events]) {
      const [dlqAlarm] = on("ApproximateNumberOfMessagesVisible", queueId(def.dlq!.name));
      expect(dlqAlarm).toMatchObject({
        Threshold: 0,
        ComparisonOperator: "GreaterThanThreshold",
        TreatMissingData: "notBreaching",
      });
      const [ageAlarm] = on("ApproximateAgeOfOldestMessage", queueId(def.name));
      expect(ageAlarm).toMatchObject({ Threshold: 300, ComparisonOperator: "GreaterThanThreshold" });
    }
    for (const what of [
      "HTTP API",
      "scheduler cycles",
      "MOM reports and dependency releases",
      "periodic tick (silent MOMs, cycles)",
    ]) {
      for (const m of ["Errors", "Throttles"]) {
        const [a] = on(m, fnId(what));
        expect(a, `${what} ${m}`).toMatchObject({ Threshold: 0, ComparisonOperator: "GreaterThanThreshold" });
      }
    }
    template.hasResourceProperties("AWS::SNS::Subscription", {
      Protocol: "email",
      Endpoint: "hpc-ops@example.org",
    });
  });
});
