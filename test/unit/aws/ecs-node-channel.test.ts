/**
 * ECS pool nodes on the MOM push channel (issue 12 point 1): with MOM_CHANNEL_ENDPOINT set, the
 * executor the Lambdas build from their environment (lambdas/ecs-env.ts) pushes a run, a kill
 * and a signal on a pool node to the connection its MOM of the node's current power-on holds
 * (PostToConnection through API Gateway's management API, mocked), starts no ECS task for it,
 * and refuses as `later` (the job is requeued) a run whose MOM holds no live connection.
 */
import {
  ApiGatewayManagementApiClient,
  GoneException,
  PostToConnectionCommand,
} from "@aws-sdk/client-apigatewaymanagementapi";
import { ECSClient, RunTaskCommand, StopTaskCommand } from "@aws-sdk/client-ecs";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { executorFromEnv } from "../../../lambdas/ecs-env.js";
import { nodeMomId } from "../../../shared/adapters/executor/ecs-nodes.js";
import { MemorySiteStore } from "../../../shared/adapters/memory/store.js";
import { RejectedError } from "../../../shared/errors.js";
import { DispatchError, type JobRunSpec, type MomPush } from "../../../shared/ports/index.js";

const ecsMock = mockClient(ECSClient);
const apiMock = mockClient(ApiGatewayManagementApiClient);
const AT = 1_790_000_000_000;
const env = {
  AWS_REGION: "us-east-1",
  ECS_CLUSTER: "arn:aws:ecs:us-east-1:111122223333:cluster/site",
  ECS_TASK_DEFINITION: "mom:1",
  ECS_SUBNETS: "subnet-1",
  ECS_CONTAINER_NAME: "mom",
  ECS_NODE_POOLS: JSON.stringify({
    pools: [{ name: "cpu", kind: "fargate", taskDefinition: "td-cpu:1" }],
    nodes: [["f1", "cpu", 1, 2048, 0]],
  }),
  MOM_CHANNEL_ENDPOINT: "https://abc123.execute-api.us-east-1.amazonaws.com/mom",
};

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

const posts = () =>
  apiMock.commandCalls(PostToConnectionCommand).map((c) => ({
    conn: c.args[0].input.ConnectionId,
    msg: JSON.parse(Buffer.from(c.args[0].input.Data as Uint8Array).toString()) as MomPush,
  }));

describe("ECS pool nodes on the push channel (executorFromEnv, MOM_CHANNEL_ENDPOINT)", () => {
  let store: MemorySiteStore;
  beforeEach(() => {
    ecsMock.reset();
    apiMock.reset();
    store = new MemorySiteStore();
  });
  const executor = () => executorFromEnv(env, "secret", { connections: store });

  it("a run on an up pool node is pushed to the connection of the MOM of its current power-on", async () => {
    const momId = nodeMomId("f1", AT);
    await store.putMomConnection({ momId, connectionId: "conn-now", at: AT + 5 });
    // the MOM of an earlier power-on still holds a connection: it must not get the run
    await store.putMomConnection({
      momId: nodeMomId("f1", AT - 60_000),
      connectionId: "conn-old",
      at: AT - 1,
    });
    apiMock.on(PostToConnectionCommand).resolves({});
    const ex = executor();
    expect(ex.momIdFor("f1", "7", 1, AT)).toBe(momId);
    await ex.dispatch(run(momId));
    const p = posts();
    expect(p).toHaveLength(1);
    expect(p[0].conn).toBe("conn-now");
    expect(p[0].msg).toMatchObject({ type: "run", spec: { jobId: "7.casper", momId, runCount: 1 } });
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
  });

  it("410 Gone: the record is dropped and the run refused as later (requeued), no task started", async () => {
    const momId = nodeMomId("f1", AT);
    await store.putMomConnection({ momId, connectionId: "conn-dead", at: AT + 5 });
    apiMock
      .on(PostToConnectionCommand)
      .rejects(new GoneException({ message: "gone", $metadata: { httpStatusCode: 410 } }));
    const e = await executor()
      .dispatch(run(momId))
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DispatchError);
    expect((e as DispatchError).retry).toBe("later");
    expect((e as Error).message).toMatch(/unreachable/);
    expect(await store.getMomConnection(momId)).toBeUndefined();
    expect(ecsMock.commandCalls(RunTaskCommand)).toHaveLength(0);
  });

  it("no connection for the node's current MOM (only an earlier one's): refused as later, nothing posted", async () => {
    await store.putMomConnection({
      momId: nodeMomId("f1", AT - 60_000),
      connectionId: "conn-old",
      at: AT - 1,
    });
    const e = await executor()
      .dispatch(run(nodeMomId("f1", AT)))
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DispatchError);
    expect((e as DispatchError).retry).toBe("later");
    expect(posts()).toHaveLength(0);
  });

  it("a node never powered on names no MOM: its run is refused as later", async () => {
    const ex = executor();
    const momId = ex.momIdFor("f1", "7", 1);
    const e = await ex.dispatch(run(momId)).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DispatchError);
    expect((e as DispatchError).retry).toBe("later");
    expect(posts()).toHaveLength(0);
  });

  it("kill and qsig are pushed to the node's MOM; its task is not stopped", async () => {
    const momId = nodeMomId("f1", AT);
    await store.putMomConnection({ momId, connectionId: "conn-now", at: AT + 5 });
    apiMock.on(PostToConnectionCommand).resolves({});
    const ex = executor();
    const job = { jobId: "7.casper", momId, runCount: 1 };
    await ex.kill(job, "qdel");
    await ex.signal(job, "SIGUSR1");
    expect(posts().map((p) => [p.conn, p.msg])).toEqual([
      // `at`: the request's time, which a MOM's `norun` answer echoes
      ["conn-now", { type: "kill", jobId: "7.casper", runCount: 1, reason: "qdel", at: expect.any(Number) }],
      [
        "conn-now",
        { type: "signal", jobId: "7.casper", runCount: 1, signal: "SIGUSR1", at: expect.any(Number) },
      ],
    ]);
    expect(ecsMock.commandCalls(StopTaskCommand)).toHaveLength(0);
  });

  it("qsig to a MOM with no connection is refused (MomRejected); a kill leaves it to the sweeper", async () => {
    const job = { jobId: "7.casper", momId: nodeMomId("f1", AT), runCount: 1 };
    const ex = executor();
    await expect(ex.kill(job, "qdel")).resolves.toBeUndefined();
    const e = await ex.signal(job, "SIGUSR1").catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RejectedError);
    expect(posts()).toHaveLength(0);
  });

  it("without MOM_CHANNEL_ENDPOINT a run on a pool node still waits for the channel", async () => {
    const { MOM_CHANNEL_ENDPOINT: _, ...bare } = env;
    const ex = executorFromEnv(bare, "secret", { connections: store });
    const e = await ex.dispatch(run(ex.momIdFor("f1", "7", 1, AT))).catch((x: unknown) => x);
    expect((e as Error).message).toMatch(/dispatch channel is not deployed/);
  });
});
