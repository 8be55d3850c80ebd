/**
 * Peering on AWS: the inbox Lambda (signed messages from the peer sites), and what every
 * function needs to talk to peers: read the pair secrets (SSM SecureString parameters) and send
 * to the peers' inbox queues, named by ARN, nothing wider.
 */
import { Arn, Duration, Stack } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import { SqsEventSource } from "aws-cdk-lib/aws-lambda-event-sources";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import { Construct } from "constructs";
import type { SiteEventsProps } from "./events.js";
import { siteFunction } from "./lambda.js";
import type { MomCluster } from "./mom.js";
import { eventSourceProps, reservedFor } from "./queues.js";

/** A peer as the stack is told about it (context `peers:<site>`). */
export interface PeerLink {
  /** the peer's inbox queue URL (its stack output InboxQueueUrl) */
  inboxUrl: string;
  /** SSM SecureString parameter holding the secret the two sites share */
  secretParameter: string;
}

/** arn:aws:sqs:<region>:<account>:<name> from https://sqs.<region>.amazonaws.com/<account>/<name> */
export function queueArnOfUrl(url: string): string {
  const m = /^https:\/\/sqs\.([a-z0-9-]+)\.amazonaws\.com(?:\.cn)?\/(\d{12})\/([A-Za-z0-9_.-]+)$/.exec(url);
  if (!m) throw new Error(`not an SQS queue URL: ${url}`);
  return `arn:aws:sqs:${m[1]}:${m[2]}:${m[3]}`;
}

export interface SiteInboxProps extends SiteEventsProps {
  mom: MomCluster;
}

export class SiteInbox extends Construct {
  readonly handler: NodejsFunction;
  /** its queue's poller (kept while the site sleeps: its peers' messages come there) */
  readonly source: SqsEventSource;

  constructor(scope: Construct, id: string, props: SiteInboxProps) {
    super(scope, id);
    const { queues } = props;
    this.handler = siteFunction(this, "Inbox", {
      entry: "inbox.ts",
      description: `metaqueue ${props.site}: messages from peer sites`,
      environment: { ...props.environment, ...props.mom.executorEnvironment() },
      timeout: Duration.seconds(queues.defs.inbox.consumer.timeoutSec),
      reservedConcurrentExecutions: reservedFor(queues.defs.inbox),
      logRetention: props.logRetention,
    });
    this.source = new SqsEventSource(queues.inbox.queue, eventSourceProps(queues.defs.inbox));
    this.handler.addEventSource(this.source);
    props.table.grantReadWriteData(this.handler);
    for (const q of queues.all()) q.queue.grantSendMessages(this.handler);
    // a qdel forwarded by a peer stops the job's task here
    props.mom.grantKill(this.handler);
  }

  /** Let `fn` read the pair secrets and send to the peers' inboxes. */
  static grantPeering(fn: NodejsFunction, links: PeerLink[]): void {
    if (!links.length) return;
    const stack = Stack.of(fn);
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ["ssm:GetParameter"],
        resources: links.map((l) =>
          Arn.format(
            { service: "ssm", resource: "parameter", resourceName: l.secretParameter.replace(/^\//, "") },
            stack,
          ),
        ),
      }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ["sqs:SendMessage"],
        resources: links.map((l) => queueArnOfUrl(l.inboxUrl)),
      }),
    );
  }
}
