/**
 * One metaqueue site on AWS: state (table, output bucket), queues, scheduler + sweeper,
 * events, the HTTP API, the MOM cluster, a dashboard and alarms. One stack per site in the
 * configuration file (infra/aws/app.ts).
 */
import { assertAwsPools } from "../../shared/config/node-pools.js";
import { Arn, CfnOutput, Duration, Stack, type StackProps } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import * as ssm from "aws-cdk-lib/aws-ssm";
import type { Construct } from "constructs";
import { federationFor, type SiteConfig } from "../../shared/config/site-config.js";
import { tableName } from "../../shared/adapters/dynamodb/table.js";
import { SiteAlarms } from "./constructs/alarms.js";
import { type JwtAuthSettings, SiteApi } from "./constructs/api.js";
import { SiteDashboard } from "./constructs/dashboard.js";
import { SiteEvents } from "./constructs/events.js";
import { type PeerLink, SiteInbox } from "./constructs/inbox.js";
import { NodePools } from "./constructs/node-pools.js";
import { MomCluster } from "./constructs/mom.js";
import { MomChannel } from "./constructs/mom-channel.js";
import { SiteQueues } from "./constructs/queues.js";
import { Scheduler } from "./constructs/scheduler.js";
import { SiteSeed } from "./constructs/seed.js";
import { SiteState, type TableCapacity } from "./constructs/state.js";
import { acknowledgeNagFindings } from "./nag.js";

export interface SiteStackProps extends StackProps {
  site: SiteConfig;
  /** idle seconds before the site pauses its intake (default 300; 0: never) */
  intakeSleepAfterSeconds?: number;
  /** how the site table is billed (default on demand; context tableCapacity) */
  tableCapacity?: TableCapacity;
  /** prefix of the table and queue names (the local runtime uses the same: "metaqueue-") */
  prefix?: string;
  auth: JwtAuthSettings;
  alarmEmail?: string;
  /** default 300 s */
  queueAgeAlarmSeconds?: number;
  /** default 30 days */
  logRetention?: logs.RetentionDays;
  /** seconds without a MOM heartbeat before its jobs count as lost; default 120 */
  momStaleSeconds?: number;
  /** the MOM image's base image, pinned by digest (constructs/mom.ts DEFAULT_MOM_BASE_IMAGE) */
  momBaseImage?: string;
  /** accounting records are kept this many days (0: for ever); default 400 (lambdas/env.ts) */
  accountingKeepDays?: number;
  /** PBS managers of a new site (server attribute `managers`), e.g. "alice@*,bob@*" */
  managers?: string;
  /** AWS accounts of this site's peers (their inbox senders), from context peerAccounts:<site> */
  peerAccounts?: string[];
  /** the other sites of the configuration (their server names, this site's pulls from them) */
  otherSites?: SiteConfig[];
  /** where each peer's inbox is and which secret signs, by peer site name (context peers:<site>) */
  peers?: Record<string, PeerLink>;
  /**
   * SSM SecureString holding the site's MOM secret (each MOM's report key is derived from it);
   * default `/metaqueue/<site>/mom-secret`. Created by the admin before the first deploy
   * (docs/deploy.md): CloudFormation cannot create a SecureString.
   */
  momSecretParameter?: string;
}

/** The MOM secret's parameter name when none is given. */
export function defaultMomSecretParameter(site: string): string {
  return `/metaqueue/${site}/mom-secret`;
}

export const DEFAULT_PREFIX = "metaqueue-";

export class SiteStack extends Stack {
  readonly state: SiteState;
  readonly seed: SiteSeed;
  readonly queues: SiteQueues;
  readonly mom: MomCluster;
  readonly nodePools: NodePools;
  readonly scheduler: Scheduler;
  readonly events: SiteEvents;
  readonly api: SiteApi;
  /** the MOM push channel (WebSocket API): MOMs connect out, the server pushes jobs to them */
  readonly channel: MomChannel;
  readonly dashboard: SiteDashboard;
  readonly alarms: SiteAlarms;
  /** present when the site has peers (context peers:<site>) */
  readonly inbox?: SiteInbox;

