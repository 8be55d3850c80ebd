/**
 * What an idle site pays for (issue 14, "idle is idle"; the table in docs/deploy.md "Costs"):
 * nothing runs or is billed by the hour while no job runs. The template has no NAT gateway, no
 * interface endpoint, no ECS service (MOMs are tasks started per job), no provisioned Lambda
 * concurrency, no customer-managed KMS key, on-demand DynamoDB, and every log group expires.
 * What is left is storage and alarms: the queues' Lambda pollers and the tick are paused while
 * the site sleeps (dormancy: test/unit/aws/intake.test.ts, test/unit/server/dormancy.test.ts).
 */
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../../shared/config/site-config.js";
import { SiteStack } from "../../../infra/aws/site-stack.js";

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped
type Resource = { Type: string; Properties: Record<string, any> };

let resources: Record<string, Resource>;
const ofType = (type: string) => Object.values(resources).filter((r) => r.Type === type);

beforeAll(() => {
  const site = parseConfig({
    sites: [
      {
        name: "casper",
        server: "casper-pbs",
        queues: [{ name: "casper" }],
        nodes: [{ name: "casper-n01", ncpus: 16, mem: "64gb" }],
      },
    ],
  }).sites[0];
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = new SiteStack(app, "Metaqueue-casper", {
    site,
    prefix: "metaqueue-",
    auth: { issuer: "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_X", audience: ["c"] },
  });
  resources = Template.fromStack(stack).toJSON().Resources;
});

describe("an idle site pays for storage and alarms only", () => {
  it("nothing billed by the hour: no NAT gateway, interface endpoint, ECS service, EC2 instance or provisioned concurrency", () => {
    for (const type of [
      "AWS::EC2::NatGateway",
      "AWS::EC2::Instance",
      "AWS::ECS::Service",
      "AWS::Lambda::Alias",
      "AWS::ElasticLoadBalancingV2::LoadBalancer",
    ]) {
      expect(ofType(type), type).toEqual([]);
    }
    const endpoints = ofType("AWS::EC2::VPCEndpoint");
    // the free gateway endpoints only (an interface endpoint is $7/month per AZ)
    expect(endpoints.length).toBeGreaterThan(0);
    for (const e of endpoints) expect(e.Properties.VpcEndpointType ?? "Gateway").toBe("Gateway");
    for (const f of ofType("AWS::Lambda::Function")) {
      expect(f.Properties.ProvisionedConcurrencyConfig).toBeUndefined();
    }
    // the EC2 pools' Auto Scaling groups start empty and are scaled by ECS for pending tasks only
    const groups = ofType("AWS::AutoScaling::AutoScalingGroup");
    expect(groups.length).toBeGreaterThan(0);
    for (const g of groups) {
      expect(g.Properties.MinSize).toBe("0");
      expect(g.Properties.DesiredCapacity ?? "0").toBe("0");
    }
    // no Elastic IP either ($3.6/month each, used or not)
    expect(ofType("AWS::EC2::EIP")).toEqual([]);
  });

  it("no customer-managed KMS key ($1/month each): AWS-managed and SQS-managed encryption", () => {
    expect(ofType("AWS::KMS::Key")).toEqual([]);
  });

  it("DynamoDB on demand: no provisioned capacity to pay while idle", () => {
    const tables = ofType("AWS::DynamoDB::Table");
    expect(tables.length).toBeGreaterThan(0);
    for (const t of tables) {
      expect(t.Properties.BillingMode).toBe("PAY_PER_REQUEST");
      expect(t.Properties.ProvisionedThroughput).toBeUndefined();
    }
  });

  it("every log group expires (stored logs are the only log cost of an idle site)", () => {
    const groups = ofType("AWS::Logs::LogGroup");
    expect(groups.length).toBeGreaterThan(0);
    for (const g of groups) expect(g.Properties.RetentionInDays).toBeGreaterThan(0);
  });

  it("the one periodic invocation is the sweeper's tick, once a minute", () => {
    const rules = ofType("AWS::Events::Rule").filter((r) => r.Properties.ScheduleExpression);
    expect(rules.map((r) => r.Properties.ScheduleExpression)).toEqual(["rate(1 minute)"]);
  });
});

describe("an idle site pauses its pollers and tick (dormancy)", () => {
  it("names the tick rule, and tells every site function the rule and its queues' ARNs", () => {
    expect(ofType("AWS::Events::Rule").map((r) => r.Properties.Name)).toEqual(["metaqueue-casper-tick"]);
    const site = ofType("AWS::Lambda::Function").filter(
      (r) => r.Properties.Environment?.Variables?.SITE_SHORT,
    );
    expect(site.length).toBeGreaterThanOrEqual(5);
    for (const f of site) {
      const v = f.Properties.Environment.Variables;
      expect(v.TICK_RULE).toBe("metaqueue-casper-tick");
      // a JSON list of the three queues' ARNs (Fn::Join of their GetAtts)
      const arns = JSON.stringify(v.INTAKE_QUEUE_ARNS);
      expect(arns.match(/"Fn::GetAtt":\["\w+","Arn"\]/g)).toHaveLength(3);
    }
  });

  it("grants the site's functions its own mappings and the tick rule, nothing wider", () => {
    const statements = ofType("AWS::IAM::Policy").flatMap((p) => p.Properties.PolicyDocument.Statement);
    const rule = statements.filter((s) => JSON.stringify(s.Action).includes("events:EnableRule"));
    expect(rule.length).toBeGreaterThanOrEqual(5);
    for (const s of rule) expect(JSON.stringify(s.Resource)).toContain(":rule/metaqueue-casper-tick");
    expect(statements.some((s) => JSON.stringify(s.Action).includes("lambda:*"))).toBe(false);
    // UpdateEventSourceMapping: this site's mappings by ARN, no other, in one policy on every role
    const update = statements.filter((s) => s.Action === "lambda:UpdateEventSourceMapping");
    expect(update).toHaveLength(1);
    const mappings = Object.entries(resources)
      .filter(([, r]) => r.Type === "AWS::Lambda::EventSourceMapping")
      .map(([id]) => id)
      .sort();
    expect(mappings.length).toBeGreaterThanOrEqual(2);
    const named = [...JSON.stringify(update[0].Resource).matchAll(/"Ref":"(\w+)"/g)].map((m) => m[1]).sort();
    expect(named).toEqual(mappings);
    const policy = ofType("AWS::IAM::Policy").find((p) =>
      JSON.stringify(p.Properties.PolicyDocument).includes("lambda:UpdateEventSourceMapping"),
    );
    expect(policy?.Properties.Roles.length).toBeGreaterThanOrEqual(5);
  });
});
