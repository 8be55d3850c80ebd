/**
 * The HTTP API: API Gateway HTTP API → the API Lambda, every route behind a JWT authorizer but
 * the dashboard's static files (/, /ui/...) and CORS preflights (OPTIONS).
 *
 * Who is who: the authorizer validates the token (signature, issuer, audience, expiry); the API
 * then takes the PBS user name from the token's claims: `pbs_user`, else `username`, else
 * `cognito:username` (shared/api/identity.ts claimsAuthenticator()). Privilege is a PBS matter, not an AWS
 * one: users named in the server's `managers` / `operators` attributes (qmgr) are managers /
 * operators. With Cognito, add a `pbs_user` custom attribute (or make the user name the PBS
 * name) and use the app client ID as the audience.
 */
import { Duration, RemovalPolicy, Validations } from "aws-cdk-lib";
import { HttpApi, HttpMethod, HttpNoneAuthorizer } from "aws-cdk-lib/aws-apigatewayv2";
import { HttpJwtAuthorizer } from "aws-cdk-lib/aws-apigatewayv2-authorizers";
import { HttpLambdaIntegration } from "aws-cdk-lib/aws-apigatewayv2-integrations";
import type * as apigwv2 from "aws-cdk-lib/aws-apigatewayv2";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import type * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { siteFunction } from "./lambda.js";
import type { MomCluster } from "./mom.js";
import type { SiteQueues } from "./queues.js";

export interface JwtAuthSettings {
  /** the token issuer URL, e.g. https://cognito-idp.<region>.amazonaws.com/<pool id> */
  issuer: string;
  /** accepted `aud` (or Cognito `client_id`) values */
  audience: string[];
}

/** API Gateway access log fields: enough to answer "who did what, when, and how did it go" */
export const ACCESS_LOG_FORMAT = {
  requestId: "$context.requestId",
  ip: "$context.identity.sourceIp",
  sub: "$context.authorizer.claims.sub",
  time: "$context.requestTimeEpoch",
  method: "$context.httpMethod",
  path: "$context.path",
  status: "$context.status",
  latencyMs: "$context.responseLatency",
  integrationError: "$context.integrationErrorMessage",
};

export interface SiteApiProps {
  site: string;
  environment: Record<string, string>;
  table: dynamodb.ITable;
  queues: SiteQueues;
  mom: MomCluster;
  /** the job-output bucket (ECS MOMs upload to it; the API serves job output from it) */
  outputBucket: s3.IBucket;
  auth: JwtAuthSettings;
  logRetention: logs.RetentionDays;
  /** default API_RESERVED_CONCURRENCY */
  reservedConcurrency?: number;
}

/** the API's share of the account's Lambda concurrency (default 1000 per region) */
export const API_RESERVED_CONCURRENCY = 50;

export class SiteApi extends Construct {
  readonly handler: NodejsFunction;
  readonly api: HttpApi;
  /** one JSON line per request (who, what, status, latency) */
  readonly accessLogs: logs.LogGroup;

  constructor(scope: Construct, id: string, props: SiteApiProps) {
    super(scope, id);
    this.handler = siteFunction(this, "Api", {
      entry: "api.ts",
      description: `metaqueue ${props.site}: HTTP API`,
      // qdel/qrerun stop ECS tasks; job output is served from the output bucket
      environment: {
        ...props.environment,
        ...props.mom.executorEnvironment(),
        OUTPUT_BUCKET: props.outputBucket.bucketName,
      },
      timeout: Duration.seconds(29),
      memorySize: 1024,
      // a ceiling: a flood of qstat calls stops here instead of taking the account's pool
      reservedConcurrentExecutions: props.reservedConcurrency ?? API_RESERVED_CONCURRENCY,
      logRetention: props.logRetention,
    });
    props.table.grantReadWriteData(this.handler);
    for (const q of props.queues.all()) q.queue.grantSendMessages(this.handler);
    props.mom.grantKill(this.handler);
    // job output: read only, GetObject, and ListBucket so that a missing key is a 404, not a 403
    this.handler.addToRolePolicy(
      new iam.PolicyStatement({
        actions: ["s3:GetObject"],
        resources: [props.outputBucket.arnForObjects("*")],
      }),
    );
    this.handler.addToRolePolicy(
      new iam.PolicyStatement({ actions: ["s3:ListBucket"], resources: [props.outputBucket.bucketArn] }),
    );

    const authorizer = new HttpJwtAuthorizer("Jwt", props.auth.issuer, {
      jwtAudience: props.auth.audience,
      identitySource: ["$request.header.Authorization"],
    });
    this.api = new HttpApi(this, "Http", {
      apiName: `metaqueue-${props.site}`,
      description: `metaqueue ${props.site} PBS server API`,
      defaultIntegration: new HttpLambdaIntegration("Lambda", this.handler),
      defaultAuthorizer: authorizer,
    });
    // The dashboard's files (the page then calls the API with the user's token) and the CORS
    // preflights of the peers' dashboards need no token: the same Lambda answers them.
    const open = new HttpLambdaIntegration("Dashboard", this.handler);
    const openRoutes = [];
    for (const [path, method] of [
      ["/", HttpMethod.GET],
      ["/ui", HttpMethod.GET],
      ["/ui/{proxy+}", HttpMethod.GET],
      ["/{proxy+}", HttpMethod.OPTIONS],
    ] as const) {
      openRoutes.push(
        ...this.api.addRoutes({
          path,
          methods: [method],
          integration: open,
          authorizer: new HttpNoneAuthorizer(),
        }),
      );
    }
    for (const route of openRoutes)
      Validations.of(route).acknowledge({
        id: "AwsSolutions-APIG4",
        reason:
          "Deliberately open: the dashboard's static files (which then call the API with the user's JWT) and CORS preflights, which browsers send without credentials; every other route has the JWT authorizer.",
      });
    this.accessLogs = new logs.LogGroup(this, "AccessLogs", {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    const stage = this.api.defaultStage?.node.defaultChild as apigwv2.CfnStage | undefined;
    if (!stage) throw new Error("the HTTP API has no default stage");
    stage.defaultRouteSettings = { throttlingBurstLimit: 200, throttlingRateLimit: 100 };
    stage.accessLogSettings = {
      destinationArn: this.accessLogs.logGroupArn,
      format: JSON.stringify(ACCESS_LOG_FORMAT),
    };
  }
}
