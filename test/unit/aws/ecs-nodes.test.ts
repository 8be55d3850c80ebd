/**
 * ECS node pools over a mocked ECSClient (issue 12): a pool node's power-on is a RunTask of its
 * long-lived MOM (Fargate, EC2 capacity provider, ECS Anywhere), idempotent per power-on and
 * paced with the job RunTasks; power-off is a StopTask of the node's task, only when its MOM's
 * last beat lists no job; failures are sorted as dispatch's (capacity and throttling later,
 * invalid never); runs on a pool node wait for the dispatch channel.
 */
import {
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RunTaskCommand,
  type RunTaskCommandInput,
  StopTaskCommand,
} from "@aws-sdk/client-ecs";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { momKey, nodeOfMomId } from "../../../shared/auth/mom-report.js";
import {
  EcsCapacityError,
  EcsDispatchError,
  EcsExecutor,
  type EcsExecutorConfig,
  RatePacer,
  STARTED_BY_MAX,
} from "../../../shared/adapters/executor/ecs.js";
import {
  EcsNodes,
  type EcsNodesConfig,
  type NodeDispatchChannel,
  nodeClientToken,
  nodeMomId,
  nodeStartedBy,
} from "../../../shared/adapters/executor/ecs-nodes.js";
import { DispatchError, type JobRunSpec } from "../../../shared/ports/index.js";

const CLUSTER = "arn:aws:ecs:us-east-1:111122223333:cluster/mq-casper";
const SECRET = "site-mom-secret";
const ecsMock = mockClient(ECSClient);
const okTask = { tasks: [{ taskArn: "arn:aws:ecs:us-east-1:111122223333:task/mq-casper/n1" }], failures: [] };

let beats: Map<string, { jobs: unknown[]; at: number }>;
let beatReads: string[][];

function nodesConfig(over: Partial<EcsNodesConfig> = {}): EcsNodesConfig {
  return {
    cluster: CLUSTER,
    containerName: "mom",
    subnets: ["subnet-a"],
    securityGroups: ["sg-1"],
    assignPublicIp: true,
    pools: [
      { name: "cpu", kind: "fargate", taskDefinition: "td-cpu:1" },
      { name: "gpu", kind: "ec2", taskDefinition: "td-gpu:1", capacityProvider: "mq-casper-gpu" },
      { name: "onprem", kind: "external", taskDefinition: "td-onprem:1" },
    ],
    nodes: [
      { name: "f1", pool: "cpu", ncpus: 1, memoryMiB: 2048, gpus: 0 },
      { name: "g1", pool: "gpu", ncpus: 4, memoryMiB: 15_360, gpus: 1 },
      { name: "h1", pool: "onprem", ncpus: 64, memoryMiB: 262_144, gpus: 0 },
    ],
    momSecret: SECRET,
    beats: async (ids) => {
      beatReads.push(ids);
      return beats;
    },
    ...over,
  };
}

function executor(over: Partial<EcsNodesConfig> = {}, pacer = new RatePacer(100, 100)): EcsExecutor {
  const ecs = new ECSClient({ region: "us-east-1" });
  const config: EcsExecutorConfig = {
    cluster: CLUSTER,
    taskDefinition: "td-run:1",
    containerName: "mom",
    subnets: ["subnet-a"],
    securityGroups: ["sg-1"],
    assignPublicIp: true,
    momSecret: SECRET,
    pacer,
    nodes: new EcsNodes(ecs, nodesConfig(over)),
  };
  return new EcsExecutor(ecs, config);
}

function runTasks(): RunTaskCommandInput[] {
  return ecsMock.commandCalls(RunTaskCommand).map((c) => c.args[0].input);
}
const envOf = (input: RunTaskCommandInput) =>
  Object.fromEntries(
    (input.overrides?.containerOverrides?.[0]?.environment ?? []).map((kv) => [kv.name, kv.value]),
  );

const AT = Date.UTC(2026, 11, 3, 7, 0, 0);

beforeEach(() => {
  ecsMock.reset();
  beats = new Map();
  beatReads = [];
});

