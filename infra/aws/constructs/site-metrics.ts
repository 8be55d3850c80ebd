/**
 * The site's own metrics, as the handlers emit them (shared/observability/metrics.ts:
 * Powertools EMF, namespace "metaqueue", dimensions service=metaqueue and site=<site>, plus
 * the metric's own), for the alarms and the dashboard.
 */
import { Duration } from "aws-cdk-lib";
import * as cw from "aws-cdk-lib/aws-cloudwatch";

export const METRICS_NAMESPACE = "metaqueue";

function siteMetric(site: string, metricName: string, statistic: string, dims: Record<string, string> = {}) {
  return new cw.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: "metaqueue", site, ...dims },
    statistic,
    period: Duration.minutes(1),
  });
}

/** scheduler dispatches that failed (RunTask errors: capacity, quota, throttling) */
export const dispatchFailures = (site: string) => siteMetric(site, "DispatchFailures", "Sum");

/** jobs whose MOM went silent, requeued or ended (shared/server/job-end.ts) */
export function jobsLost(site: string): cw.IMetric {
  return new cw.MathExpression({
    expression: "FILL(requeued, 0) + FILL(ended, 0)",
    usingMetrics: {
      requeued: siteMetric(site, "JobsLost", "Sum", { outcome: "requeued" }),
      ended: siteMetric(site, "JobsLost", "Sum", { outcome: "ended" }),
    },
    label: "jobs lost",
    period: Duration.minutes(1),
  });
}

/**
 * forged MOM reports, connects and output-grant requests refused (shared/observability/metrics.ts
 * countMomRefusal): something that holds no MOM key tried to act for the site
 */
export const momForgeries = (site: string) => siteMetric(site, "MomForgeries", "Sum");

/** the longest scheduler cycle of the minute, all partitions (ms) */
export const cycleDuration = (site: string) => siteMetric(site, "CycleDuration", "Maximum");
