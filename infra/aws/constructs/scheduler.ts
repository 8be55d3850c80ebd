/**
 * The scheduler: a Lambda fed by the site's FIFO sched queue (one cycle per partition at a
 * time, see eventSourceProps), which dispatches jobs with ECS RunTask; and the sweeper, the
 * periodic tick (EventBridge, every minute): silent MOMs, then a cycle per partition.
 */
import { Duration } from "aws-cdk-lib";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import type * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { siteFunction } from "./lambda.js";
import type { MomCluster } from "./mom.js";
import { SCHEDULER_TIMEOUT_S } from "../../../shared/scheduler/accumulation.js";
import { eventSourceProps, reservedFor, type SiteQueues } from "./queues.js";

export interface SchedulerProps {
  site: string;
  environment: Record<string, string>;
  table: dynamodb.ITable;
  queues: SiteQueues;
  mom: MomCluster;
  logRetention: logs.RetentionDays;
  /** default 1 minute */
  tick?: Duration;
  /** the tick rule's name (the functions pause and resume it by name: shared/server/dormancy.ts) */
  tickRule?: string;
}

export class Scheduler extends Construct {
  readonly scheduler: NodejsFunction;
  readonly sweeper: NodejsFunction;
  readonly tick: events.Rule;
  /** the sched queue's poller (paused while the site sleeps: shared/server/dormancy.ts) */
  readonly schedSource: SqsEventSource;

  constructor(scope: Construct, id: string, props: SchedulerProps) {
    super(scope, id);
    const { queues } = props;
    const sched = queues.sched;
    this.scheduler = siteFunction(this, "Scheduler", {
      entry: "scheduler.ts",
      description: `metaqueue ${props.site}: scheduler cycles`,
      environment: { ...props.environment, ...props.mom.executorEnvironment() },
      // the accumulation wait (MAX_ACCUMULATION_S) and a cycle; the queue's visibility is 6x this
      timeout: Duration.seconds(SCHEDULER_TIMEOUT_S),
      memorySize: 1024,
      // the scheduler's own share of the account's concurrency: a flood of API calls cannot
      // starve it (and it never takes more than its event source's maxConcurrency)
      reservedConcurrentExecutions: reservedFor(queues.defs.sched),
      logRetention: props.logRetention,
    });
    this.schedSource = new SqsEventSource(sched.queue, eventSourceProps(queues.defs.sched));
    this.scheduler.addEventSource(this.schedSource);
    props.table.grantReadWriteData(this.scheduler);
    for (const q of queues.all()) q.queue.grantSendMessages(this.scheduler);
    props.mom.grantDispatch(this.scheduler);

    this.sweeper = siteFunction(this, "Sweeper", {
      entry: "sweeper.ts",
      description: `metaqueue ${props.site}: periodic tick (silent MOMs, cycles)`,
      // it stops a lost run's task (ListTasks/DescribeTasks/StopTask in the cluster) before the
      // job is requeued: the executor's settings and the kill right, never RunTask
      environment: { ...props.environment, ...props.mom.executorEnvironment() },
      timeout: Duration.seconds(55),
      logRetention: props.logRetention,
    });
    props.table.grantReadWriteData(this.sweeper);
    for (const q of queues.all()) q.queue.grantSendMessages(this.sweeper);
    props.mom.grantKill(this.sweeper);
    this.tick = new events.Rule(this, "Tick", {
      description: `metaqueue ${props.site}: sweeper tick`,
      ruleName: props.tickRule,
      schedule: events.Schedule.rate(props.tick ?? Duration.minutes(1)),
      targets: [new targets.LambdaFunction(this.sweeper, { retryAttempts: 0 })],
    });
  }
}