  constructor(scope: Construct, id: string, props: SiteStackProps) {
    super(scope, id, { description: `metaqueue site ${props.site.name} (${props.site.server})`, ...props });
    const site = props.site;
    // Node pools (issue 12): the ECS kinds (fargate, ec2, external) are built per pool by the
    // MOM cluster; a `process` pool (child processes of the local runtime) has no host here.
    assertAwsPools(site);
    const prefix = props.prefix ?? DEFAULT_PREFIX;
    const logRetention = props.logRetention ?? logs.RetentionDays.ONE_MONTH;

    this.state = new SiteState(this, "State", {
      tableName: tableName(prefix, site.name),
      capacity: props.tableCapacity,
    });
    const table = this.state.table;
    this.seed = new SiteSeed(this, "Seed", { site, table, managers: props.managers ?? "", logRetention });
    this.queues = new SiteQueues(this, "Queues", {
      prefix,
      site: site.name,
      peerAccounts: props.peerAccounts,
    });
    const momProps = {
      site: site.name,
      table,
      eventsQueue: this.queues.events.queue,
      outputBucket: this.state.outputBucket,
      logRetention,
      baseImage: props.momBaseImage,
    };
    this.mom = new MomCluster(this, "Mom", momProps);
    // node pools (issue 12): long-lived node MOMs the scheduler powers on and off
    this.nodePools = new NodePools(this, "NodePools", {
      site: site.name,
      pools: site.nodePools,
      nodes: site.nodes,
      mom: this.mom,
      momProps,
    });
    if (site.nodePools.length) this.mom.nodePools = this.nodePools;

    const momSecretParameter = props.momSecretParameter ?? defaultMomSecretParameter(site.name);
    // what lambdas/env.ts reads (AWS_REGION is set by Lambda itself)
    const killDelay = Number(site.serverAttributes.kill_delay);
    const environment: Record<string, string> = {
      SITE_SHORT: site.name,
      SITE_SERVER: site.server,
      TABLE_NAME: table.tableName,
      SCHED_QUEUE_URL: this.queues.sched.queue.queueUrl,
      EVENTS_QUEUE_URL: this.queues.events.queue.queueUrl,
      KILL_DELAY: String(Number.isInteger(killDelay) && killDelay >= 0 ? killDelay : 10),
      MOM_STALE_SECONDS: String(props.momStaleSeconds ?? 120),
      ...(props.accountingKeepDays !== undefined && {
        ACCOUNTING_KEEP_DAYS: String(Math.max(0, Math.floor(props.accountingKeepDays))),
      }),
      POWERTOOLS_SERVICE_NAME: `metaqueue-${site.name}`,
      // every function verifies MOM reports (events, sweeper) or derives MOM keys (scheduler);
      // the secret itself never travels in the environment (lambdas/env.ts momSecretFromEnv)
      MOM_SECRET_PARAMETER: momSecretParameter,
      // where the pools are (an SSM parameter, not the 4 KB of environment): the scheduler
      // decides, the events function brings nodes up, the API and sweeper power them
      ...this.nodePools.environment(),
    };
    // Peers: the pull directives and identity maps from the configuration, inbox and secret
    // from context. A peer without a link is not peered (its messages would be refused).
    const links: PeerLink[] = [];
    const peerEnv = (props.otherSites ?? []).flatMap((other) => {
      const link = props.peers?.[other.name];
      if (!link) return [];
      links.push(link);
      return [{ short: other.name, server: other.server, ...link, ...federationFor(site, other) }];
    });
    // The peers' configuration lives in an SSM parameter, not in the functions' environment
    // (which GetFunctionConfiguration shows, and which caps all variables at 4 KB): the functions
    // read it at cold start and again after PEERS_TTL_MS (lambdas/env.ts), so a changed
    // parameter takes effect without a deploy.
    let peersParameter: ssm.StringParameter | undefined;
    if (peerEnv.length) {
      const value = JSON.stringify(peerEnv);
      peersParameter = new ssm.StringParameter(this, "PeersConfig", {
        description: `metaqueue ${site.name}: its peers (inbox, pair-secret parameter, pulls, identity maps)`,
        stringValue: value,
        // a standard parameter holds 4 KB; an advanced one 8 KB (and costs $0.05 a month)
        tier: value.length > 4096 ? ssm.ParameterTier.ADVANCED : ssm.ParameterTier.STANDARD,
      });
      environment.PEERS_PARAMETER = peersParameter.parameterName;
    }
    // Dormancy (shared/server/dormancy.ts): an idle site pauses its queues' pollers and its
    // tick, and any function that makes work resumes them. The rule has a name of its own so that
    // every function can be told it without a reference cycle (the sweeper is its target).
    const tickRule = `${prefix}${site.name}-tick`;
    environment.TICK_RULE = tickRule;
    environment.INTAKE_QUEUE_ARNS = Stack.of(this).toJsonString(
      this.queues.all().map((q) => q.queue.queueArn),
    );
    if (props.intakeSleepAfterSeconds !== undefined)
      environment.INTAKE_SLEEP_AFTER_SECONDS = String(Math.max(0, Math.floor(props.intakeSleepAfterSeconds)));
    const common = { site: site.name, environment, table, queues: this.queues, logRetention };
    this.scheduler = new Scheduler(this, "Scheduler", { ...common, mom: this.mom, tickRule });
    // the executor's settings (no ECS right): whether a run's MOM is its own, whose heartbeat
    // item then goes with the obituary
    this.events = new SiteEvents(this, "Events", {
      ...common,
      environment: { ...common.environment, ...this.mom.executorEnvironment() },
    });
    this.api = new SiteApi(this, "Api", {
      ...common,
      mom: this.mom,
      outputBucket: this.state.outputBucket,
      auth: props.auth,
    });

    // the channel's routes never read the pools: no NODE_POOLS_PARAMETER, no read of it
    const { NODE_POOLS_PARAMETER: _pools, ...channelEnvironment } = environment;
    this.channel = new MomChannel(this, "MomChannel", { ...common, environment: channelEnvironment });
    // who pushes to MOMs: the scheduler (runs), the API (qdel, qsig), the sweeper (lost MOMs)
    for (const fn of [this.scheduler.scheduler, this.api.handler, this.scheduler.sweeper])
      this.channel.grantPush(fn);
    // pool nodes' MOMs connect to it and take their runs there (issue 12 point 1); per-run
    // MOMs connect to renew their output grants
    this.nodePools.connectChannel(this.channel.url);
    this.mom.connectChannel(this.channel.url);
    // who hands MOMs the right to write a run's output (issue 12 point 2): what dispatches
    // (the scheduler; the API's qrun) and the channel, which renews grants for long runs
    for (const fn of [this.scheduler.scheduler, this.api.handler, this.channel.handler])
      this.mom.grantOutputGrants(fn);
    grantParameterRead(this.channel.handler, momSecretParameter);

    const functions = [
      { name: "api", fn: this.api.handler },
      { name: "scheduler", fn: this.scheduler.scheduler },
      { name: "events", fn: this.events.handler },
      { name: "sweeper", fn: this.scheduler.sweeper },
    ];
    for (const f of functions) {
      grantParameterRead(f.fn, momSecretParameter);
      this.nodePools.grantRead(f.fn);
    }
    // the channel's function builds the same site context, which reads the peers at cold start
    if (peersParameter)
      for (const fn of [...functions.map((f) => f.fn), this.channel.handler])
        grantConfigRead(fn, peersParameter);
    if (links.length) {
      this.inbox = new SiteInbox(this, "Inbox", { ...common, mom: this.mom });
      grantParameterRead(this.inbox.handler, momSecretParameter);
      this.nodePools.grantRead(this.inbox.handler);
      functions.push({ name: "inbox", fn: this.inbox.handler });
      if (peersParameter) grantConfigRead(this.inbox.handler, peersParameter);
      for (const f of functions) SiteInbox.grantPeering(f.fn, links);
    }
    // every function that may make work resumes a sleeping site's intake; the sweeper pauses it
    grantIntake(this, [...functions.map((f) => f.fn), this.channel.handler], tickRule, [
      this.scheduler.schedSource,
      this.events.source,
      ...(this.inbox ? [this.inbox.source] : []),
    ]);
    this.dashboard = new SiteDashboard(this, "Watch", {
      site: site.name,
      functions,
      queues: this.queues.all(),
      table,
      api: this.api.api,
    });
    this.alarms = new SiteAlarms(this, "Alarms", {
      site: site.name,
      functions,
      queues: this.queues.all(),
      table,
      alarmEmail: props.alarmEmail,
      queueAgeThreshold: Duration.seconds(props.queueAgeAlarmSeconds ?? 300),
    });

    acknowledgeNagFindings(this);

    new CfnOutput(this, "ApiUrl", {
      value: this.api.api.apiEndpoint,
      description: "METAQUEUE_SERVER_URL for the PBS commands",
    });
    new CfnOutput(this, "TableName", { value: table.tableName });
    new CfnOutput(this, "MomChannelUrl", {
      value: this.channel.url,
      description: "where MOMs connect (the push channel)",
    });
    new CfnOutput(this, "OutputBucket", {
      value: this.state.outputBucket.bucketName,
      description: "job stdout/stderr: s3://<bucket>/<jobId>/<file>",
    });
    new CfnOutput(this, "SchedQueueUrl", { value: this.queues.sched.queue.queueUrl });
    new CfnOutput(this, "EventsQueueUrl", { value: this.queues.events.queue.queueUrl });
    new CfnOutput(this, "InboxQueueUrl", {
      value: this.queues.inbox.queue.queueUrl,
      description: "what peer sites put in their peers:<site> context (inboxUrl)",
    });
    new CfnOutput(this, "Cluster", { value: this.mom.cluster.clusterName });
    new CfnOutput(this, "AlarmTopic", { value: this.alarms.topic.topicArn });
    new CfnOutput(this, "Dashboard", {
      value: `https://console.aws.amazon.com/cloudwatch/home?region=${this.region}#dashboards:name=metaqueue-${site.name}`,
    });
  }
}

