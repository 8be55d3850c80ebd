/**
 * The node pools' SSM parameter (issue 12): the document the stack writes (nodes as runs of
 * names) reads back exactly, for a site of 2,000 pool nodes in a standard parameter; the
 * functions read it once per TTL (SSM mocked: there is no local SSM) and build their pools and
 * their executor from it, not from the environment.
 */
import { GetParameterCommand, SSMClient } from "@aws-sdk/client-ssm";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import {
  decodeNodePools,
  type EcsPoolNode,
  encodeNodePools,
  type NodePoolsDoc,
} from "../../../shared/config/node-pools-doc.js";
import { contextFromEnv } from "../../../lambdas/env.js";
import { lazyExecutorFromEnv } from "../../../lambdas/ecs-env.js";
import {
  forgetNodePools,
  loadedNodePools,
  loadNodePools,
  NODE_POOLS_TTL_MS,
} from "../../../lambdas/node-pools-env.js";

const policies = [
  { name: "cpu", idleOff: 300, bootTimeout: 300, startsPerMinute: 10 },
  { name: "gpu", idleOff: 600, bootTimeout: 600, startsPerMinute: 5 },
];
const pools: NodePoolsDoc["ecs"]["pools"] = [
  {
    name: "cpu",
    kind: "fargate",
    taskDefinition: "arn:aws:ecs:us-east-1:111111111111:task-definition/cpu:3",
  },
  {
    name: "gpu",
    kind: "ec2",
    taskDefinition: "arn:aws:ecs:us-east-1:111111111111:task-definition/gpu:7",
    capacityProvider: "mq-casper-node-gpu",
  },
];

/** 2,000 nodes: runs of padded and plain numbers, a size change inside a run, names without numbers. */
function twoThousand(): EcsPoolNode[] {
  const nodes: EcsPoolNode[] = [];
  for (let i = 1; i <= 1500; i++) nodes.push([`cpu${String(i).padStart(4, "0")}`, "cpu", 2, 4096, 0]);
  // a bigger node in the middle of a run breaks it; the run goes on after it
  for (let i = 1; i <= 480; i++) nodes.push([`g${i}`, "gpu", i === 240 ? 8 : 4, 16384, 1]);
  for (let i = 0; i < 10; i++) nodes.push([`bigmem-${"abcdefghij"[i]}`, "cpu", 64, 262144, 0]);
  for (let i = 9; i <= 18; i++) nodes.push([`n${i}`, "cpu", 1, 2048, 0]);
  return nodes;
}

afterEach(() => forgetNodePools());

describe("the node pools' document", () => {
  it("2,000 nodes read back exactly, in a standard parameter (4 KB)", () => {
    const doc: NodePoolsDoc = { policies, ecs: { pools, nodes: twoThousand() } };
    expect(doc.ecs.nodes).toHaveLength(2000);
    const text = encodeNodePools(doc);
    expect(text.length).toBeLessThan(4096);
    expect(decodeNodePools(text)).toEqual(doc);
    // the runs as written: one per unbroken run of one size
    const stored = JSON.parse(text).nodes.map((n: EcsPoolNode) => n[0]);
    expect(stored.slice(0, 4)).toEqual(["cpu[0001-1500]", "g[1-239]", "g240", "g[241-480]"]);
    expect(stored).toContain("n[9-18]");
  });

  it("a name the width rule cannot give back stays alone; a bad document is refused with why", () => {
    const nodes: EcsPoolNode[] = [
      ["a01", "cpu", 1, 1, 0],
      ["a2", "cpu", 1, 1, 0],
      ["a3", "cpu", 1, 1, 0],
      ["x", "cpu", 1, 1, 0],
    ];
    const doc: NodePoolsDoc = { policies, ecs: { pools, nodes } };
    expect(decodeNodePools(encodeNodePools(doc))).toEqual(doc);
    expect(() => encodeNodePools({ policies, ecs: { pools, nodes: [["a[1-2]", "cpu", 1, 1, 0]] } })).toThrow(
      /"\[" is not allowed/,
    );
    expect(() => decodeNodePools("{")).toThrow(/not JSON/);
    expect(() =>
      decodeNodePools(JSON.stringify({ v: 1, policies, pools, nodes: [["a", "cpu", -1, 1, 0]] })),
    ).toThrow(/nodes\.0\.2/);
  });
});

