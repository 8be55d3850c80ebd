/**
 * The cdk-nag (AwsSolutions pack) findings this stack keeps on purpose, each acknowledged on
 * the one construct it is about, for the one rule (or the one finding of a rule), with why.
 * test/unit/aws/nag.test.ts fails on any finding not acknowledged here.
 *
 * Fixed rather than acknowledged: per-function roles instead of AWSLambdaBasicExecutionRole,
 * API access logs, SSE and TLS-only on queues, bucket and topic, log retention everywhere.
 */
import { Stack, Validations } from "aws-cdk-lib";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import type { IConstruct } from "constructs";
import type { SiteApi } from "./constructs/api.js";
import type { SiteEvents } from "./constructs/events.js";
import type { SiteInbox } from "./constructs/inbox.js";
import type { NodePools } from "./constructs/node-pools.js";
import type { MomCluster } from "./constructs/mom.js";
import type { MomChannel } from "./constructs/mom-channel.js";
import type { Scheduler } from "./constructs/scheduler.js";
import type { SiteSeed } from "./constructs/seed.js";
import type { SiteState } from "./constructs/state.js";

/** the parts of the site stack findings are acknowledged on (SiteStack has them all) */
export interface NagTargets extends Stack {
  state: SiteState;
  seed: SiteSeed;
  mom: MomCluster;
  nodePools: NodePools;
  scheduler: Scheduler;
  events: SiteEvents;
  api: SiteApi;
  channel: MomChannel;
  inbox?: SiteInbox;
}

function ack(scope: IConstruct, id: string, reason: string): void {
  Validations.of(scope).acknowledge({ id, reason });
}

/** `<Logical.Arn>` as cdk-nag names a GetAtt in an IAM5 finding */
function arnOf(c: IConstruct): string {
  const child = (c.node.defaultChild ?? c) as IConstruct;
  return `<${Stack.of(c).getLogicalId(child as never)}.Arn>`;
}

