/**
 * Timings and limits of the site stack, as the template states them: every queue feeding a
 * Lambda stays invisible ≥ 6x that function's timeout, the accumulation wait fits in the
 * scheduler's timeout, the scheduler and events keep concurrency of their own while the API is
 * capped, the table expires items on expiresAt, and the failures that matter are alarmed on
 * and charted. Plus the site-name check that keeps stack names valid.
 */
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../../shared/config/site-config.js";
import { MAX_ACCUMULATION_S, SCHEDULER_TIMEOUT_S } from "../../../shared/scheduler/accumulation.js";
import { peerLinks } from "../../../infra/aws/settings.js";
import { SiteStack } from "../../../infra/aws/site-stack.js";

// biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped
type Cfn = any;
const config = parseConfig({
  sites: [
    {
      name: "casper",
      server: "casper-pbs",
      queues: [{ name: "casper" }],
      nodes: [{ name: "c1", ncpus: 16 }],
      federation: { peers: { derecho: {} } },
    },
    { name: "derecho", server: "desched1", queues: [{ name: "main" }], nodes: [{ name: "d1", ncpus: 32 }] },
  ],
});
let R: Record<string, { Type: string; Properties: Cfn }>;
const ofType = (t: string) => Object.entries(R).filter(([, r]) => r.Type === t);
const idOf = (v: Cfn): string => v?.["Fn::GetAtt"]?.[0] ?? v?.Ref;
const fn = (what: string) => {
  const f = ofType("AWS::Lambda::Function").filter(
    ([, r]) => r.Properties.Description === `metaqueue casper: ${what}`,
  );
  expect(f).toHaveLength(1);
  return f[0][1].Properties;
};

beforeAll(() => {
  const app = new App({ context: { "aws:cdk:bundling-stacks": [] } });
  const stack = new SiteStack(app, "Metaqueue-casper", {
    site: config.sites[0],
    otherSites: config.sites.slice(1),
    auth: { issuer: "https://issuer.example.org", audience: ["x"] },
    peers: peerLinks({
      derecho: {
        inboxUrl: "https://sqs.us-east-1.amazonaws.com/222222222222/metaqueue-derecho-inbox",
        secretParameter: "/metaqueue/peer/casper-derecho",
      },
    }),
  });
  R = Template.fromStack(stack).toJSON().Resources;
}, 120_000);

describe("timings", () => {
  it("every SQS event source's queue stays invisible at least 6x its function's timeout", () => {
    const maps = ofType("AWS::Lambda::EventSourceMapping");
    expect(maps).toHaveLength(3); // sched, events, inbox
    for (const [, m] of maps) {
      const q = R[idOf(m.Properties.EventSourceArn)];
      const f = R[idOf(m.Properties.FunctionName)];
      expect(q.Type).toBe("AWS::SQS::Queue");
      expect(q.Properties.VisibilityTimeout, q.Properties.QueueName).toBeGreaterThanOrEqual(
        6 * f.Properties.Timeout,
      );
    }
  });

  it("the accumulation wait is clamped below the scheduler's timeout, which is that one constant", () => {
    expect(fn("scheduler cycles").Timeout).toBe(SCHEDULER_TIMEOUT_S);
    expect(MAX_ACCUMULATION_S).toBeLessThan(SCHEDULER_TIMEOUT_S);
  });
});

describe("concurrency", () => {
  it("the scheduler, events and inbox have reserved concurrency matching their event source's cap", () => {
    for (const what of [
      "scheduler cycles",
      "MOM reports and dependency releases",
      "messages from peer sites",
    ]) {
      const p = fn(what);
      expect(p.ReservedConcurrentExecutions, what).toBeGreaterThanOrEqual(2);
      const [, m] = ofType("AWS::Lambda::EventSourceMapping").find(
        ([, x]) => R[idOf(x.Properties.FunctionName)].Properties === p,
      )!;
      expect(m.Properties.ScalingConfig?.MaximumConcurrency ?? 0).toBeLessThanOrEqual(
        p.ReservedConcurrentExecutions,
      );
    }
  });

  it("the API is capped, so it cannot take the account's whole pool", () => {
    expect(fn("HTTP API").ReservedConcurrentExecutions).toBeGreaterThan(0);
  });
});

describe("state", () => {
  it("the table expires items on expiresAt", () => {
    const [[, t]] = ofType("AWS::DynamoDB::Table");
    expect(t.Properties.TimeToLiveSpecification).toEqual({ AttributeName: "expiresAt", Enabled: true });
  });
});

describe("watch", () => {
  const alarmsOn = (metric: string) =>
    ofType("AWS::CloudWatch::Alarm").filter(([, a]) => JSON.stringify(a.Properties).includes(`"${metric}"`));

  it("alarms on DispatchFailures, JobsLost (both outcomes) and cycle duration, sent to the topic", () => {
    for (const m of ["DispatchFailures", "JobsLost", "CycleDuration", "MomForgeries"]) {
      const a = alarmsOn(m);
      expect(a, m).toHaveLength(1);
      expect(a[0][1].Properties.AlarmActions).toHaveLength(1);
    }
    const lost = JSON.stringify(alarmsOn("JobsLost")[0][1].Properties);
    expect(lost).toContain('"requeued"');
    expect(lost).toContain('"ended"');
    const cycle = alarmsOn("CycleDuration")[0][1].Properties;
    expect(cycle.Threshold).toBeLessThan(SCHEDULER_TIMEOUT_S * 1000);
  });

  it("the dashboard charts them", () => {
    const [[, d]] = ofType("AWS::CloudWatch::Dashboard");
    const body = JSON.stringify(d.Properties.DashboardBody);
    for (const m of ["DispatchFailures", "JobsLost", "CycleDuration", "MomForgeries"])
      expect(body).toContain(m);
  });
});

describe("site names", () => {
  it("a site name with _ is refused at parse, saying why", () => {
    const bad = {
      sites: [{ name: "my_site", server: "s", queues: [{ name: "q" }], nodes: [{ name: "n", ncpus: 1 }] }],
    };
    expect(() => parseConfig(bad)).toThrow(/names the AWS stack/);
  });
});
