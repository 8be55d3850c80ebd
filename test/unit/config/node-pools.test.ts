/** Node pools in the site configuration, as seeded and as the scheduler sees their nodes. */
import { describe, expect, it } from "vitest";
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

  it("refuses a node of an unknown pool, and pools of kinds that do not work yet", () => {
    expect(() => parseConfig({ sites: [site({ nodes: [{ name: "p1", ncpus: 1, pool: "nope" }] })] })).toThrow(
      /node p1 of site casper: no node pool nope/,
    );
    for (const kind of ["fargate", "ec2", "external"])
      expect(() => parseConfig({ sites: [site({ nodePools: [{ name: "x", kind }] })] })).toThrow(
        /only `process` pools work yet/,
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
