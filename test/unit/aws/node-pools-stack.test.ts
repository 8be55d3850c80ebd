/**
 * The site stack with node pools (issue 12): a task definition per pool (Fargate, EC2 on an
 * Auto Scaling group capacity provider from 0, EXTERNAL for ECS Anywhere), the scheduler allowed
 * to start only those task definitions and to stop tasks of its cluster only, the pools'
 * description in an SSM parameter the functions that need it read (2,000 nodes fit), and
 * cdk-nag clean.
 */
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { AwsSolutionsChecks } from "cdk-nag";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../../shared/config/site-config.js";
import { SiteStack } from "../../../infra/aws/site-stack.js";
import { decodeNodePools } from "../../../shared/config/node-pools-doc.js";

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped
type Cfn = any;

const config = (nodePools: unknown[], nodes: unknown[]) =>
  parseConfig({
    sites: [
      {
        name: "casper",
        server: "casper-pbs",
        queues: [{ name: "casper" }],
        nodes: [{ name: "casper-n01", ncpus: 16 }, ...nodes],
        nodePools,
      },
    ],
  }).sites[0];

const site = config(
  [
    { name: "cpu", kind: "fargate", idleOff: 300 },
    { name: "gpu", kind: "ec2", instanceTypes: ["g5.xlarge"] },
    { name: "onprem", kind: "external" },
  ],
  [
    { name: "f1", ncpus: 1, mem: "2gb", pool: "cpu" },
    { name: "f2", ncpus: 4, mem: "16gb", pool: "cpu" },
    { name: "g1", ncpus: 4, mem: "15gb", ngpus: 1, pool: "gpu" },
    { name: "g2", ncpus: 4, mem: "15gb", ngpus: 1, pool: "gpu" },
    { name: "g3", ncpus: 2, mem: "8gb", ngpus: 1, pool: "gpu" },
    { name: "h1", ncpus: 64, mem: "256gb", pool: "onprem" },
  ],
);

function stackOf(s = site): SiteStack {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  return new SiteStack(app, "Metaqueue-casper", {
    site: s,
    auth: { issuer: "https://issuer.example.org", audience: ["x"] },
    alarmEmail: "hpc-ops@example.org",
  });
}

let stack: SiteStack;
let resources: Record<string, { Type: string; Properties: Cfn }>;
const ofType = (t: string) => Object.entries(resources).filter(([, r]) => r.Type === t);
const byFamily = (family: string) => {
  const found = ofType("AWS::ECS::TaskDefinition").filter(([, r]) => r.Properties.Family === family);
  expect(found, family).toHaveLength(1);
  return found[0];
};
const fnEnv = (what: string) =>
  ofType("AWS::Lambda::Function").find(
    ([, r]) => r.Properties.Description === `metaqueue casper: ${what}`,
  )?.[1].Properties.Environment.Variables;

/** A CloudFormation string value as text: a reference becomes REF(id), an attribute ATT(id.attr). */
function cfnText(v: Cfn): string {
  if (typeof v === "string") return v;
  if (v.Ref) return `REF(${v.Ref})`;
  if (v["Fn::GetAtt"]) return `ATT(${v["Fn::GetAtt"].join(".")})`;
  if (v["Fn::Join"]) return v["Fn::Join"][1].map(cfnText).join(v["Fn::Join"][0]);
  throw new Error(`cannot read ${JSON.stringify(v)}`);
}

beforeAll(() => {
  stack = stackOf();
  resources = Template.fromStack(stack).toJSON().Resources;
}, 120_000);

