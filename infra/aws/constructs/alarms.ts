/**
 * The site's alarms, all sent to one SNS topic (subscribe an address with the `alarmEmail`
 * context value, or anything else after deploy):
 * - a dead-letter queue holds a message (something failed maxReceiveCount times);
 * - a queue's oldest message is older than the threshold (consumers stuck or too slow);
 * - a Lambda reported an error, or was throttled.
 */
import { Duration } from "aws-cdk-lib";
import * as cw from "aws-cdk-lib/aws-cloudwatch";
import * as cwActions from "aws-cdk-lib/aws-cloudwatch-actions";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subs from "aws-cdk-lib/aws-sns-subscriptions";
import { Construct } from "constructs";
import type { QueueWithDlq } from "./queues.js";

export interface SiteAlarmsProps {
  site: string;
  functions: { name: string; fn: lambda.IFunction }[];
  queues: QueueWithDlq[];
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
