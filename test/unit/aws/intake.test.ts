/**
 * The intake switch on AWS (shared/adapters/lambda/intake.ts), against mocked Lambda and
 * EventBridge clients (no local engine exists for either), and what the stack gives it: the
 * queue ARNs and the tick rule's name in every function's environment, and the rights to use
 * them.
 */
import { DisableRuleCommand, EnableRuleCommand, EventBridgeClient } from "@aws-sdk/client-eventbridge";
import {
  LambdaClient,
  ListEventSourceMappingsCommand,
  ResourceInUseException,
  UpdateEventSourceMappingCommand,
} from "@aws-sdk/client-lambda";
import { App } from "aws-cdk-lib";
import { Template } from "aws-cdk-lib/assertions";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { AwsIntake } from "../../../shared/adapters/lambda/intake.js";
import { IntakeError } from "../../../shared/errors.js";
import { parseConfig } from "../../../shared/config/site-config.js";
import { SiteStack } from "../../../infra/aws/site-stack.js";

const lambdaMock = mockClient(LambdaClient);
const eventsMock = mockClient(EventBridgeClient);
const SCHED = "arn:aws:sqs:us-east-1:111122223333:metaqueue-casper-sched.fifo";
const EVENTS = "arn:aws:sqs:us-east-1:111122223333:metaqueue-casper-events";

let peers = 0;
const intake = () =>
  new AwsIntake({
    lambda: new LambdaClient({ region: "us-east-1" }),
    events: new EventBridgeClient({ region: "us-east-1" }),
    queueArns: [SCHED, EVENTS],
    tickRule: "metaqueue-casper-tick",
    keepTick: () => peers > 0,
    retryDelaysMs: [1, 1],
  });

beforeEach(() => {
  lambdaMock.reset();
  eventsMock.reset();
  peers = 0;
  lambdaMock.on(ListEventSourceMappingsCommand, { EventSourceArn: SCHED }).resolves({
    EventSourceMappings: [{ UUID: "m-sched", State: "Enabled" }],
  });
  lambdaMock.on(ListEventSourceMappingsCommand, { EventSourceArn: EVENTS }).resolves({
    EventSourceMappings: [{ UUID: "m-events", State: "Enabled" }],
  });
  lambdaMock.on(UpdateEventSourceMappingCommand).resolves({});
  eventsMock.on(DisableRuleCommand).resolves({});
  eventsMock.on(EnableRuleCommand).resolves({});
});

const updates = () =>
  lambdaMock
    .commandCalls(UpdateEventSourceMappingCommand)
    .map((c) => [c.args[0].input.UUID, c.args[0].input.Enabled]);

describe("AwsIntake", () => {
  it("pause disables the mappings of the site's queues, found by queue ARN, and its tick", async () => {
    await intake().pause();
    expect(updates().sort()).toEqual([
      ["m-events", false],
      ["m-sched", false],
    ]);
    expect(eventsMock.commandCalls(DisableRuleCommand).map((c) => c.args[0].input.Name)).toEqual([
      "metaqueue-casper-tick",
    ]);
  });

  it("a site with peers keeps its tick (its heartbeats) while it sleeps; resume enables everything", async () => {
    peers = 1;
    await intake().pause();
    expect(eventsMock.commandCalls(DisableRuleCommand)).toHaveLength(0);
    lambdaMock.on(ListEventSourceMappingsCommand).resolves({
      EventSourceMappings: [{ UUID: "m-x", State: "Disabled" }],
    });
    lambdaMock.resetHistory();
    await intake().resume();
    expect(updates()).toEqual([
      ["m-x", true],
      ["m-x", true],
    ]);
    expect(eventsMock.commandCalls(EnableRuleCommand)).toHaveLength(1);
  });

  it("leaves a mapping alone that is already where it is told to go (or on its way), across pages", async () => {
    lambdaMock.on(ListEventSourceMappingsCommand, { EventSourceArn: SCHED }).resolves({
      EventSourceMappings: [{ UUID: "a", State: "Disabling" }],
      NextMarker: "p2",
    });
    lambdaMock.on(ListEventSourceMappingsCommand, { EventSourceArn: SCHED, Marker: "p2" }).resolves({
      EventSourceMappings: [{ UUID: "b", State: "Enabled" }],
    });
    lambdaMock.on(ListEventSourceMappingsCommand, { EventSourceArn: EVENTS }).resolves({
      EventSourceMappings: [{ UUID: "c", State: "Disabled" }],
    });
    await intake().pause();
    expect(updates()).toEqual([["b", false]]);
  });

  it("waits out a mapping still applying its last change, and fails typed when it never settles", async () => {
    const busy = new ResourceInUseException({ message: "in use", $metadata: {} });
    lambdaMock.on(UpdateEventSourceMappingCommand).rejectsOnce(busy).resolves({});
    await intake().pause();
    expect(
      updates().filter(([u]) => u === "m-sched").length + updates().filter(([u]) => u === "m-events").length,
    ).toBe(3);

    lambdaMock.on(UpdateEventSourceMappingCommand).rejects(busy);
    const err = await intake()
      .pause()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IntakeError);
    expect((err as IntakeError).status).toBe(503);
    expect((err as IntakeError).cause).toBe(busy);
  });
});

describe("the site stack's intake", () => {
  // biome-ignore lint/suspicious/noExplicitAny: CloudFormation JSON is untyped
  let resources: Record<string, { Type: string; Properties: Record<string, any> }>;
  beforeEach(() => {
    if (resources) return;
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

  it("names the tick rule, and tells every site function the rule and its queues' ARNs", () => {
    const rules = Object.values(resources).filter((r) => r.Type === "AWS::Events::Rule");
    expect(rules.map((r) => r.Properties.Name)).toEqual(["metaqueue-casper-tick"]);
    const site = Object.values(resources).filter(
      (r) => r.Type === "AWS::Lambda::Function" && r.Properties.Environment?.Variables?.SITE_SHORT,
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

  it("grants the site's functions the mappings and the tick rule, nothing wider", () => {
    const policies = Object.values(resources).filter((r) => r.Type === "AWS::IAM::Policy");
    const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement);
    const rule = statements.filter((s) => JSON.stringify(s.Action).includes("events:EnableRule"));
    expect(rule.length).toBeGreaterThanOrEqual(5);
    for (const s of rule) expect(JSON.stringify(s.Resource)).toContain(":rule/metaqueue-casper-tick");
    const update = statements.filter((s) => s.Action === "lambda:UpdateEventSourceMapping");
    for (const s of update) expect(JSON.stringify(s.Resource)).toContain(":event-source-mapping:*");
    expect(statements.some((s) => JSON.stringify(s.Action).includes("lambda:*"))).toBe(false);
  });
});