describe("node power-on (RunTask of the node's long-lived MOM)", () => {
  it("Fargate: the pool's task definition, the node's Fargate size, its tag, token and signed identity", async () => {
    ecsMock.on(RunTaskCommand).resolves(okTask);
    await executor().powerOn("f1", AT);
    const [input] = runTasks();
    const momId = nodeMomId("f1", AT);
    expect(input).toMatchObject({
      cluster: CLUSTER,
      taskDefinition: "td-cpu:1",
      count: 1,
      launchType: "FARGATE",
      networkConfiguration: { awsvpcConfiguration: { subnets: ["subnet-a"], assignPublicIp: "ENABLED" } },
      overrides: { cpu: "1024", memory: "2048" },
      startedBy: "node/f1",
      clientToken: nodeClientToken("f1", AT),
    });
    expect(input.capacityProviderStrategy).toBeUndefined();
    expect(envOf(input)).toEqual({ MOM_NODE: "f1", MOM_ID: momId, MOM_KEY: momKey(SECRET, momId) });
    // the MOM's id names its node, so the server takes its hello for f1
    expect(nodeOfMomId(momId)).toBe("f1");
    // no job spec: the node MOM takes runs over the dispatch channel
    expect(JSON.stringify(input)).not.toContain("JOB_SPEC");
  });

  it("EC2: the pool's capacity provider, the node's size and its GPUs", async () => {
    ecsMock.on(RunTaskCommand).resolves(okTask);
    await executor().powerOn("g1", AT);
    const [input] = runTasks();
    expect(input).toMatchObject({
      taskDefinition: "td-gpu:1",
      capacityProviderStrategy: [{ capacityProvider: "mq-casper-gpu", weight: 1 }],
      overrides: {
        cpu: "4096",
        memory: "15360",
        containerOverrides: [{ name: "mom", resourceRequirements: [{ type: "GPU", value: "1" }] }],
      },
    });
    expect(input.launchType).toBeUndefined();
    expect(input.networkConfiguration).toBeUndefined(); // bridge network, the instance's IP
  });

  it("ECS Anywhere: launch type EXTERNAL, no size and no awsvpc network", async () => {
    ecsMock.on(RunTaskCommand).resolves(okTask);
    await executor().powerOn("h1", AT);
    const [input] = runTasks();
    expect(input).toMatchObject({
      taskDefinition: "td-onprem:1",
      launchType: "EXTERNAL",
      startedBy: "node/h1",
    });
    expect(input.networkConfiguration).toBeUndefined();
    expect(input.overrides?.cpu).toBeUndefined();
  });

  it("a retried power-on sends the same clientToken (ECS starts one task); the next power-on another", async () => {
    ecsMock.on(RunTaskCommand).resolves(okTask);
    const ex = executor();
    await ex.powerOn("f1", AT);
    await ex.powerOn("f1", AT);
    await ex.powerOn("f1", AT + 60_000);
    const [a, b, c] = runTasks();
    expect(b.clientToken).toBe(a.clientToken);
    expect(envOf(b).MOM_ID).toBe(envOf(a).MOM_ID);
    expect(c.clientToken).not.toBe(a.clientToken);
    expect(envOf(c).MOM_ID).not.toBe(envOf(a).MOM_ID);
    expect(a.clientToken?.length).toBeLessThanOrEqual(64);
  });

  it("node tags fit ECS's 36 characters and cannot be a job's tag", () => {
    expect(nodeStartedBy("gpu-07")).toBe("node/gpu-07");
    const long = nodeStartedBy("a-very-long-node-name-of-a-big-centre-0001");
    const dotted = nodeStartedBy("n1.casper");
    for (const t of [long, dotted]) {
      expect(t.length).toBeLessThanOrEqual(STARTED_BY_MAX);
      expect(t).toMatch(/^node\/h[0-9a-f]+$/);
    }
    expect(nodeStartedBy("n1-casper")).not.toBe(dotted); // n1.casper and n1-casper differ
  });

  it.each([
    ["throttled", { name: "ThrottlingException", $metadata: { httpStatusCode: 400 } }, "later"],
    [
      "the service failing",
      { name: "ServerException", $fault: "server", $metadata: { httpStatusCode: 500 } },
      "later",
    ],
    [
      "an invalid request",
      { name: "InvalidParameterException", $metadata: { httpStatusCode: 400 } },
      "never",
    ],
    ["access denied", { name: "AccessDeniedException", $metadata: { httpStatusCode: 400 } }, "never"],
  ] as const)("RunTask %s: a DispatchError, retry %s", async (_what, err, retry) => {
    ecsMock.on(RunTaskCommand).rejects(Object.assign(new Error("refused"), err));
    const e = await executor()
      .powerOn("f1", AT)
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DispatchError);
    expect((e as DispatchError).retry).toBe(retry);
    expect((e as Error).message).toContain("node f1");
  });

  it.each([
    ["RESOURCE:GPU", "later"],
    ["RESOURCE:MEMORY", "later"],
    ["Capacity is unavailable at this time", "later"],
    ["MISSING", "never"],
  ] as const)(
    "RunTask failure %s (no instance, no Fargate capacity, ...): retry %s",
    async (reason, retry) => {
      ecsMock.on(RunTaskCommand).resolves({ tasks: [], failures: [{ reason, arn: "x" }] });
      const e = await executor()
        .powerOn("g1", AT)
        .catch((x: unknown) => x);
      expect(e).toBeInstanceOf(retry === "later" ? EcsCapacityError : EcsDispatchError);
      expect((e as DispatchError).retry).toBe(retry);
    },
  );

  it("node starts share the job RunTasks' pace: over it, later, and no call is made", async () => {
    ecsMock.on(RunTaskCommand).resolves(okTask);
    let now = 0;
    const ex = executor({}, new RatePacer(1, 2, () => now));
    await ex.powerOn("f1", AT);
    await ex.powerOn("g1", AT);
    const e = await ex.powerOn("h1", AT).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EcsCapacityError);
    expect((e as DispatchError).retry).toBe("later");
    expect((e as Error).message).toMatch(/over this scheduler's task-start pace \(1000 ms to the next\)/);
    expect(runTasks()).toHaveLength(2);
    now = 1000;
    await ex.powerOn("h1", AT);
    expect(runTasks()).toHaveLength(3);
  });

  it("a node in no pool is refused (never), without a call", async () => {
    const e = await executor()
      .powerOn("n9", AT)
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(EcsDispatchError);
    expect((e as DispatchError).retry).toBe("never");
    expect(runTasks()).toHaveLength(0);
  });
});

