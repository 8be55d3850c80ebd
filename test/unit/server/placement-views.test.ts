/** Placement as the rest of the server shows and checks it: pbsnodes states, offers, qmgr values. */
import { describe, expect, it } from "vitest";
import { nodeView } from "../../../shared/api/render.js";
import { PbsParseError } from "../../../shared/errors.js";
import { freeAfter } from "../../../shared/scheduler/cycle.js";
import type { Allocation } from "../../../shared/scheduler/types.js";
import { convertAttr } from "../../../shared/server/objects.js";
import type { ServerObject } from "../../../shared/server/records.js";
import { jobRecord } from "../../fixtures/job.js";

const n1: ServerObject = {
  kind: "node",
  name: "n1",
  attrs: { "resources_available.ncpus": 4, "resources_available.mem": "8gb" },
  ver: 1,
};
const on = (alloc: Allocation[]) => [jobRecord(1, { state: "R", alloc })];

describe("pbsnodes state", () => {
  it("is job-exclusive while a job holds the node alone, whatever cpus are free", () => {
    expect(
      nodeView(n1, on([{ node: "n1", ncpus: 1, mem: 0, ngpus: 0, excl: "excl" }])).attributes.state,
    ).toBe("job-exclusive");
    expect(nodeView(n1, on([{ node: "n1", ncpus: 1, mem: 0, ngpus: 0 }])).attributes.state).toBe("free");
    expect(nodeView(n1, on([{ node: "n1", ncpus: 4, mem: 0, ngpus: 0 }])).attributes.state).toBe("job-busy");
    // a hold on another node does not count here
    expect(
      nodeView(n1, on([{ node: "n2", ncpus: 1, mem: 0, ngpus: 0, excl: "excl" }])).attributes.state,
    ).toBe("free");
  });

  it("shows the node's sharing, default_shared unless set", () => {
    expect(nodeView(n1, []).attributes.sharing).toBe("default_shared");
    expect(nodeView({ ...n1, attrs: { ...n1.attrs, sharing: "force_excl" } }, []).attributes.sharing).toBe(
      "force_excl",
    );
  });
});

describe("offers to peers", () => {
  it("offer no room on a node a job holds exclusively", () => {
    const nodes = [
      { name: "n1", state: "free" as const, available: { ncpus: 4, mem: 0, ngpus: 0 } },
      { name: "n2", state: "free" as const, available: { ncpus: 4, mem: 0, ngpus: 0 } },
    ];
    expect(freeAfter(nodes, [[{ node: "n1", ncpus: 1, mem: 0, ngpus: 0, excl: "excl" }]])).toEqual([
      { ncpus: 4, mem: 0, ngpus: 0 },
    ]);
    expect(freeAfter(nodes, [[{ node: "n1", ncpus: 1, mem: 0, ngpus: 0 }]])).toHaveLength(2);
  });
});

describe("qmgr values", () => {
  it("takes a node's sharing from PBS's list only", () => {
    expect(convertAttr("node", "sharing", "Force_Excl")).toBe("force_excl");
    expect(() => convertAttr("node", "sharing", "sometimes")).toThrow(PbsParseError);
  });

  it("checks a queue's default place as qsub would", () => {
    expect(convertAttr("queue", "resources_default.place", "scatter:excl")).toBe("scatter:excl");
    expect(() => convertAttr("queue", "resources_default.place", "group=switch")).toThrow(/Unknown resource/);
    expect(() => convertAttr("queue", "resources_default.place", "everywhere")).toThrow(PbsParseError);
  });
});
