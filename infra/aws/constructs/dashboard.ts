/**
 * The site's CloudWatch dashboard: Lambda errors, throttles and duration per function; for
 * each queue and its DLQ the age of the oldest message and the visible messages; DynamoDB
 * consumed capacity and throttles; the HTTP API's errors and latency.
 */
import { Duration } from "aws-cdk-lib";
import type { HttpApi } from "aws-cdk-lib/aws-apigatewayv2";
import * as cw from "aws-cdk-lib/aws-cloudwatch";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import { Construct } from "constructs";
import type { QueueWithDlq } from "./queues.js";
import { cycleDuration, dispatchFailures, jobsLost, momForgeries } from "./site-metrics.js";

export interface SiteDashboardProps {
  site: string;
  functions: { name: string; fn: lambda.IFunction }[];
  queues: QueueWithDlq[];
  table: dynamodb.ITable;
  api: HttpApi;
}

const PERIOD = Duration.minutes(1);
const W = 8;
const H = 6;

export class SiteDashboard extends Construct {
  readonly dashboard: cw.Dashboard;

  constructor(scope: Construct, id: string, props: SiteDashboardProps) {
    super(scope, id);
    const fns = props.functions;
    const d = new cw.Dashboard(this, "Dashboard", {
      dashboardName: `metaqueue-${props.site}`,
      defaultInterval: Duration.hours(3),
    });
    const metricsOf = (f: (fn: lambda.IFunction) => cw.IMetric) =>
      fns.map(({ name, fn }) => {
        const m = f(fn) as cw.Metric;
        return m.with({ label: name, period: PERIOD });
      });
    d.addWidgets(
      new cw.TextWidget({ markdown: `# metaqueue ${props.site}`, width: 24, height: 1 }),
      new cw.GraphWidget({
        title: "Lambda errors",
        left: metricsOf((fn) => fn.metricErrors({ statistic: "Sum" })),
        width: W,
        height: H,
      }),
      new cw.GraphWidget({
        title: "Lambda throttles",
        left: metricsOf((fn) => fn.metricThrottles({ statistic: "Sum" })),
        width: W,
        height: H,
      }),
      new cw.GraphWidget({
        title: "Lambda duration p95 (ms)",
        left: metricsOf((fn) => fn.metricDuration({ statistic: "p95" })),
        width: W,
        height: H,
      }),
    );
    d.addWidgets(
      new cw.GraphWidget({
        title: "Dispatch failures",
        left: [dispatchFailures(props.site).with({ label: "dispatch failures" })],
        width: W,
        height: H,
      }),
      new cw.GraphWidget({
        title: "Jobs lost / forged MOM messages refused",
        left: [jobsLost(props.site)],
        right: [momForgeries(props.site).with({ label: "forged MOM messages" })],
        width: W,
        height: H,
      }),
      new cw.GraphWidget({
        title: "Scheduler cycle duration, max (ms)",
        left: [cycleDuration(props.site).with({ label: "cycle (ms)" })],
        width: W,
        height: H,
      }),
    );
    for (const { queue, dlq } of props.queues) {
      const row: cw.IWidget[] = [];
      for (const q of [queue, dlq]) {
        row.push(
          new cw.GraphWidget({
            title: `${q === dlq ? "DLQ " : ""}${nameOf(props, q)}: oldest message age (s) / visible messages`,
            left: [
              q.metricApproximateAgeOfOldestMessage({
                period: PERIOD,
                statistic: "Maximum",
                label: "age (s)",
              }),
            ],
            right: [
              q.metricApproximateNumberOfMessagesVisible({
                period: PERIOD,
                statistic: "Maximum",
                label: "visible",
              }),
            ],
            width: 12,
            height: H,
          }),
        );
      }
      d.addWidgets(...row);
    }
    const t = props.table;
    const tm = (metricName: string, label: string) =>
      t.metric(metricName, { period: PERIOD, statistic: "Sum", label });
    d.addWidgets(
      new cw.GraphWidget({
        title: "DynamoDB consumed capacity (units/min)",
        left: [tm("ConsumedReadCapacityUnits", "read"), tm("ConsumedWriteCapacityUnits", "write")],
        width: W,
        height: H,
      }),
      new cw.GraphWidget({
        title: "DynamoDB throttles",
        left: [tm("ReadThrottleEvents", "read throttles"), tm("WriteThrottleEvents", "write throttles")],
        width: W,
        height: H,
      }),
      new cw.GraphWidget({
        title: "HTTP API errors and latency",
        left: [
          props.api.metricClientError({ period: PERIOD, label: "4xx" }),
          props.api.metricServerError({ period: PERIOD, label: "5xx" }),
        ],
        right: [props.api.metricLatency({ period: PERIOD, statistic: "p95", label: "latency p95 (ms)" })],
        width: W,
        height: H,
      }),
    );
    this.dashboard = d;
  }
}

function nameOf(props: SiteDashboardProps, q: QueueWithDlq["queue"]): string {
  for (const { def, queue, dlq } of props.queues) {
    if (q === queue) return def.name;
    if (q === dlq) return def.dlq?.name ?? def.name;
  }
  return q.node.id;
}