describe("node power-off (StopTask of the node's task, only when it runs nothing)", () => {
  const arn = "arn:aws:ecs:us-east-1:111122223333:task/mq-casper/n1";
  const momId = nodeMomId("f1", AT);
  function listed() {
    ecsMock.on(ListTasksCommand).resolves({ taskArns: [arn] });
    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [
        {
          taskArn: arn,
          overrides: {
            containerOverrides: [{ name: "mom", environment: [{ name: "MOM_ID", value: momId }] }],
          },
        },
      ],
    });
    ecsMock.on(StopTaskCommand).resolves({});
  }

  it("finds the task by the node's tag and stops it when its last beat lists no job", async () => {
    listed();
    beats.set(momId, { jobs: [], at: AT });
    await executor().powerOff("f1");
    expect(ecsMock.commandCalls(ListTasksCommand)[0].args[0].input).toEqual({
      cluster: CLUSTER,
      startedBy: "node/f1",
      desiredStatus: "RUNNING",
    });
    expect(beatReads).toEqual([[momId]]);
    const stops = ecsMock.commandCalls(StopTaskCommand);
    expect(stops).toHaveLength(1);
    expect(stops[0].args[0].input).toMatchObject({ cluster: CLUSTER, task: arn });
    expect(stops[0].args[0].input.reason).toMatch(/node f1 powered off/);
  });

  it("refuses while the MOM's beat lists a job: nothing is stopped", async () => {
    listed();
    beats.set(momId, { jobs: [{ jobId: "7.casper", runCount: 1 }], at: AT });
    await expect(executor().powerOff("f1")).rejects.toThrow(/still runs 1 job\(s\)/);
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(0);
  });

  it("a MOM with no beat yet (booting, its boot timed out) is stopped", async () => {
    listed();
    await executor().powerOff("f1");
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(1);
  });

  it("no task: nothing to do", async () => {
    ecsMock.on(ListTasksCommand).resolves({ taskArns: [] });
    await executor().powerOff("f1");
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(0);
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(0);
  });

  it("a lost node MOM: stopLost stops that MOM's task only, whatever it runs", async () => {
    const newer = "arn:aws:ecs:us-east-1:111122223333:task/mq-casper/n1-newer";
    ecsMock.on(ListTasksCommand).resolves({ taskArns: [arn, newer] });
    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [
        {
          taskArn: arn,
          overrides: {
            containerOverrides: [{ name: "mom", environment: [{ name: "MOM_ID", value: momId }] }],
          },
        },
        {
          taskArn: newer,
          overrides: {
            containerOverrides: [
              { name: "mom", environment: [{ name: "MOM_ID", value: nodeMomId("f1", AT + 1) }] },
            ],
          },
        },
      ],
    });
    ecsMock.on(StopTaskCommand).resolves({});
    beats.set(momId, { jobs: [{ jobId: "7.casper", runCount: 1 }], at: AT });
    await executor().stopLost({ jobId: "7.casper", momId, runCount: 1 }, "silent 130 s");
    const stops = ecsMock.commandCalls(StopTaskCommand).map((c) => c.args[0].input);
    expect(stops).toEqual([{ cluster: CLUSTER, task: arn, reason: "metaqueue: MOM lost (silent 130 s)" }]);
    expect(ecsMock.commandCalls(ListTasksCommand)[0].args[0].input.startedBy).toBe("node/f1");
  });

  it("an ECS error rejects (the power module keeps the node up and asks again)", async () => {
    ecsMock
      .on(ListTasksCommand)
      .rejects(Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException", $metadata: {} }));
    await expect(executor().powerOff("f1")).rejects.toThrow(/Rate exceeded/);
  });
});