describe("node pools in the site stack", () => {
  it("a task definition per pool: Fargate at the largest node's size, EC2 bridge, EXTERNAL", () => {
    const [, cpu] = byFamily("metaqueue-casper-node-cpu");
    expect(cpu.Properties).toMatchObject({
      RequiresCompatibilities: ["FARGATE"],
      Cpu: "4096",
      Memory: "16384",
      NetworkMode: "awsvpc",
      RuntimePlatform: { CpuArchitecture: "ARM64" },
    });
    const [, gpu] = byFamily("metaqueue-casper-node-gpu");
    expect(gpu.Properties).toMatchObject({ RequiresCompatibilities: ["EC2"], NetworkMode: "bridge" });
    const [, onprem] = byFamily("metaqueue-casper-node-onprem");
    expect(onprem.Properties).toMatchObject({ RequiresCompatibilities: ["EXTERNAL"], NetworkMode: "bridge" });
    // each runs the MOM container (node mode is chosen by the RunTask overrides)
    for (const td of [cpu, gpu, onprem])
      expect(td.Properties.ContainerDefinitions.map((c: Cfn) => c.Name)).toEqual(["mom"]);
  });

  it("each pool's MOM container is told the push channel's URL; the scheduler may push to it", () => {
    const [apiId] = ofType("AWS::ApiGatewayV2::Api").find(
      ([, r]) => r.Properties.ProtocolType === "WEBSOCKET",
    ) as [string, unknown];
    for (const pool of ["cpu", "gpu", "onprem"]) {
      const [, td] = byFamily(`metaqueue-casper-node-${pool}`);
      const env = td.Properties.ContainerDefinitions[0].Environment as { Name: string; Value: unknown }[];
      const url = JSON.stringify(env.find((kv) => kv.Name === "MOM_CHANNEL_URL")?.Value);
      expect(url, pool).toContain(`{"Ref":"${apiId}"}`);
      expect(url, pool).toMatch(/wss:\/\/.*\/moms/);
    }
    const sched = fnEnv("scheduler cycles");
    expect(JSON.stringify(sched.MOM_CHANNEL_ENDPOINT)).toContain(`{"Ref":"${apiId}"}`);
    const role = JSON.stringify(
      ofType("AWS::IAM::Policy")
        .filter(([id]) => id.includes("Scheduler"))
        .map(([, r]) => r.Properties),
    );
    expect(role).toContain("execute-api:ManageConnections");
  });

  it("the EC2 pool: an Auto Scaling group from 0 to one instance per node, GPU AMI, a managed-scaling capacity provider", () => {
    const asgs = ofType("AWS::AutoScaling::AutoScalingGroup").filter(([id]) => id.includes("NodePools"));
    expect(asgs).toHaveLength(1);
    const [, asg] = asgs[0];
    expect(asg.Properties).toMatchObject({ MinSize: "0", MaxSize: "3" });
    const providers = ofType("AWS::ECS::CapacityProvider").filter(
      ([, r]) => r.Properties.Name === "mq-casper-node-gpu",
    );
    expect(providers).toHaveLength(1);
    expect(providers[0][1].Properties.AutoScalingGroupProvider).toMatchObject({
      ManagedScaling: { Status: "ENABLED", TargetCapacity: 100 },
      ManagedTerminationProtection: "ENABLED",
    });
    const templates = ofType("AWS::EC2::LaunchTemplate").filter(([id]) => id.includes("NodePools"));
    expect(templates).toHaveLength(1);
    const data = templates[0][1].Properties.LaunchTemplateData;
    expect(data).toMatchObject({
      InstanceType: "g5.xlarge",
      MetadataOptions: { HttpTokens: "required", HttpPutResponseHopLimit: 1 },
    });
    // the image id is the ECS GPU-optimized AMI's SSM parameter
    expect(
      JSON.stringify(resources) + JSON.stringify(Template.fromStack(stack).toJSON().Parameters),
    ).toContain("/aws/service/ecs/optimized-ami/amazon-linux-2/gpu/recommended/image_id");
    // the cluster uses it
    const assoc = ofType("AWS::ECS::ClusterCapacityProviderAssociations");
    expect(JSON.stringify(assoc)).toContain(providers[0][0]);
  });

  it("the scheduler may RunTask the pools' task definitions, PassRole only their roles, stop only its cluster's tasks", () => {
    const policies = ofType("AWS::IAM::Policy").filter(([, r]) =>
      JSON.stringify(r.Properties.Roles).includes("SchedulerScheduler"),
    );
    const statements: Cfn[] = policies.flatMap(([, p]) => p.Properties.PolicyDocument.Statement);
    const acts = (s: Cfn) => [s.Action].flat();
    const runs = statements.filter((s) => acts(s).includes("ecs:RunTask"));
    const runTargets = JSON.stringify(runs.map((s) => s.Resource));
    for (const pool of ["cpu", "gpu", "onprem"]) {
      const [id] = byFamily(`metaqueue-casper-node-${pool}`);
      expect(runTargets, pool).toContain(id);
    }
    // no RunTask of anything but task definitions
    for (const s of runs) expect(JSON.stringify(s.Resource)).not.toMatch(/"\*"/);
    const pass = statements.filter((s) => acts(s).includes("iam:PassRole"));
    const passTargets = JSON.stringify(pass.map((s) => s.Resource));
    for (const pool of ["cpu", "gpu", "onprem"]) {
      const [, td] = byFamily(`metaqueue-casper-node-${pool}`);
      expect(passTargets).toContain(td.Properties.TaskRoleArn["Fn::GetAtt"][0]);
      expect(passTargets).toContain(td.Properties.ExecutionRoleArn["Fn::GetAtt"][0]);
    }
    for (const s of pass) expect(s.Resource).not.toBe("*");
    const stop = statements.find((s) => acts(s).includes("ecs:StopTask"));
    const list = statements.find((s) => acts(s).includes("ecs:ListTasks"));
    for (const s of [stop, list]) expect(s?.Condition?.ArnEquals?.["ecs:cluster"]).toBeDefined();
  });

  it("no pool's MOM task role may write to S3: output goes through each run's grant (issue 12 point 2)", () => {
    const taskRoles = ofType("AWS::ECS::TaskDefinition").map(
      ([, r]) => r.Properties.TaskRoleArn["Fn::GetAtt"][0],
    );
    // the per-run Fargate definition, the two default EC2 pools', and the three node pools'
    expect(taskRoles.length).toBe(6);
    const theirs = ofType("AWS::IAM::Policy").filter(([, r]) =>
      (r.Properties.Roles as Cfn[]).some((x) => taskRoles.includes(x.Ref)),
    );
    expect(theirs.length).toBeGreaterThan(0);
    const actions = theirs.flatMap(([, p]) =>
      p.Properties.PolicyDocument.Statement.flatMap((st: Cfn) => [st.Action].flat()),
    );
    expect(actions.filter((a: string) => a.startsWith("s3:") || a === "*")).toEqual([]);
  });

  it("the pools are in an SSM parameter the functions that need them read; none in their environment", () => {
    const params = ofType("AWS::SSM::Parameter").filter(([, r]) =>
      String(r.Properties.Description).includes("node pools"),
    );
    expect(params).toHaveLength(1);
    const [paramId, param] = params[0];
    expect(param.Properties.Tier).toBe("Standard");
    const doc = decodeNodePools(cfnText(param.Properties.Value));
    expect(doc.policies).toEqual([
      { name: "cpu", idleOff: 300, bootTimeout: 300, startsPerMinute: 10 },
      { name: "gpu", idleOff: 600, bootTimeout: 300, startsPerMinute: 10 },
      { name: "onprem", idleOff: 600, bootTimeout: 300, startsPerMinute: 10 },
    ]);
    expect(doc.ecs.nodes).toEqual([
      ["f1", "cpu", 1, 2048, 0],
      ["f2", "cpu", 4, 16384, 0],
      ["g1", "gpu", 4, 15360, 1],
      ["g2", "gpu", 4, 15360, 1],
      ["g3", "gpu", 2, 8192, 1],
      ["h1", "onprem", 64, 262144, 0],
    ]);
    // the pools' task definitions and the EC2 pool's capacity provider, by reference
    const [providerId] = ofType("AWS::ECS::CapacityProvider").find(
      ([, r]) => r.Properties.Name === "mq-casper-node-gpu",
    ) as [string, unknown];
    expect(doc.ecs.pools.map((p) => [p.name, p.kind, p.taskDefinition, p.capacityProvider])).toEqual([
      ["cpu", "fargate", `REF(${byFamily("metaqueue-casper-node-cpu")[0]})`, undefined],
      ["gpu", "ec2", `REF(${byFamily("metaqueue-casper-node-gpu")[0]})`, `REF(${providerId})`],
      ["onprem", "external", `REF(${byFamily("metaqueue-casper-node-onprem")[0]})`, undefined],
    ]);
    const readers = [
      "scheduler cycles",
      "MOM reports and dependency releases",
      "periodic tick (silent MOMs, cycles)",
      "HTTP API",
    ];
    for (const what of readers) {
      const env = fnEnv(what);
      expect(env, what).toBeDefined();
      expect(env.NODE_POOLS_PARAMETER, what).toEqual({ Ref: paramId });
      expect(env.NODE_POOLS, what).toBeUndefined();
      expect(env.ECS_NODE_POOLS, what).toBeUndefined();
    }
    // the channel's routes never read the pools: no variable, no grant
    expect(fnEnv("MOM push channel routes").NODE_POOLS_PARAMETER).toBeUndefined();
    // GetParameter of it, granted to exactly those functions' roles
    const roleOf = (what: string) =>
      ofType("AWS::Lambda::Function").find(
        ([, r]) => r.Properties.Description === `metaqueue casper: ${what}`,
      )?.[1].Properties.Role["Fn::GetAtt"][0];
    const granted = ofType("AWS::IAM::Policy")
      .filter(([, r]) =>
        r.Properties.PolicyDocument.Statement.some(
          (st: Cfn) =>
            [st.Action].flat().includes("ssm:GetParameter") && JSON.stringify(st.Resource).includes(paramId),
        ),
      )
      .flatMap(([, r]) => r.Properties.Roles.map((x: Cfn) => x.Ref));
    expect(new Set(granted)).toEqual(new Set(readers.map(roleOf)));
    expect(granted).not.toContain(roleOf("MOM push channel routes"));
  });

  it("a site of 2,000 pool nodes fits its parameter (the environment held ~40)", () => {
    const nodes = Array.from({ length: 2000 }, (_, i) => ({
      name: `cpu${String(i + 1).padStart(4, "0")}`,
      ncpus: 2,
      mem: "4gb",
      pool: "cpu",
    }));
    const big = Template.fromStack(stackOf(config([{ name: "cpu", kind: "fargate" }], nodes))).toJSON()
      .Resources as typeof resources;
    const [, param] = Object.entries(big).find(
      ([, r]) => r.Type === "AWS::SSM::Parameter" && String(r.Properties.Description).includes("node pools"),
    ) as [string, { Properties: Cfn }];
    const text = cfnText(param.Properties.Value);
    expect(text.length).toBeLessThan(4096);
    expect(param.Properties.Tier).toBe("Standard");
    const doc = decodeNodePools(text);
    expect(doc.ecs.nodes).toHaveLength(2000);
    expect(doc.ecs.nodes[0]).toEqual(["cpu0001", "cpu", 2, 4096, 0]);
    expect(doc.ecs.nodes[1999]).toEqual(["cpu2000", "cpu", 2, 4096, 0]);
    // and no function's environment grew with them
    for (const [, r] of Object.entries(big).filter(([, r]) => r.Type === "AWS::Lambda::Function"))
      expect(JSON.stringify(r.Properties.Environment ?? {}).length).toBeLessThan(4096);
  }, 120_000);

  it("a site without pools has none of it; a site with a process pool is refused", () => {
    const plain = Template.fromStack(stackOf(config([], []))).toJSON().Resources as typeof resources;
    expect(Object.keys(plain).filter((id) => id.includes("NodePools"))).toEqual([]);
    expect(JSON.stringify(plain)).not.toContain("NODE_POOLS");
    expect(() => stackOf(config([{ name: "burst", kind: "process" }], []))).toThrow(
      /node pool\(s\) burst are kind "process"/,
    );
  }, 120_000);

  it("cdk-nag AwsSolutions: no unacknowledged finding", () => {
    const report = new AwsSolutionsChecks().validateScope(stackOf());
    expect(
      report.violations.map(
        (v) =>
          `${v.ruleName} at ${v.violatingResources.map((r) => r.constructPath ?? r.resourceLogicalId).join(", ")}`,
      ),
    ).toEqual([]);
  }, 120_000);
});

