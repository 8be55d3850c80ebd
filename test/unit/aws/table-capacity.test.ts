/**
 * The site table's capacity mode (context `tableCapacity`, infra/aws/settings.ts): on demand by
 * default; provisioned with autoscaling on the table and on every index, between the bounds
 * the admin gave, at their target utilization. A value that cannot be read stops the synth
 * rather than deploying a table billed some other way. Every site alarms on sustained throttling.
 */
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { describe, expect, it } from "vitest";
import { parseConfig } from "../../../shared/config/site-config.js";
import { siteTableDefinition } from "../../../shared/adapters/dynamodb/table.js";
import type { TableCapacity } from "../../../infra/aws/constructs/state.js";
import { tableCapacity } from "../../../infra/aws/settings.js";
import { SiteStack } from "../../../infra/aws/site-stack.js";

const site = parseConfig({
  sites: [
    { name: "casper", server: "casper-pbs", queues: [{ name: "casper" }], nodes: [{ name: "c1", ncpus: 8 }] },
  ],
}).sites[0];

function template(capacity?: TableCapacity): Template {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = new SiteStack(app, "Metaqueue-casper", {
    site,
    auth: { issuer: "https://issuer.example.org", audience: ["x"] },
    tableCapacity: capacity,
  });
  return Template.fromStack(stack);
}

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped
type Cfn = any;
const table = (t: Template): Cfn => Object.values(t.findResources("AWS::DynamoDB::Table"))[0].Properties;

describe("tableCapacity context value", () => {
  it("is on demand when absent, empty or on-demand", () => {
    for (const v of [undefined, "", "on-demand"]) expect(tableCapacity(v)).toEqual({ mode: "on-demand" });
  });

  it("reads provisioned bounds, with a 70 % target unless given", () => {
    expect(tableCapacity("provisioned:writes=5-2000,reads=2-800")).toEqual({
      mode: "provisioned",
      writes: { min: 5, max: 2000 },
      reads: { min: 2, max: 800 },
      targetUtilization: 70,
    });
    expect(tableCapacity("provisioned:reads=1-1, writes=10-10, target=50")).toMatchObject({
      targetUtilization: 50,
    });
  });

  it.each([
    ["provisioned", /needs its writes= and reads= bounds/],
    ["provisioned:writes=5-10,,reads=1-2", /cannot read ""/],
    ["reserved:writes=1-2", /unknown mode/],
    ["provisioned:writes=5-2000", /"reads" missing/],
    ["provisioned:writes=5-2000,reads=5-1000,wcu=3", /unknown field "wcu"/],
    ["provisioned:writes=5-2000,writes=1-2,reads=5-10", /given twice/],
    ["provisioned:writes=2000-5,reads=5-10", /min <= max/],
    ["provisioned:writes=0-5,reads=5-10", /1 <= min/],
    ["provisioned:writes=5-50000,reads=5-10", /<= 40000/],
    ["provisioned:writes=five-10,reads=5-10", /not <min>-<max>/],
    ["provisioned:writes=5-10,reads=5-10,target=95", /20 to 90/],
    ["provisioned:writes=5-10,reads=5-10,target=7.5", /20 to 90/],
  ])("refuses %s", (v, why) => {
    expect(() => tableCapacity(v)).toThrow(why);
    expect(() => tableCapacity(v)).toThrow(/expected "on-demand" or "provisioned:/);
  });
});

describe("the site table's capacity", () => {
  it("is billed per request by default, with nothing scaling", () => {
    const t = template();
    expect(table(t).BillingMode).toBe("PAY_PER_REQUEST");
    expect(table(t).ProvisionedThroughput).toBeUndefined();
    t.resourceCountIs("AWS::ApplicationAutoScaling::ScalableTarget", 0);
  });

  it("provisioned: the table and every index start at the minimum and scale to the maximum at the target", () => {
    const t = template(tableCapacity("provisioned:writes=5-2000,reads=3-900,target=60"));
    const p = table(t);
    const start = { ReadCapacityUnits: 3, WriteCapacityUnits: 5 };
    expect(p.ProvisionedThroughput).toEqual(start);
    expect(p.BillingMode).toBeUndefined(); // CloudFormation's default is PROVISIONED
    const names = siteTableDefinition.indexes.map((i) => i.name);
    expect(p.GlobalSecondaryIndexes.map((g: Cfn) => g.IndexName)).toEqual(names);
    for (const g of p.GlobalSecondaryIndexes) expect(g.ProvisionedThroughput, g.IndexName).toEqual(start);

    // one scalable target per dimension of the table and of each index
    const targets = Object.values(t.findResources("AWS::ApplicationAutoScaling::ScalableTarget")).map(
      (r: Cfn) => r.Properties,
    );
    expect(targets).toHaveLength(2 * (1 + names.length));
    const dims = targets.map((x: Cfn) => x.ScalableDimension).sort();
    expect(dims).toEqual(
      [
        "dynamodb:table:ReadCapacityUnits",
        "dynamodb:table:WriteCapacityUnits",
        ...names.flatMap(() => ["dynamodb:index:ReadCapacityUnits", "dynamodb:index:WriteCapacityUnits"]),
      ].sort(),
    );
    for (const x of targets) {
      const writes = String(x.ScalableDimension).endsWith("WriteCapacityUnits");
      expect([x.MinCapacity, x.MaxCapacity]).toEqual(writes ? [5, 2000] : [3, 900]);
    }
    // each index's targets name it
    const indexIds = targets
      .filter((x: Cfn) => String(x.ScalableDimension).startsWith("dynamodb:index"))
      .map((x: Cfn) => JSON.stringify(x.ResourceId));
    for (const n of names)
      expect(
        indexIds.filter((id: string) => id.includes(`/index/${n}`)),
        n,
      ).toHaveLength(2);

    const policies = Object.values(t.findResources("AWS::ApplicationAutoScaling::ScalingPolicy")).map(
      (r: Cfn) => r.Properties,
    );
    expect(policies).toHaveLength(targets.length);
    for (const x of policies) {
      expect(x.PolicyType).toBe("TargetTrackingScaling");
      expect(x.TargetTrackingScalingPolicyConfiguration.TargetValue).toBe(60);
    }
  });

  it("alarms on throttled reads or writes of the table lasting ten minutes, in both modes", () => {
    for (const cap of [undefined, tableCapacity("provisioned:writes=1-10,reads=1-10")]) {
      const alarms = Object.values(template(cap).findResources("AWS::CloudWatch::Alarm")).filter((a: Cfn) =>
        String(a.Properties.AlarmName).endsWith("table throttled requests"),
      );
      expect(alarms).toHaveLength(1);
      const a = alarms[0].Properties;
      expect(a.EvaluationPeriods).toBe(2);
      expect(a.Threshold).toBe(0);
      const metrics = a.Metrics.filter((m: Cfn) => m.MetricStat).map(
        (m: Cfn) => m.MetricStat.Metric.MetricName,
      );
      expect(metrics.sort()).toEqual(["ReadThrottleEvents", "WriteThrottleEvents"]);
      expect(a.AlarmActions).toHaveLength(1);
    }
  });
});
