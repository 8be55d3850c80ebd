/** Node pools in the site configuration, as seeded and as the scheduler sees their nodes. */
import { describe, expect, it } from "vitest";
import {
  assertAwsPools,
  assertLocalPools,
  fargateNodeSize,
  instanceArch,
  poolArch,
} from "../../../shared/config/node-pools.js";
import { parseConfig } from "../../../shared/config/site-config.js";
import { nodeInfo } from "../../../shared/server/objects.js";
import { siteObjects } from "../../../shared/server/seed.js";

const site = (extra: Record<string, unknown>) => ({
  name: "casper",
  server: "casper-pbs",
  queues: [{ name: "casper" }],
  nodes: [{ name: "n1", ncpus: 2 }],
  ...extra,
});

describe("node pools", () => {
  it("default idleOff 600 s, bootTimeout 300 s, 10 starts a minute; a node names its pool", () => {
    const cfg = parseConfig({
      sites: [
        site({
          nodePools: [{ name: "burst", kind: "process" }],
          nodes: [
            { name: "n1", ncpus: 2 },
            { name: "p1", ncpus: 4, pool: "burst" },
          ],
        }),
      ],
    });
    expect(cfg.sites[0].nodePools[0]).toEqual({
      name: "burst",
      kind: "process",
      idleOff: 600,
      bootTimeout: 300,
      startsPerMinute: 10,
    });
    const nodes = siteObjects(cfg.sites[0], "").filter((o) => o.kind === "node");
    // a node without a pool is seeded exactly as before: always on, no power attributes
    expect(nodes[0].attrs).toEqual({
      state: "free",
      Mom: "n1",
      "resources_available.ncpus": 2,
      "resources_available.mem": "4gb",
      "resources_available.ngpus": 0,
    });
    expect(nodes[1].attrs).toMatchObject({ pool: "burst", power_state: "sleep" });
    expect(nodeInfo({ ...nodes[0], ver: 0 }).state).toBe("free");
    expect(nodeInfo({ ...nodes[1], ver: 0 }).state).toBe("sleep");
  });

  it("refuses a node of an unknown pool", () => {
    expect(() => parseConfig({ sites: [site({ nodes: [{ name: "p1", ncpus: 1, pool: "nope" }] })] })).toThrow(
      /node p1 of site casper: no node pool nope/,
    );
  });

  it("shows the admin state over the power state: an offline sleeping node is offline; an up node is free", () => {
    const n = (attrs: Record<string, string | number>) =>
      nodeInfo({ kind: "node", name: "p1", ver: 0, attrs: { pool: "burst", ...attrs } }).state;
    expect(n({ state: "offline", power_state: "sleep" })).toBe("offline");
    expect(n({ state: "free", power_state: "provisioning" })).toBe("provisioning");
    expect(n({ state: "free", power_state: "up" })).toBe("free");
  });
});

