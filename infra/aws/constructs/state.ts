/**
 * The site's durable state: the DynamoDB table (built from the ONE table definition in
 * shared/adapters/dynamodb/table.ts, which the local runtime also creates from) and the job-output bucket.
 * Both are retained when the stack is deleted.
 *
 * Why `dynamodb.Table` and not `TableV2`: TableV2 synthesizes AWS::DynamoDB::GlobalTable; the
 * site table is single-region, and AWS::DynamoDB::Table's properties have the same shape as the
 * CreateTable input the local runtime uses (the unit test compares them one for one).
 */
import { Duration, RemovalPolicy } from "aws-cdk-lib";
import * as dynamodb from "aws-cdk-lib/aws-dynamodb";
import * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { siteTableDefinition, type TableDefinition } from "../../../shared/adapters/dynamodb/table.js";

export interface SiteStateProps {
  tableName: string;
  /** default: the shared site table definition */
  definition?: TableDefinition;
}

const str = (name: string): dynamodb.Attribute => ({ name, type: dynamodb.AttributeType.STRING });

export class SiteState extends Construct {
  readonly table: dynamodb.Table;
  readonly outputBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: SiteStateProps) {
    super(scope, id);
    const def = props.definition ?? siteTableDefinition;
    this.table = new dynamodb.Table(this, "Table", {
      tableName: props.tableName,
      partitionKey: str(def.pk),
      sortKey: str(def.sk),
      billingMode: dynamodb.BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: true,
      encryption: dynamodb.TableEncryption.AWS_MANAGED,
      removalPolicy: RemovalPolicy.RETAIN,
      timeToLiveAttribute: def.ttl,
    });
    for (const index of def.indexes) {
      this.table.addGlobalSecondaryIndex({
        indexName: index.name,
        partitionKey: str(index.pk),
        sortKey: str(index.sk),
        ...(index.projection === "ALL"
          ? { projectionType: dynamodb.ProjectionType.ALL }
          : { projectionType: dynamodb.ProjectionType.INCLUDE, nonKeyAttributes: index.projection }),
      });
    }

    // stdout/stderr of jobs run on ECS: s3://<bucket>/<jobId>/<file>
    this.outputBucket = new s3.Bucket(this, "Output", {
      encryption: s3.BucketEncryption.S3_MANAGED,
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      objectOwnership: s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
      enforceSSL: true,
      versioned: false,
      removalPolicy: RemovalPolicy.RETAIN,
      lifecycleRules: [
        { id: "abort-incomplete-uploads", abortIncompleteMultipartUploadAfter: Duration.days(7) },
      ],
    });
  }
}