describe("output grants (issue 12 point 2)", () => {
  const roleOfFn = (what: string) =>
    ofType("AWS::Lambda::Function").find(
      ([, r]) => r.Properties.Description === `metaqueue casper: ${what}`,
    )?.[1].Properties.Role["Fn::GetAtt"][0];
  const MINTERS = ["scheduler cycles", "HTTP API", "MOM push channel routes"];

  it("what mints grants (scheduler, API, MOM channel) has PutObject on the output bucket's objects only", () => {
    const [[bucketId]] = ofType("AWS::S3::Bucket");
    const minters = MINTERS.map(roleOfFn);
    expect(minters.every(Boolean)).toBe(true);
    const puts = ofType("AWS::IAM::Policy").flatMap(([, p]) =>
      (p.Properties.PolicyDocument.Statement as Cfn[])
        .filter((st) => [st.Action].flat().some((a: string) => /^s3:(Put|\*)|^\*$/.test(a)))
        .map((st) => ({ ...st, roles: (p.Properties.Roles as Cfn[]).map((r) => r.Ref) })),
    );
    expect(new Set(puts.flatMap((st) => st.roles))).toEqual(new Set(minters));
    for (const st of puts) {
      expect([st.Action].flat()).toEqual(["s3:PutObject"]);
      // <bucket ARN>/*: the objects, not the bucket
      expect(st.Resource).toEqual({ "Fn::Join": ["", [{ "Fn::GetAtt": [bucketId, "Arn"] }, "/*"]] });
    }
    for (const what of MINTERS) expect(fnEnv(what)?.OUTPUT_BUCKET).toEqual({ Ref: bucketId });
  });

  it("every MOM knows the push channel (per-run ones renew their grant there); its $default route answers", () => {
    for (const [, t] of ofType("AWS::ECS::TaskDefinition")) {
      const env = t.Properties.ContainerDefinitions[0].Environment as { Name: string }[];
      expect(env.map((e) => e.Name)).toContain("MOM_CHANNEL_URL");
    }
    const [[wsApi]] = ofType("AWS::ApiGatewayV2::Api").filter(
      ([, r]) => r.Properties.ProtocolType === "WEBSOCKET",
    );
    const routes = ofType("AWS::ApiGatewayV2::Route")
      .map(([, r]) => r.Properties)
      .filter((r) => r.ApiId.Ref === wsApi);
    expect(routes.find((r) => r.RouteKey === "$default")?.RouteResponseSelectionExpression).toBe("$default");
    expect(ofType("AWS::ApiGatewayV2::RouteResponse").map(([, r]) => r.Properties.RouteResponseKey)).toEqual([
      "$default",
    ]);
  });
});