export function acknowledgeNagFindings(stack: NagTargets): void {
  const functions = [
    stack.api.handler,
    stack.scheduler.scheduler,
    stack.scheduler.sweeper,
    stack.events.handler,
    stack.seed.handler,
    stack.channel.handler,
    ...(stack.inbox ? [stack.inbox.handler] : []),
  ];
  for (const fn of functions) {
    ack(
      fn,
      "AwsSolutions-L1",
      "Pinned to nodejs22.x on purpose: the bundles are built for that target (LAMBDA_BUNDLING) and tested on it; a runtime bump is a reviewed change, not a drift.",
    );
  }
  const table = stack.state.table;
  const roleOf = (fn: NodejsFunction): IConstruct => fn.role ?? fn;
  // the functions that build the site's context (lambdas/env.ts): they read the table, and
  // pause or resume the site's intake
  const siteFunctions = [
    stack.api.handler,
    stack.scheduler.scheduler,
    stack.scheduler.sweeper,
    stack.events.handler,
    stack.channel.handler,
    ...(stack.inbox ? [stack.inbox.handler] : []),
  ];
  for (const fn of siteFunctions) {
    ack(
      roleOf(fn),
      `AwsSolutions-IAM5[Resource::${arnOf(table)}/index/*]`,
      "The site table's own GSIs (list, ...), read by queries of this table; no other table's index is named.",
    );
  }
  ack(
    roleOf(stack.api.handler),
    `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/<${Stack.of(stack).getLogicalId(stack.mom.cluster.node.defaultChild as never)}>/*]`,
    "qdel/qrerun stop the job's task: task IDs are not known at deploy time; the statement is limited to this site's cluster (resource and ecs:cluster condition).",
  );
  const channelApi = Stack.of(stack).getLogicalId(stack.channel.api.node.defaultChild as never);
  for (const fn of [stack.api.handler, stack.scheduler.scheduler, stack.scheduler.sweeper]) {
    ack(
      roleOf(fn),
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:execute-api:<AWS::Region>:<AWS::AccountId>:<${channelApi}>/*/*/@connections/*]`,
      "Pushes to MOMs (PostToConnection): connection IDs exist only once a MOM connects; the statement names this site's MOM channel API only.",
    );
  }
  // `Resource::*` on a site function's role: one finding per role, acknowledged once below with
  // every reason that role has (the ecs ones here, ListEventSourceMappings for all of them)
  const anyResource = new Map<NodejsFunction, string[]>(siteFunctions.map((fn) => [fn, []]));
  const ECS_LIST =
    "ecs:ListTasks takes no resource-level ARN; it is limited by an ecs:cluster condition to this site's cluster.";
  anyResource.get(stack.api.handler)?.push(ECS_LIST);
  ack(
    roleOf(stack.scheduler.sweeper),
    `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/<${Stack.of(stack).getLogicalId(stack.mom.cluster.node.defaultChild as never)}>/*]`,
    "The sweeper stops a lost run's task before requeueing its job (issue 12): task IDs are made by RunTask at run time; limited to this site's cluster (resource and ecs:cluster condition).",
  );
  anyResource
    .get(stack.scheduler.sweeper)
    ?.push(
      "ecs:ListTasks (finding a lost run's task by its startedBy tag) takes no resource-level ARN; it is limited by an ecs:cluster condition to this site's cluster.",
    );
  if (stack.inbox) {
    ack(
      roleOf(stack.inbox.handler),
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/<${Stack.of(stack).getLogicalId(stack.mom.cluster.node.defaultChild as never)}>/*]`,
      "A peer's forwarded qdel stops the job's task: task IDs are not known at deploy time; limited to this site's cluster.",
    );
    anyResource.get(stack.inbox.handler)?.push(ECS_LIST);
  }
  if (stack.nodePools.pools.length) {
    ack(
      roleOf(stack.scheduler.scheduler),
      `AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:ecs:<AWS::Region>:<AWS::AccountId>:task/<${Stack.of(stack).getLogicalId(stack.mom.cluster.node.defaultChild as never)}>/*]`,
      "Powering a pool node off stops its task (issue 12), whose ID is made by RunTask at run time; the statement is limited to this site's cluster (resource and ecs:cluster condition).",
    );
    anyResource
      .get(stack.scheduler.scheduler)
      ?.push(
        "ecs:ListTasks (finding a pool node's task by its startedBy tag) takes no resource-level ARN; it is limited by an ecs:cluster condition to this site's cluster.",
      );
  }

  // dormancy (shared/adapters/lambda/intake.ts): every function that may make work resumes the
  // site's paused queue pollers, the sweeper pauses them; it finds them by queue ARN
  for (const [fn, reasons] of anyResource) {
    reasons.push(
      "lambda:ListEventSourceMappings (finding this site's queue pollers by queue ARN, to pause or resume them) takes no resource-level ARN.",
    );
    ack(roleOf(fn), "AwsSolutions-IAM5[Resource::*]", reasons.join(" "));
  }
  ack(
    roleOf(stack.api.handler),
    `AwsSolutions-IAM5[Resource::${arnOf(stack.state.outputBucket)}/*]`,
    "The API serves job output (GetObject) from the site's output bucket, whose keys are job IDs not known at deploy time (the route allows the job's owner, operators and managers), and presigns PUT URLs for one run's output keys at qrun (PutObject): MOM task roles have no S3 right.",
  );
  // the functions that mint output grants (presigned PUT URLs for one run's keys, issue 12
  // point 2): the API is acknowledged above for the same resource
  for (const fn of [stack.scheduler.scheduler, stack.channel.handler])
    ack(
      roleOf(fn),
      `AwsSolutions-IAM5[Resource::${arnOf(stack.state.outputBucket)}/*]`,
      "Presigns PUT URLs for one run's output keys (<jobId>/<file>, made at run time) for the MOM holding it; the URL carries this role's right, so PutObject on this site's output bucket only. MOM task roles have no S3 right.",
    );
  ack(
    stack.state.outputBucket,
    "AwsSolutions-S1",
    "Server access logs need a second bucket and log every job's output PUT; each write is a PUT presigned by the site's functions for one run's keys, and CloudTrail data events say who when a site wants them.",
  );

  const mom = stack.mom;
  // the Fargate task definition and each EC2 pool's: the same MOM container and role grants
  const nodePools = stack.nodePools.pools;
  // the Fargate task definition, each EC2 pool's, and each node pool's (issue 12)
  for (const td of [
    mom.taskDefinition,
    ...mom.pools.map((p) => p.taskDefinition),
    ...nodePools.map((p) => p.taskDefinition),
  ]) {
    ack(
      td.executionRole ?? td,
      "AwsSolutions-IAM5[Resource::*]",
      "ecr:GetAuthorizationToken has no resource-level permissions (AWS requires *); the image pull itself is scoped to the asset repository.",
    );
    ack(
      td,
      "AwsSolutions-ECS2",
      "The container's environment holds only names and URLs (table, events queue, bucket, heartbeat period); no secret: each run's MOM key comes in the RunTask override, derived from the SSM secret.",
    );
  }
  for (const capacityProvider of [
    ...mom.pools.map((p) => p.capacityProvider),
    ...nodePools.flatMap((p) => (p.capacityProvider ? [p.capacityProvider] : [])),
  ]) {
    const asg = capacityProvider.autoScalingGroup;
    ack(
      asg,
      "AwsSolutions-AS3",
      "The group is scaled by its ECS capacity provider (managed scaling from zero), not by people: scaling activities are in the group's activity history, and what matters to operators (jobs not starting) is on the site's DispatchFailures alarm.",
    );
    const instanceRole = asg.role;
    ack(
      instanceRole,
      "AwsSolutions-IAM5[Action::ecs:Submit*]",
      "The ECS container agent's own permissions as the ECS construct grants them (it reports task and container state changes of this cluster); jobs cannot reach them: IMDSv2 with hop limit 1 keeps containers from the instance metadata service.",
    );
    ack(
      instanceRole,
      "AwsSolutions-IAM5[Resource::*]",
      "The ECS container agent's ecs:DiscoverPollEndpoint, ecr:GetAuthorizationToken and logs actions take no resource-level ARN; the cluster-scoped actions are limited to this cluster by CDK's grant.",
    );
  }
  ack(
    mom.cluster,
    "AwsSolutions-ECS4",
    "Container Insights bills per task metric; with tasks that live one job each the cost grows with the job count. Task logs go to CloudWatch Logs, and the site's dashboard/alarms watch the scheduler.",
  );
  ack(
    mom.vpc,
    "AwsSolutions-VPC7",
    "The VPC holds only MOM tasks whose security group admits nothing inbound; flow logs ($0.50/GB ingested) add cost per job without a consumer. Sites that audit traffic add them.",
  );

  // CDK's custom-resource Provider framework (the seed's onEvent wrapper), not code of ours
  ack(
    stack.seed.provider,
    "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
    "The CDK Provider framework's own function (custom-resources); it runs only during deploys and only invokes the seed function.",
  );
  ack(
    stack.seed.provider,
    `AwsSolutions-IAM5[Resource::${arnOf(stack.seed.handler)}:*]`,
    "The CDK Provider framework may invoke any version/alias of the seed function (<fn>:*), and nothing else.",
  );
  ack(
    stack.seed.provider,
    "AwsSolutions-L1",
    "The CDK Provider framework's runtime is chosen by aws-cdk-lib and updated with it.",
  );
}