describe("runs on a pool node", () => {
  const run = (momId: string): JobRunSpec => ({
    jobId: "7.casper",
    seq: "7",
    runCount: 1,
    name: "STDIN",
    queue: "casper",
    owner: "alice@login1",
    script: "true\n",
    workdir: "/home/alice",
    env: {},
    killDelay: 10,
    stdoutPath: "/home/alice/STDIN.o7",
    stderrPath: null,
    nodefile: ["f1"],
    ncpus: 1,
    momId,
    execHost: "f1",
  });

  it("without a dispatch channel: refused as later, and no task is started for the run", async () => {
    const ex = executor();
    const momId = ex.momIdFor("f1", "7", 1);
    expect(nodeOfMomId(momId)).toBe("f1");
    const e = await ex.dispatch(run(momId)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DispatchError);
    expect((e as DispatchError).retry).toBe("later");
    expect((e as Error).message).toMatch(/dispatch channel is not deployed/);
    expect(runTasks()).toHaveLength(0);
  });

  it("with a channel: the run goes to the node's connected MOM", async () => {
    const sent: [string, string][] = [];
    const channel: NodeDispatchChannel = {
      momIdOf: (node) => (node === "f1" ? nodeMomId("f1", AT) : undefined),
      send: async (momId, spec) => {
        sent.push([momId, spec.jobId]);
      },
    };
    const ex = executor({ channel });
    const momId = ex.momIdFor("f1", "7", 1);
    expect(momId).toBe(nodeMomId("f1", AT));
    await ex.dispatch(run(momId));
    expect(sent).toEqual([[momId, "7.casper"]]);
    expect(runTasks()).toHaveLength(0);
  });

  it("a node in no pool still gets a task per run, as before", async () => {
    ecsMock.on(RunTaskCommand).resolves(okTask);
    const ex = executor();
    const momId = ex.momIdFor("casper-n01", "7", 1);
    expect(momId).toBe("ecs:7:1");
    await ex.dispatch({ ...run(momId), execHost: "casper-n01" });
    expect(runTasks()[0].taskDefinition).toBe("td-run:1");
  });
});