/**
 * Pause and resume the site's intake (shared/adapters/lambda/intake.ts): its queues' event
 * source mappings, found by queue (ListEventSourceMappings takes no resource), and its tick rule.
 * UpdateEventSourceMapping is granted on this site's mappings only, in a policy of its own: the
 * functions' default policies cannot name them (a mapping depends on its function, which depends
 * on its role's default policy), and nothing depends on this one.
 */
function grantIntake(
  scope: Construct,
  fns: NodejsFunction[],
  tickRule: string,
  sources: { eventSourceMappingArn: string }[],
): void {
  const stack = Stack.of(scope);
  for (const fn of fns) {
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ["lambda:ListEventSourceMappings"], resources: ["*"] }),
    );
    fn.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ["events:EnableRule", "events:DisableRule"],
        resources: [stack.formatArn({ service: "events", resource: "rule", resourceName: tickRule })],
      }),
    );
  }
  new iam.Policy(scope, "IntakeControl", {
    roles: fns.map((fn) => fn.role).filter((r): r is iam.IRole => r !== undefined),
    statements: [
      new iam.PolicyStatement({
        actions: ["lambda:UpdateEventSourceMapping"],
        resources: sources.map((s) => s.eventSourceMappingArn),
      }),
    ],
  });
}

/** Let `fn` read one plain (String) SSM parameter: GetParameter only, nothing else of SSM. */
function grantConfigRead(fn: NodejsFunction, p: ssm.IStringParameter): void {
  fn.addToRolePolicy(new iam.PolicyStatement({ actions: ["ssm:GetParameter"], resources: [p.parameterArn] }));
}

/** Let `fn` read (and decrypt, with the account's default key) one SSM parameter. */
function grantParameterRead(fn: NodejsFunction, name: string): void {
  fn.addToRolePolicy(
    new iam.PolicyStatement({
      actions: ["ssm:GetParameter"],
      resources: [
        Arn.format(
          { service: "ssm", resource: "parameter", resourceName: name.replace(/^\//, "") },
          Stack.of(fn),
        ),
      ],
    }),
  );
}