describe("the functions read the pools from the parameter", () => {
  const NAME = "/metaqueue/casper/node-pools";
  const env = {
    AWS_REGION: "us-east-1",
    SITE_SHORT: "casper",
    SITE_SERVER: "casper-pbs",
    TABLE_NAME: "t",
    SCHED_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/1/s",
    EVENTS_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/1/e",
    NODE_POOLS_PARAMETER: NAME,
    ECS_CLUSTER: "arn:aws:ecs:us-east-1:111111111111:cluster/c",
    ECS_TASK_DEFINITION: "arn:aws:ecs:us-east-1:111111111111:task-definition/mom:1",
    ECS_SUBNETS: "subnet-1",
    MOM_CHANNEL_ENDPOINT: "https://abc123.execute-api.us-east-1.amazonaws.com/prod",
  };

  it("once per TTL; a failed refresh keeps the pools read; the executor is rebuilt when they change", async () => {
    const ssm = mockClient(SSMClient);
    let version = 1;
    ssm.on(GetParameterCommand, { Name: NAME }).callsFake(async () => ({
      Parameter: {
        Value: encodeNodePools({
          policies,
          ecs: { pools, nodes: twoThousand().slice(0, version === 1 ? 2000 : 1999) },
        }),
      },
    }));
    let t = 0;
    const opts = { ssm: new SSMClient({ region: "us-east-1" }), now: () => t };
    expect(() => loadedNodePools(env)).toThrow(/not read yet/);
    await loadNodePools(env, opts);
    await loadNodePools(env, opts);
    expect(ssm.commandCalls(GetParameterCommand)).toHaveLength(1);
    const first = loadedNodePools(env);
    expect(first?.ecs.nodes).toHaveLength(2000);
    // the context's pools come from it (no NODE_POOLS in the environment)
    const ctx = contextFromEnv(lazyExecutorFromEnv(env), env);
    expect([...(ctx.pools?.keys() ?? [])]).toEqual(["cpu", "gpu"]);
    // the executor knows the pool nodes from it: a pool node's MOM is its power-on's, any other
    // host's a per-run task's
    const ex = lazyExecutorFromEnv(env);
    expect(ex.momIdFor("cpu0001", "1", 1, 1000)).toBe("cpu0001:prs");
    expect(ex.momIdFor("n18", "1", 1, 1000)).toBe("n18:prs");
    expect(ex.momIdFor("cpu2001", "1", 1, 1000)).toBe("ecs:1:1");

    // within the TTL: no read; after it, a failed read keeps what was read
    t += NODE_POOLS_TTL_MS;
    ssm.on(GetParameterCommand, { Name: NAME }).rejectsOnce(new Error("throttled"));
    await loadNodePools(env, opts);
    expect(loadedNodePools(env)).toBe(first);
    // the next read finds it changed: a new document
    version = 2;
    ssm.on(GetParameterCommand, { Name: NAME }).callsFake(async () => ({
      Parameter: {
        Value: encodeNodePools({ policies, ecs: { pools, nodes: twoThousand().slice(0, 1999) } }),
      },
    }));
    await loadNodePools(env, opts);
    expect(loadedNodePools(env)).not.toBe(first);
    expect(loadedNodePools(env)?.ecs.nodes).toHaveLength(1999);
    // the executor built from the old pools is built again: n18 is no pool node any more
    expect(ex.momIdFor("n18", "1", 1, 1000)).toBe("ecs:1:1");
    ssm.restore();
  });
});
