/** The ECS executor over a mocked ECSClient: RunTask parameters, sizing, errors, kill. */
import { randomBytes } from "node:crypto";
import { gunzipSync } from "node:zlib";
import {
  DescribeTasksCommand,
  ECSClient,
  ListTasksCommand,
  RunTaskCommand,
  type RunTaskCommandInput,
  StopTaskCommand,
} from "@aws-sdk/client-ecs";
import { mockClient } from "aws-sdk-client-mock";
import { momKey } from "../../../shared/auth/mom-report.js";
import { beforeEach, describe, expect, it } from "vitest";
import {
  ECS_OVERRIDES_LIMIT,
  EcsCapacityError,
  EcsDispatchError,
  RatePacer,
  EcsExecutor,
  type EcsExecutorConfig,
  type EcsJobRunSpec,
  EcsUnsupportedJobError,
  FARGATE_SIZES,
  fargateSize,
  startedByFor,
} from "../../../shared/adapters/executor/ecs.js";
import { DispatchError } from "../../../shared/ports/index.js";
import { S3OutputGranter } from "../../../shared/adapters/s3/output-grant.js";

const GB = 1024 ** 3;
const MB = 1024 ** 2;

const config: EcsExecutorConfig = {
  cluster: "arn:aws:ecs:us-east-1:111122223333:cluster/mq-casper",
  taskDefinition: "arn:aws:ecs:us-east-1:111122223333:task-definition/mq-casper-mom:3",
  containerName: "mom",
  subnets: ["subnet-a", "subnet-b"],
  securityGroups: ["sg-1"],
  assignPublicIp: true,
};

function spec(over: Partial<EcsJobRunSpec> = {}): EcsJobRunSpec {
  return {
    jobId: "123.casper",
    seq: "123",
    runCount: 1,
    name: "STDIN",
    queue: "casper",
    owner: "alice@login1",
    script: "echo hi\n",
    workdir: "/home/alice",
    env: { PBS_O_WORKDIR: "/home/alice" },
    killDelay: 10,
    stdoutPath: "/home/alice/STDIN.o123",
    stderrPath: "/home/alice/STDIN.e123",
    nodefile: ["casper-n01"],
    ncpus: 1,
    momId: "ecs:123:1",
    execHost: "casper-n01",
    ...over,
  };
}

const ecsMock = mockClient(ECSClient);
const okTask = {
  tasks: [{ taskArn: "arn:aws:ecs:us-east-1:111122223333:task/mq-casper/abc" }],
  failures: [],
};

function lastRunTask(): RunTaskCommandInput {
  const calls = ecsMock.commandCalls(RunTaskCommand);
  return calls[calls.length - 1].args[0].input;
}

function envOf(input: RunTaskCommandInput): Record<string, string> {
  const env = input.overrides?.containerOverrides?.[0]?.environment ?? [];
  return Object.fromEntries(env.map((kv) => [kv.name!, kv.value!]));
}

