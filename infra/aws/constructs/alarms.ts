/**
 * The site's alarms, all sent to one SNS topic (subscribe an address with the `alarmEmail`
 * context value, or anything else after deploy):
 * - a dead-letter queue holds a message (something failed maxReceiveCount times);
 * - a queue's oldest message is older than the threshold (consumers stuck or too slow);
 * - a Lambda reported an error, or was throttled;
 * - dispatches keep failing, jobs are lost (their MOM went silent), a scheduler cycle nears the
 *   scheduler's timeout;
 * - the site table throttled requests for ten minutes running (a provisioned table's maximum is
 *   too low, or one key is written too often).
 */
import { Duration } from "aws-cdk-lib";
import * as cw from "aws-cdk-lib/aws-cloudwatch";
import * as cwActions from "aws-cdk-lib/aws-cloudwatch-actions";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subs from "aws-cdk-lib/aws-sns-subscriptions";
import { Construct } from "constructs";
import { SCHEDULER_TIMEOUT_S } from "../../../shared/scheduler/accumulation.js";
import type { QueueWithDlq } from "./queues.js";
import { cycleDuration, dispatchFailures, jobsLost, momForgeries } from "./site-metrics.js";

export interface SiteAlarmsProps {
  site: string;
  functions: { name: string; fn: lambda.IFunction }[];
  queues: QueueWithDlq[];
  /** the site table */
  table: dynamodb.ITable;
  /** default 300 s */
  queueAgeThreshold?: Duration;
  alarmEmail?: string;
}

export class SiteAlarms extends Construct {
  readonly topic: sns.Topic;
  readonly alarms: cw.Alarm[] = [];

  constructor(scope: Construct, id: string, props: SiteAlarmsProps) {
    super(scope, id);
    this.topic = new sns.Topic(this, "Topic", {
      displayName: `metaqueue ${props.site} alarms`,
      enforceSSL: true,
    });
    if (props.alarmEmail) this.topic.addSubscription(new subs.EmailSubscription(props.alarmEmail));
    const action = new cwActions.SnsAction(this.topic);
    const add = (alarmId: string, alarmProps: cw.AlarmProps) => {
      const a = new cw.Alarm(this, alarmId, alarmProps);
      a.addAlarmAction(action);
      this.alarms.push(a);
    };
    const ageSec = (props.queueAgeThreshold ?? Duration.minutes(5)).toSeconds();
    const p = `metaqueue-${props.site}`;
    for (const { def, queue, dlq } of props.queues) {
      const dlqName = def.dlq?.name ?? `${def.name}-dlq`;
      add(`Dlq${queue.node.id}`, {
        alarmName: `${p} DLQ ${dlqName} has messages`,
        alarmDescription: `Messages of ${def.name} failed ${def.dlq?.maxReceiveCount} times and are in ${dlqName}: inspect, fix, redrive.`,
        metric: dlq.metricApproximateNumberOfMessagesVisible({
          period: Duration.minutes(1),
          statistic: "Maximum",
        }),
        threshold: 0,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cw.TreatMissingData.NOT_BREACHING,
      });
      add(`Age${queue.node.id}`, {
        alarmName: `${p} ${def.name} oldest message older than ${ageSec}s`,
        alarmDescription: `The consumer of ${def.name} is not keeping up (or not running).`,
        metric: queue.metricApproximateAgeOfOldestMessage({
          period: Duration.minutes(1),
          statistic: "Maximum",
        }),
        threshold: ageSec,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 3,
        treatMissingData: cw.TreatMissingData.NOT_BREACHING,
      });
    }
    add("DispatchFailures", {
      alarmName: `${p} dispatch failures`,
      alarmDescription:
        "RunTask keeps failing (capacity, quota, throttling, bad size) in 3 of 5 minutes: jobs stay queued. See the scheduler's log.",
      metric: dispatchFailures(props.site),
      threshold: 0,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 5,
      datapointsToAlarm: 3,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
    add("JobsLost", {
      alarmName: `${p} jobs lost`,
      alarmDescription: "A MOM went silent and its jobs were requeued or ended (tasks stopped or died).",
      metric: jobsLost(props.site),
      threshold: 0,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
    add("MomForgeries", {
      alarmName: `${p} forged MOM messages`,
      alarmDescription:
        'A report, push-channel connect or output-grant request signed with no MOM\'s key was refused: job code or a stolen task identity trying to act for the site. See the events, channel and sweeper logs ("refused").',
      metric: momForgeries(props.site),
      threshold: 0,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 1,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
    add("CycleDuration", {
      alarmName: `${p} scheduler cycle longer than ${SCHEDULER_TIMEOUT_S / 2}s`,
      alarmDescription:
        "A scheduler cycle took over half the scheduler's timeout: near it, cycles time out and their triggers are retried.",
      metric: cycleDuration(props.site),
      threshold: (SCHEDULER_TIMEOUT_S / 2) * 1000,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 3,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
    // Sustained, not a burst: a provisioned table throttles while its scaling catches up (a few
    // minutes), and the store's callers retry and answer 503 meanwhile (nothing half-written).
    const throttled = (m: string) => props.table.metric(m, { period: Duration.minutes(5), statistic: "Sum" });
    add("TableThrottles", {
      alarmName: `${p} table throttled requests`,
      alarmDescription:
        "The site table throttled reads or writes for 10 minutes: raise a provisioned table's maximum (context tableCapacity), or find the hot key.",
      metric: new cw.MathExpression({
        expression: "r + w",
        usingMetrics: { r: throttled("ReadThrottleEvents"), w: throttled("WriteThrottleEvents") },
        period: Duration.minutes(5),
        label: "throttle events",
      }),
      threshold: 0,
      comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
      evaluationPeriods: 2,
      treatMissingData: cw.TreatMissingData.NOT_BREACHING,
    });
    for (const { name, fn } of props.functions) {
      add(`Errors${name}`, {
        alarmName: `${p} ${name} Lambda errors`,
        metric: fn.metricErrors({ period: Duration.minutes(5), statistic: "Sum" }),
        threshold: 0,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cw.TreatMissingData.NOT_BREACHING,
      });
      add(`Throttles${name}`, {
        alarmName: `${p} ${name} Lambda throttles`,
        metric: fn.metricThrottles({ period: Duration.minutes(5), statistic: "Sum" }),
        threshold: 0,
        comparisonOperator: cw.ComparisonOperator.GREATER_THAN_THRESHOLD,
        evaluationPeriods: 1,
        treatMissingData: cw.TreatMissingData.NOT_BREACHING,
      });
    }
  }
}
