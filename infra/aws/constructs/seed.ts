/**
 * Deploy-time seeding of the site's server objects from its configuration (lambdas/seed.ts):
 * without them a new site has no queue, no node and no manager. Runs on create and whenever
 * the site's configuration or managers change; never overwrites what qmgr changed.
 */
import { CustomResource, Duration, RemovalPolicy } from "aws-cdk-lib";
import type * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as iam from "aws-cdk-lib/aws-iam";
import type { NodejsFunction } from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import * as cr from "aws-cdk-lib/custom-resources";
import { Construct } from "constructs";
import type { SiteConfig } from "../../../shared/config/site-config.js";
import { siteFunction } from "./lambda.js";

export interface SiteSeedProps {
  site: SiteConfig;
  table: dynamodb.ITable;
  /** PBS managers (user@host patterns, comma-separated) set on a new server object */
  managers: string;
  logRetention: logs.RetentionDays;
}

export class SiteSeed extends Construct {
  readonly handler: NodejsFunction;
  readonly provider: cr.Provider;

  constructor(scope: Construct, id: string, props: SiteSeedProps) {
    super(scope, id);
    const fn = siteFunction(this, "Seed", {
      entry: "seed.ts",
      description: `metaqueue ${props.site.name}: seed server objects from the site configuration`,
      environment: {},
      timeout: Duration.minutes(2),
      logRetention: props.logRetention,
    });
    // conditional PutItem of server objects, nothing else
    fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ["dynamodb:PutItem"], resources: [props.table.tableArn] }),
    );
    this.handler = fn;
    const provider = new cr.Provider(this, "Provider", {
      onEventHandler: fn,
      logGroup: new logs.LogGroup(this, "ProviderLogs", {
        retention: props.logRetention,
        removalPolicy: RemovalPolicy.DESTROY,
      }),
    });
    this.provider = provider;
    new CustomResource(this, "Objects", {
      serviceToken: provider.serviceToken,
      resourceType: "Custom::MetaqueueSiteSeed",
      properties: {
        TableName: props.table.tableName,
        Site: JSON.stringify(props.site),
        Managers: props.managers,
      },
    });
  }
}
