/**
 * Metrics port. On Lambda it is Powertools Metrics (CloudWatch EMF, flushed at the end of every
 * invocation); locally and in tests it is a counter map, so what is emitted can be asserted.
 */
import { Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";

export interface MetricsPort {
  count(name: string, value?: number, dims?: Record<string, string>): void;
  ms(name: string, value: number, dims?: Record<string, string>): void;
}

export const noMetrics: MetricsPort = { count() {}, ms() {} };

/**
 * A refused MOM report, connect or output grant, counted under its own `name` with its
 * dimensions; a forged one (a bad signature: not written by the MOM it names, e.g. job code
 * trying to act for the site, issue 12) is counted once more as `MomForgeries`, with no
 * dimension of its own, so one alarm watches every path (an alarm cannot sum a metric over
 * dimension sets it does not name). Stale and replayed ones are not: a slow queue makes those.
 */
export function countMomRefusal(
  metrics: MetricsPort | undefined,
  name: "MomReportsRefused" | "MomConnectsRefused" | "MomGrantsRefused",
  reason: string,
  dims: Record<string, string> = {},
): void {
  metrics?.count(name, 1, { reason, ...dims });
  if (reason === "forged") metrics?.count("MomForgeries", 1);
}

/** In-memory metrics: totals by `name` and `name|k=v,...`. */
export class MemoryMetrics implements MetricsPort {
  readonly totals: Record<string, number> = {};
  count(name: string, value = 1, dims?: Record<string, string>): void {
    this.add(name, value, dims);
  }
  ms(name: string, value: number, dims?: Record<string, string>): void {
    this.add(name, value, dims);
  }
  private add(name: string, value: number, dims?: Record<string, string>): void {
    this.totals[name] = (this.totals[name] ?? 0) + value;
    if (dims) {
      const k = `${name}|${Object.entries(dims)
        .map(([a, b]) => `${a}=${b}`)
        .join(",")}`;
      this.totals[k] = (this.totals[k] ?? 0) + value;
    }
  }
}

/** Powertools EMF metrics for one site; call flush() when an invocation ends. */
export class PowertoolsMetrics implements MetricsPort {
  readonly metrics: Metrics;
  /** `metrics`: an existing Powertools object (the one a middleware flushes), else a new one */
  constructor(site: string, metrics?: Metrics, namespace = "metaqueue") {
    this.metrics = metrics ?? new Metrics({ namespace, serviceName: "metaqueue" });
    this.metrics.setDefaultDimensions({ site });
  }
  count(name: string, value = 1, dims?: Record<string, string>): void {
    this.emit(name, MetricUnit.Count, value, dims);
  }
  ms(name: string, value: number, dims?: Record<string, string>): void {
    this.emit(name, MetricUnit.Milliseconds, value, dims);
  }
  private emit(
    name: string,
    unit: (typeof MetricUnit)[keyof typeof MetricUnit],
    value: number,
    dims?: Record<string, string>,
  ): void {
    if (dims && Object.keys(dims).length) {
      // a metric with its own dimensions goes out on its own (EMF: one dimension set per record)
      const single = this.metrics.singleMetric();
      for (const [k, v] of Object.entries(dims)) single.addDimension(k, v);
      single.addMetric(name, unit, value);
    } else this.metrics.addMetric(name, unit, value);
  }
  flush(): void {
    this.metrics.publishStoredMetrics();
  }
}
