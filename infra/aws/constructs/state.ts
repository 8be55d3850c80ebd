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
import type { IScalableTableAttribute } from "aws-cdk-lib/aws-dynamodb";
import * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import { siteTableDefinition, type TableDefinition } from "../../../shared/adapters/dynamodb/table.js";

/** Capacity units a provisioned table (and each of its indexes) scales between. */
export interface CapacityRange {
  min: number;
  max: number;
}

/**
 * How the site table is billed (context `tableCapacity`, infra/aws/settings.ts). On demand is
 * the default: nothing is paid while the site is idle, and a burst of submissions is never
 * throttled for want of capacity. Provisioned with autoscaling bills capacity by the hour
 * whether used or not, ~3.5× cheaper per unit at full use (docs/deploy.md "Capacity mode"):
 * for a site whose load is steady, at the price of throttling (qsub answers 503, nothing
 * written) when a burst outruns the burst credit before the scaling catches up.
 */
export type TableCapacity =
  | { mode: "on-demand" }
  | { mode: "provisioned"; writes: CapacityRange; reads: CapacityRange; targetUtilization: number };

export const ON_DEMAND: TableCapacity = { mode: "on-demand" };

export interface SiteStateProps {
  tableName: string;
  /** default: the shared site table definition */
  definition?: TableDefinition;
  /** default: on demand */
  capacity?: TableCapacity;
}

const str = (name: string): dynamodb.Attribute => ({ name, type: dynamodb.AttributeType.STRING });

export class SiteState extends Construct {
  readonly table: dynamodb.Table;
  readonly outputBucket: s3.Bucket;

  constructor(scope: Construct, id: string, props: SiteStateProps) {
    super(scope, id);
    const def = props.definition ?? siteTableDefinition;
    const cap = props.capacity ?? ON_DEMAND;
    // A provisioned table and each of its indexes start at their minimum; the scaling below
    // moves them. An index short of write capacity throttles the table's writes too, so every
    // index scales on its own, between the same bounds (the max is a cap, not a charge).
    const provisioned =
      cap.mode === "provisioned" ? { readCapacity: cap.reads.min, writeCapacity: cap.writes.min } : undefined;
    this.table = new dynamodb.Table(this, "Table", {
      tableName: props.tableName,
      partitionKey: str(def.pk),
      sortKey: str(def.sk),
      billingMode: provisioned ? dynamodb.BillingMode.PROVISIONED : dynamodb.BillingMode.PAY_PER_REQUEST,
      ...provisioned,
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
        ...provisioned,
      });
    }
    if (cap.mode === "provisioned") {
      const scale = (attr: IScalableTableAttribute) =>
        attr.scaleOnUtilization({ targetUtilizationPercent: cap.targetUtilization });
      const w = { minCapacity: cap.writes.min, maxCapacity: cap.writes.max };
      const r = { minCapacity: cap.reads.min, maxCapacity: cap.reads.max };
      scale(this.table.autoScaleWriteCapacity(w));
      scale(this.table.autoScaleReadCapacity(r));
      for (const index of def.indexes) {
        scale(this.table.autoScaleGlobalSecondaryIndexWriteCapacity(index.name, w));
        scale(this.table.autoScaleGlobalSecondaryIndexReadCapacity(index.name, r));
      }
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