describe("ECS node pools (fargate, ec2, external)", () => {
  const pools = (nodePools: unknown[], nodes: unknown[]) => () =>
    parseConfig({ sites: [site({ nodePools, nodes: [{ name: "n1", ncpus: 2 }, ...nodes] })] });

  it("parses a fargate, an ec2 GPU and an external pool with their nodes", () => {
    const cfg = pools(
      [
        { name: "cpu", kind: "fargate", idleOff: 300 },
        { name: "gpu", kind: "ec2", instanceTypes: ["g5.xlarge"] },
        { name: "onprem", kind: "external" },
      ],
      [
        { name: "f1", ncpus: 4, mem: "8gb", pool: "cpu" },
        { name: "g1", ncpus: 4, mem: "15gb", ngpus: 1, pool: "gpu" },
        { name: "h1", ncpus: 64, mem: "256gb", pool: "onprem" },
      ],
    )();
    const s = cfg.sites[0];
    expect(s.nodePools.map((p) => [p.name, p.kind, poolArch(p)])).toEqual([
      ["cpu", "fargate", "arm64"],
      ["gpu", "ec2", "x86_64"],
      ["onprem", "external", "x86_64"],
    ]);
    expect(s.nodePools[0].idleOff).toBe(300);
  });

  it("refuses a GPU node in a fargate pool, and one bigger than Fargate's largest task", () => {
    expect(
      pools([{ name: "cpu", kind: "fargate" }], [{ name: "f1", ncpus: 4, ngpus: 1, pool: "cpu" }]),
    ).toThrow(
      /node f1 of site casper \(pool cpu, fargate\): ngpus=1, but Fargate has no GPUs: put GPU nodes in an ec2 pool/,
    );
    expect(pools([{ name: "cpu", kind: "fargate" }], [{ name: "f1", ncpus: 32, pool: "cpu" }])).toThrow(
      /ncpus=32 mem=4gb is more than the largest Fargate task \(16 vCPU, 120 GiB\)/,
    );
    expect(
      pools([{ name: "cpu", kind: "fargate" }], [{ name: "f1", ncpus: 16, mem: "121gb", pool: "cpu" }]),
    ).toThrow(/more than the largest Fargate task/);
    // the largest size itself is fine
    expect(
      pools([{ name: "cpu", kind: "fargate" }], [{ name: "f1", ncpus: 16, mem: "120gb", pool: "cpu" }]),
    ).not.toThrow();
  });

  it("an ec2 pool needs instance types, a node must fit them, and only ec2 takes instance types", () => {
    expect(pools([{ name: "gpu", kind: "ec2" }], [])).toThrow(/an ec2 pool needs instanceTypes/);
    expect(
      pools(
        [{ name: "gpu", kind: "ec2", instanceTypes: ["g5.xlarge"] }],
        [{ name: "g1", ncpus: 4, ngpus: 2, pool: "gpu" }],
      ),
    ).toThrow(/node g1 .*ngpus=2 does not fit a g5.xlarge \(4 vCPU, 15360 MiB for tasks, 1 GPU\)/);
    expect(
      pools(
        [{ name: "big", kind: "ec2", instanceTypes: ["c7g.4xlarge"] }],
        [{ name: "b1", ncpus: 8, ngpus: 1, pool: "big" }],
      ),
    ).toThrow(/does not fit a c7g.4xlarge/);
    expect(pools([{ name: "cpu", kind: "fargate", instanceTypes: ["g5.xlarge"] }], [])).toThrow(
      /instanceTypes are for ec2 pools only \(this one is fargate\)/,
    );
    expect(pools([{ name: "mix", kind: "ec2", instanceTypes: ["g5.xlarge", "g5g.xlarge"] }], [])).toThrow(
      /both arm64 and x86_64/,
    );
    expect(pools([{ name: "x", kind: "process", arch: "arm64" }], [])).toThrow(/arch is for ECS pools/);
    expect(
      poolArch(pools([{ name: "x", kind: "external", arch: "arm64" }], [])().sites[0].nodePools[0]),
    ).toBe("arm64");
  });

  it("refuses an unknown kind, and local and ECS pools in one site", () => {
    expect(pools([{ name: "x", kind: "batch" }], [])).toThrow(
      /a pool's kind is one of process, fargate, ec2, external/,
    );
    expect(
      pools(
        [
          { name: "a", kind: "process" },
          { name: "b", kind: "fargate" },
        ],
        [],
      ),
    ).toThrow(/process pools \(local\) and ECS pools \(fargate, ec2, external\) cannot be mixed/);
  });

  it("the local runtime refuses ECS pools, the AWS stack process pools", () => {
    const ecs = pools([{ name: "cpu", kind: "fargate" }], [])().sites[0];
    const local = pools([{ name: "burst", kind: "process" }], [])().sites[0];
    expect(() => assertLocalPools(ecs)).toThrow(
      /site casper: node pool\(s\) cpu \(fargate\) start ECS tasks, which the local runtime cannot/,
    );
    expect(() => assertLocalPools(local)).not.toThrow();
    expect(() => assertAwsPools(local)).toThrow(/burst are kind "process"/);
    expect(() => assertAwsPools(ecs)).not.toThrow();
  });

  it("Fargate node sizes: the smallest valid size holding the node", () => {
    expect(fargateNodeSize(1, 2048)).toEqual({ cpu: 1024, memory: 2048 });
    expect(fargateNodeSize(2, 4096 + 1)).toEqual({ cpu: 2048, memory: 5120 });
    expect(fargateNodeSize(0.25, 100)).toEqual({ cpu: 256, memory: 512 });
    expect(fargateNodeSize(16, 122_880)).toEqual({ cpu: 16384, memory: 122_880 });
    expect(fargateNodeSize(17, 0)).toBeUndefined();
    expect(
      ["g5.xlarge", "c7g.16xlarge", "m7gd.large", "g5g.xlarge", "c7i.large", "g4dn.xlarge"].map(instanceArch),
    ).toEqual(["x86_64", "arm64", "arm64", "arm64", "x86_64", "x86_64"]);
  });
});
