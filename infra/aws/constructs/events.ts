/** The events Lambda: MOM obituaries and boots, dependency releases, from the events queue. */
import { Duration } from "aws-cdk-lib";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import type * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { siteFunction } from "./lambda.js";
import { eventSourceProps, reservedFor, type SiteQueues } from "./queues.js";

export interface SiteEventsProps {
  site: string;
  environment: Record<string, string>;
  table: dynamodb.ITable;
  queues: SiteQueues;
  logRetention: logs.RetentionDays;
}

export class SiteEvents extends Construct {
  readonly handler: NodejsFunction;
  /** its queue\'s poller (paused while the site sleeps: shared/server/dormancy.ts) */
  readonly source: SqsEventSource;

  constructor(scope: Construct, id: string, props: SiteEventsProps) {
    super(scope, id);
    const { queues } = props;
    this.handler = siteFunction(this, "Events", {
      entry: "events.ts",
      description: `metaqueue ${props.site}: MOM reports and dependency releases`,
      environment: props.environment,
      timeout: Duration.seconds(queues.defs.events.consumer.timeoutSec),
      // MOM obituaries must be answered even while the API is busy
      reservedConcurrentExecutions: reservedFor(queues.defs.events),
      logRetention: props.logRetention,
    });
    this.source = new SqsEventSource(queues.events.queue, eventSourceProps(queues.defs.events));
    this.handler.addEventSource(this.source);
    props.table.grantReadWriteData(this.handler);
    for (const q of queues.all()) q.queue.grantSendMessages(this.handler);
  }
}
