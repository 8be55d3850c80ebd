import { describe, expect, it } from "vitest";
import { MemoryMetrics, PowertoolsMetrics } from "../../../shared/observability/metrics.js";

describe("metrics", () => {
  it("emits CloudWatch EMF through Powertools with the site as a dimension", () => {
    const m = new PowertoolsMetrics("casper");
    m.count("JobsSubmitted", 2);
    m.ms("CycleDuration", 12);
    const emf = m.metrics.serializeMetrics() as unknown as Record<string, unknown> & {
      _aws: {
        CloudWatchMetrics: {
          Namespace: string;
          Dimensions: string[][];
          Metrics: { Name: string; Unit: string }[];
        }[];
      };
    };
    const cw = emf._aws.CloudWatchMetrics[0];
    expect(cw.Namespace).toBe("metaqueue");
    expect(cw.Dimensions[0]).toContain("site");
    expect(cw.Metrics.map((x) => x.Name)).toEqual(expect.arrayContaining(["JobsSubmitted", "CycleDuration"]));
    expect(cw.Metrics.find((x) => x.Name === "CycleDuration")?.Unit).toBe("Milliseconds");
    expect(emf.JobsSubmitted).toBe(2);
    expect(emf.site).toBe("casper");
  });
  it("keeps totals locally, with and without dimensions", () => {
    const m = new MemoryMetrics();
    m.count("JobsFinished", 1, { queue: "q" });
    m.count("JobsFinished");
    expect(m.totals.JobsFinished).toBe(2);
    expect(m.totals["JobsFinished|queue=q"]).toBe(1);
  });
});
