/**
 * The MOM push channel on AWS (issue 12; shared/ports/channel.ts): an API Gateway WebSocket API
 * MOMs connect out to, its three routes ($connect, $default, $disconnect) on one Lambda
 * (lambdas/mom-channel.ts), and the management endpoint (the stage's callback URL) the
 * scheduler and API push through with PostToConnection, one request per message.
 *
 * No authorizer on $connect: the route's Lambda is the check. A MOM proves who it is with a
 * connect signed with its key (HMAC of the site's MOM secret and its id, as every MOM report),
 * which an authorizer would verify the same way in one more invocation; a refused connect is
 * answered 401 and counted (MomConnectsRefused).
 */
import { Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import type * as apigwv2 from "aws-cdk-lib/aws-apigatewayv2";
import { WebSocketApi, WebSocketRoute, WebSocketStage } from "aws-cdk-lib/aws-apigatewayv2";
import { WebSocketLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import type * as iam from "aws-cdk-lib/aws-iam";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { siteFunction } from "./lambda.js";
import type { SiteQueues } from "./queues.js";

export interface MomChannelProps {
  site: string;
  environment: Record<string, string>;
  table: dynamodb.ITable;
  queues: SiteQueues;
  logRetention: logs.RetentionDays;
}

/** access log fields of the WebSocket stage: which connection, which route, how it went */
export const CHANNEL_ACCESS_LOG_FORMAT = {
  requestId: "$context.requestId",
  ip: "$context.identity.sourceIp",
  connectionId: "$context.connectionId",
  route: "$context.routeKey",
  event: "$context.eventType",
  time: "$context.requestTimeEpoch",
  status: "$context.status",
  integrationError: "$context.integrationErrorMessage",
};

export class MomChannel extends Construct {
  readonly handler: NodejsFunction;
  readonly api: WebSocketApi;
  readonly stage: WebSocketStage;
  readonly accessLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: MomChannelProps) {
    super(scope, id);
    this.handler = siteFunction(this, "Channel", {
      entry: "mom-channel.ts",
      description: `metaqueue ${props.site}: MOM push channel routes`,
      environment: props.environment,
      timeout: Duration.seconds(10),
      logRetention: props.logRetention,
    });
    // the connection registry (read-write); reports go on to the events queue
    props.table.grantReadWriteData(this.handler);
    props.queues.events.queue.grantSendMessages(this.handler);
    const integration = (name: string) => new WebSocketLambdaIntegration(name, this.handler);
    this.api = new WebSocketApi(this, "Api", {
      apiName: `metaqueue-${props.site}-moms`,
      description: `metaqueue ${props.site}: MOMs connect here; the server pushes jobs to them`,
      connectRouteOptions: { integration: integration("ConnectIntegration") },
      disconnectRouteOptions: { integration: integration("DisconnectIntegration") },
      // two-way: a MOM's `grant` request is answered on its connection by the route's response
      defaultRouteOptions: { integration: integration("DefaultIntegration"), returnResponse: true },
    });
    for (const child of this.api.node.children) {
      if (!(child instanceof WebSocketRoute)) continue;
      Validations.of(child).acknowledge({
        id: "AwsSolutions-APIG4",
        reason:
          "The route's Lambda authenticates each MOM: a connect signed with the MOM's key (HMAC of the site secret and its id), refused with 401 and counted otherwise; frames are signed reports checked again.",
      });
    }
    this.accessLogs = new logs.LogGroup(this, "AccessLogs", {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = new WebSocketStage(this, "Stage", {
      webSocketApi: this.api,
      stageName: "moms",
      autoDeploy: true,
      throttle: { burstLimit: 500, rateLimit: 200 },
    });
    const cfnStage = this.stage.node.defaultChild as apigwv2.CfnStage;
    cfnStage.accessLogSettings = {
      destinationArn: this.accessLogs.logGroupArn,
      format: JSON.stringify(CHANNEL_ACCESS_LOG_FORMAT),
    };
  }

  /** Where MOMs connect: `wss://{api}.execute-api.{region}.amazonaws.com/moms`. */
  get url(): string {
    return this.stage.url;
  }

  /** What a pushing Lambda needs: the management endpoint and the right to post to connections. */
  grantPush(fn: NodejsFunction & iam.IGrantable): void {
    this.api.grantManageConnections(fn);
    fn.addEnvironment("MOM_CHANNEL_ENDPOINT", this.stage.callbackUrl);
  }
}
