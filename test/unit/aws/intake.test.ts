/**
 * The intake switch on AWS (shared/adapters/lambda/intake.ts), against mocked Lambda and
 * EventBridge clients (no local engine exists for either). What the stack gives it is asserted
 * in idle-cost.test.ts.
 */
import { DisableRuleCommand, EnableRuleCommand, EventBridgeClient } from "@aws-sdk/client-eventbridge";
import {
  LambdaClient,
  ListEventSourceMappingsCommand,
  ResourceInUseException,
  UpdateEventSourceMappingCommand,
} from "@aws-sdk/client-lambda";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { AwsIntake } from "../../../shared/adapters/lambda/intake.js";
import { IntakeError } from "../../../shared/errors.js";

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