describe("EcsExecutor", () => {
  let ex: EcsExecutor;
  beforeEach(() => {
    ecsMock.reset();
    ex = new EcsExecutor(new ECSClient({ region: "us-east-1" }), config);
  });

  it("a run's task carries its output grant: URLs of its own keys, fitting the overrides with a Lambda-sized token", async () => {
    ecsMock.on(RunTaskCommand).resolves(okTask);
    // a Lambda role's session token is about a kilobyte; 1200 random characters to be safe
    const sessionToken = randomBytes(900).toString("base64");
    const granted = new EcsExecutor(new ECSClient({ region: "us-east-1" }), {
      ...config,
      outputGrants: new S3OutputGranter("mq-out", {
        region: "us-east-1",
        credentials: { accessKeyId: "ASIATEST", secretAccessKey: "s", sessionToken },
      }),
    });
    // a script of a few KiB, as users write them
    await granted.dispatch(
      spec({ script: `#!/bin/bash\n${"echo step; ./run --input data.txt\n".repeat(60)}` }),
    );
    const input = lastRunTask();
    expect(JSON.stringify(input.overrides).length).toBeLessThanOrEqual(ECS_OVERRIDES_LIMIT);
    const env = envOf(input);
    const sent = JSON.parse(
      env.JOB_SPEC ?? gunzipSync(Buffer.from(env.JOB_SPEC_GZ, "base64")).toString("utf8"),
    );
    expect(sent.outputGrant).toMatchObject({ jobId: "123.casper", runCount: 1 });
    const paths = sent.outputGrant.puts.map((p: { url: string }) => new URL(p.url).pathname);
    expect(new Set(paths)).toEqual(new Set(["/123.casper/STDIN.o123", "/123.casper/STDIN.e123"]));
  });

  it("names the MOM of a run ecs:<jobKey>:<runCount>", () => {
    expect(ex.momIdFor("casper-n01", "123[4]", 2)).toBe("ecs:123[4]:2");
  });

  it("runs a Fargate task with the cluster, task definition, network, spec and a valid size", async () => {
    ecsMock.on(RunTaskCommand).resolves(okTask);
    const s = spec({ ncpus: 1, mem: 1 * GB });
    await ex.dispatch(s);
    const input = lastRunTask();
    expect(input).toMatchObject({
      cluster: config.cluster,
      taskDefinition: config.taskDefinition,
      count: 1,
      launchType: "FARGATE",
      networkConfiguration: {
        awsvpcConfiguration: {
          subnets: ["subnet-a", "subnet-b"],
          securityGroups: ["sg-1"],
          assignPublicIp: "ENABLED",
        },
      },
      overrides: { cpu: "1024", memory: "2048" },
      startedBy: "123-casper",
    });
    expect(input.overrides?.containerOverrides?.[0]?.name).toBe("mom");
    const env = envOf(input);
    expect(env).toMatchObject({ JOB_ID: "123.casper", RUN_COUNT: "1", MOM_ID: "ecs:123:1" });
    expect(JSON.parse(env.JOB_SPEC)).toEqual(s);
    expect(input.capacityProviderStrategy).toBeUndefined();
  });

  it.each([
    // [ncpus, mem bytes, cpu, memory MiB]
    [1, 1 * GB, 1024, 2048],
    [1, 0, 1024, 2048],
    [0.25, 512 * MB, 256, 512],
    [0.5, 5 * GB, 1024, 5120], // 0.5 vCPU allows at most 4 GiB: moves up to 1 vCPU
    [2, 4 * GB, 2048, 4096],
    [2, 4.5 * GB, 2048, 5120],
    [3, 1 * GB, 4096, 8192],
    [4, 30 * GB, 4096, 30720],
    [4, 31 * GB, 8192, 32768],
    [8, 17 * GB, 8192, 20480],
    [16, 64 * GB, 16384, 65536],
    [12, 100 * GB, 16384, 106496],
    [16, 120 * GB, 16384, 122880],
  ])("ncpus=%s mem=%s bytes → cpu %s, memory %s MiB", async (ncpus, mem, cpu, memory) => {
    ecsMock.on(RunTaskCommand).resolves(okTask);
    await ex.dispatch(spec({ ncpus, mem }));
    expect(lastRunTask().overrides).toMatchObject({ cpu: String(cpu), memory: String(memory) });
    // and the pair is one of the valid Fargate sizes
    expect(FARGATE_SIZES.find((s) => s.cpu === cpu)?.memory).toContain(memory);
  });

  it("refuses GPUs and anything bigger than 16 vCPU / 120 GiB, naming the EC2 capacity provider", async () => {
    ecsMock.on(RunTaskCommand).resolves(okTask);
    await expect(ex.dispatch(spec({ ngpus: 1 }))).rejects.toThrow(/ngpus=1.*EC2 capacity provider/);
    await expect(ex.dispatch(spec({ ncpus: 17 }))).rejects.toThrow(EcsUnsupportedJobError);
    await expect(ex.dispatch(spec({ ncpus: 4, mem: 121 * GB }))).rejects.toThrow(
      /16 vCPU and 120 GiB; an EC2 capacity provider is needed/,
    );
    expect(() => fargateSize(32, 0)).toThrow(EcsUnsupportedJobError);
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
  });

  it("sends GPU and large jobs to the first EC2 pool whose instance holds them, and refuses what none holds", async () => {
    ecsMock.on(RunTaskCommand).resolves(okTask);
    const pools = [
      {
        name: "gpu",
        capacityProvider: "mq-casper-gpu",
        taskDefinition: "td-gpu",
        vcpus: 8,
        memoryMiB: 30720,
        gpus: 1,
      },
      {
        name: "large",
        capacityProvider: "mq-casper-large",
        taskDefinition: "td-large",
        vcpus: 64,
        memoryMiB: 122880,
        gpus: 0,
      },
    ];
    const withPools = new EcsExecutor(new ECSClient({ region: "us-east-1" }), { ...config, ec2Pools: pools });
    await withPools.dispatch(spec({ ncpus: 4, mem: 16 * GB, ngpus: 1 }));
    const gpu = lastRunTask();
    expect(gpu).toMatchObject({
      taskDefinition: "td-gpu",
      capacityProviderStrategy: [{ capacityProvider: "mq-casper-gpu", weight: 1 }],
      overrides: { cpu: "4096", memory: "16384" },
    });
    // bridge network on EC2: no awsvpc configuration, no launch type beside the strategy
    expect(gpu.networkConfiguration).toBeUndefined();
    expect(gpu.launchType).toBeUndefined();
    expect(gpu.overrides?.containerOverrides?.[0]?.resourceRequirements).toEqual([
      { type: "GPU", value: "1" },
    ]);
    expect(envOf(gpu).JOB_ID).toBe("123.casper");
    // 32 cores: too big for Fargate and for the GPU instance, the large pool holds it, without GPUs
    await withPools.dispatch(spec({ ncpus: 32, mem: 64 * GB }));
    const large = lastRunTask();
    expect(large).toMatchObject({ taskDefinition: "td-large", overrides: { cpu: "32768", memory: "65536" } });
    expect(large.overrides?.containerOverrides?.[0]?.resourceRequirements).toBeUndefined();
    // what fits Fargate stays on Fargate
    await withPools.dispatch(spec({ ncpus: 2 }));
    expect(lastRunTask().launchType).toBe("FARGATE");
    // two GPUs, or 128 cores: no pool holds it; refused with the pools named, nothing started
    const before = ecsMock.commandCalls(RunTaskCommand).length;
    await expect(withPools.dispatch(spec({ ngpus: 2 }))).rejects.toThrow(
      /no EC2 pool holds it.*gpu \(8 vCPU/,
    );
    await expect(withPools.dispatch(spec({ ncpus: 128 }))).rejects.toThrow(EcsUnsupportedJobError);
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(before);
  });

  it("uses the same clientToken for retries of a run and a new one for the next run", async () => {
    ecsMock.on(RunTaskCommand).resolves(okTask);
    await ex.dispatch(spec({ runCount: 1 }));
    await ex.dispatch(spec({ runCount: 1 }));
    await ex.dispatch(spec({ runCount: 2, momId: "ecs:123:2" }));
    const tokens = ecsMock.commandCalls(RunTaskCommand).map((c) => c.args[0].input.clientToken);
    expect(tokens[0]).toBe(tokens[1]);
    expect(tokens[2]).not.toBe(tokens[0]);
    expect(tokens[0]).toMatch(/^[0-9a-f]{64}$/);
    // a fresh executor (another Lambda container) computes the same token
    const other = new EcsExecutor(new ECSClient({ region: "us-east-1" }), config);
    await other.dispatch(spec({ runCount: 1 }));
    expect(lastRunTask().clientToken).toBe(tokens[0]);
  });

  it("throws with the failure reason when RunTask answers failures[] or no task", async () => {
    ecsMock.on(RunTaskCommand).resolves({
      tasks: [],
      failures: [{ arn: config.taskDefinition, reason: "MISSING", detail: "task definition inactive" }],
    });
    const err = await ex.dispatch(spec()).catch((e) => e);
    expect(err).toBeInstanceOf(EcsDispatchError);
    expect(err).not.toBeInstanceOf(EcsCapacityError);
    expect(err.message).toMatch(/could not start 123\.casper: MISSING: task definition inactive/);

    ecsMock.on(RunTaskCommand).resolves({ tasks: [], failures: [] });
    await expect(ex.dispatch(spec())).rejects.toThrow(/no task started/);
  });

  it.each([
    "RESOURCE:CPU",
    "RESOURCE:MEMORY",
    "AGENT",
    "Capacity is unavailable at this time. Please try again later or in a different availability zone",
  ])("treats failure %s as a capacity error (the cycle requeues the job)", async (reason) => {
    ecsMock.on(RunTaskCommand).resolves({ tasks: [], failures: [{ reason }] });
    const err = await ex.dispatch(spec()).catch((e) => e);
    expect(err).toBeInstanceOf(EcsCapacityError);
    expect(err.reason).toContain(reason);
    expect(err.message).toContain(reason);
  });

  it("turns a RunTask exception into a dispatch error carrying the service's message", async () => {
    ecsMock
      .on(RunTaskCommand)
      .rejects(Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" }));
    await expect(ex.dispatch(spec())).rejects.toBeInstanceOf(EcsCapacityError);
    ecsMock
      .on(RunTaskCommand)
      .rejects(
        Object.assign(new Error("No Container Instances were found"), { name: "InvalidParameterException" }),
      );
    await expect(ex.dispatch(spec())).rejects.toThrow(/InvalidParameterException: No Container Instances/);
  });

  it("sorts RunTask refusals: throttling and 5xx back off (later), invalid requests hold (never)", async () => {
    const fail = (name: string, status: number, fault: "client" | "server" = "client") =>
      Object.assign(new Error(name), { name, $fault: fault, $metadata: { httpStatusCode: status } });
    const cases: [Error, "later" | "never"][] = [
      [fail("ThrottlingException", 400), "later"],
      [fail("ServerException", 500, "server"), "later"],
      [fail("SomethingNew", 503, "server"), "later"],
      [fail("InvalidParameterException", 400), "never"],
      [fail("ClientException", 400), "never"],
      [fail("AccessDeniedException", 400), "never"],
    ];
    for (const [e, retry] of cases) {
      ecsMock.on(RunTaskCommand).rejects(e);
      const err = await ex.dispatch(spec()).catch((x) => x);
      expect(err, e.name).toBeInstanceOf(DispatchError);
      expect([e.name, err.retry]).toEqual([e.name, retry]);
      expect(err.cause).toBe(e);
    }
    // failures[]: capacity backs off, anything else holds; Fargate cannot size it: holds
    ecsMock.on(RunTaskCommand).resolves({ tasks: [], failures: [{ reason: "RESOURCE:MEMORY" }] });
    expect((await ex.dispatch(spec()).catch((x) => x)).retry).toBe("later");
    ecsMock.on(RunTaskCommand).resolves({ tasks: [], failures: [{ reason: "MISSING" }] });
    expect((await ex.dispatch(spec()).catch((x) => x)).retry).toBe("never");
    expect((await ex.dispatch(spec({ ngpus: 1 })).catch((x) => x)).retry).toBe("never");
  });

  it("paces RunTask: over the burst, a start is refused as later without calling ECS", async () => {
    let now = 1_000_000;
    const paced = new EcsExecutor(new ECSClient({ region: "us-east-1" }), {
      ...config,
      pacer: new RatePacer(2, 3, () => now),
    });
    ecsMock.on(RunTaskCommand).resolves(okTask);
    for (let i = 0; i < 3; i++) await paced.dispatch(spec({ runCount: i + 1 }));
    const err = await paced.dispatch(spec({ runCount: 9 })).catch((x) => x);
    expect(err.retry).toBe("later");
    expect(err.message).toMatch(/pace \(500 ms to the next\)/);
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(3);
    now += 500; // 2 a second: one more
    await paced.dispatch(spec({ runCount: 10 }));
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(4);
  });

  it("uses a capacity provider strategy when configured", async () => {
    ecsMock.on(RunTaskCommand).resolves(okTask);
    const spot = new EcsExecutor(new ECSClient({ region: "us-east-1" }), {
      ...config,
      capacityProviderStrategy: [{ capacityProvider: "FARGATE_SPOT", weight: 1 }],
    });
    await spot.dispatch(spec());
    expect(lastRunTask().launchType).toBeUndefined();
    expect(lastRunTask().capacityProviderStrategy).toEqual([{ capacityProvider: "FARGATE_SPOT", weight: 1 }]);
  });

  it("gzips a spec too big for the plain override and refuses one that does not fit even then", async () => {
    ecsMock.on(RunTaskCommand).resolves(okTask);
    const script = `${"echo line of a long script\n".repeat(400)}`; // ~11 KB, compresses well
    await ex.dispatch(spec({ script }));
    const env = envOf(lastRunTask());
    expect(env.JOB_SPEC).toBeUndefined();
    expect(JSON.parse(gunzipSync(Buffer.from(env.JOB_SPEC_GZ, "base64")).toString()).script).toBe(script);
    expect(JSON.stringify(lastRunTask().overrides).length).toBeLessThanOrEqual(8192);

    const random = randomBytes(9000).toString("base64"); // 12,000 characters that do not compress
    await expect(ex.dispatch(spec({ script: random }))).rejects.toThrow(
      /8192-character limit of ECS task overrides/,
    );
  });

  it("keeps startedBy within ECS's 36 allowed characters", () => {
    expect(startedByFor("123[4].casper")).toBe("123-4--casper");
    const long = startedByFor("12345678[1000].a-very-long-site-name-indeed");
    expect(long).toMatch(/^mq-[0-9a-f]{33}$/);
    expect(long).toBe(startedByFor("12345678[1000].a-very-long-site-name-indeed"));
  });

  it("kill finds the run's task by startedBy and stops only that run's task", async () => {
    const arn1 = "arn:aws:ecs:us-east-1:111122223333:task/mq-casper/run1";
    const arn2 = "arn:aws:ecs:us-east-1:111122223333:task/mq-casper/run2";
    const env = (rc: string) => ({
      containerOverrides: [
        {
          name: "mom",
          environment: [
            { name: "JOB_ID", value: "123.casper" },
            { name: "RUN_COUNT", value: rc },
          ],
        },
      ],
    });
    ecsMock.on(ListTasksCommand).resolves({ taskArns: [arn1, arn2] });
    ecsMock.on(DescribeTasksCommand).resolves({
      tasks: [
        { taskArn: arn1, overrides: env("1") },
        { taskArn: arn2, overrides: env("2") },
      ],
    });
    ecsMock.on(StopTaskCommand).resolves({});
    await ex.kill({ jobId: "123.casper", momId: "ecs:123:2", runCount: 2 }, "qdel");
    expect(ecsMock.commandCalls(ListTasksCommand)[0].args[0].input).toEqual({
      cluster: config.cluster,
      startedBy: "123-casper",
      desiredStatus: "RUNNING",
    });
    const stops = ecsMock.commandCalls(StopTaskCommand).map((c) => c.args[0].input);
    expect(stops).toEqual([
      { cluster: config.cluster, task: arn2, reason: "metaqueue: qdel of 123.casper run 2" },
    ]);
  });

  it("stopLost (the sweeper, before a requeue) stops the run's task with the reason; an ECS error rejects", async () => {
    const arn = "arn:aws:ecs:us-east-1:111122223333:task/mq-casper/run1";
    const overrides = {
      containerOverrides: [
        {
          name: "mom",
          environment: [
            { name: "JOB_ID", value: "123.casper" },
            { name: "RUN_COUNT", value: "1" },
          ],
        },
      ],
    };
    ecsMock.on(ListTasksCommand).resolves({ taskArns: [arn] });
    ecsMock.on(DescribeTasksCommand).resolves({ tasks: [{ taskArn: arn, overrides }] });
    ecsMock.on(StopTaskCommand).resolves({});
    const run = { jobId: "123.casper", momId: "ecs:123:1", runCount: 1 };
    await ex.stopLost(run, "MOM ecs:123:1 went silent (last heartbeat 300 s ago)");
    expect(ecsMock.commandCalls(StopTaskCommand).map((c) => c.args[0].input)).toEqual([
      {
        cluster: config.cluster,
        task: arn,
        reason:
          "metaqueue: MOM lost (MOM ecs:123:1 went silent (last heartbeat 300 s ago)), 123.casper run 1",
      },
    ]);
    // not known to be stopped: the sweeper must not requeue the job on it
    ecsMock
      .on(StopTaskCommand)
      .rejects(Object.assign(new Error("Rate exceeded"), { name: "ThrottlingException" }));
    await expect(ex.stopLost(run, "silent")).rejects.toThrow(/Rate exceeded/);
  });

  it("kill of a run whose task is gone does nothing", async () => {
    ecsMock.on(ListTasksCommand).resolves({ taskArns: [] });
    await ex.kill({ jobId: "123.casper", momId: "ecs:123:1", runCount: 1 }, "qdel");
    expect(ecsMock.commandCalls(DescribeTasksCommand)).toHaveLength(0);
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(0);
  });
});

describe("EcsExecutor: the task's MOM key", () => {
  it("puts MOM_KEY = HMAC(site MOM secret, momId) in the overrides, and nothing without a secret", () => {
    const s = spec();
    const envOf = (ex: EcsExecutor) =>
      ex.runTaskInput(s).overrides?.containerOverrides?.[0].environment ?? [];
    const secret = "m".repeat(64);
    const withKey = envOf(new EcsExecutor({} as never, { ...config, momSecret: secret }));
    expect(withKey.find((e) => e.name === "MOM_KEY")?.value).toBe(momKey(secret, s.momId));
    expect(envOf(new EcsExecutor({} as never, config)).some((e) => e.name === "MOM_KEY")).toBe(false);
  });
});
