/**
 * AWS list prices the cost bench (bench/cost.ts) multiplies its measured counts by: us-east-1,
 * on-demand, first pricing tier, no free tier. Source: the public pricing pages
 * (aws.amazon.com/dynamodb/pricing/on-demand, /sqs/pricing, /lambda/pricing, /s3/pricing,
 * /fargate/pricing, /api-gateway/pricing), as last read 2025-06 (DynamoDB on-demand after its
 * 2024-11-01 cut). Prices change: re-read those pages before quoting the result.
 */
export const PRICES_AS_OF = "2025-06, us-east-1 list prices";

export const PRICES = {
  /** DynamoDB on-demand, per write request unit (1 KB; a transactional write is 2 per KB) */
  ddbWru: 0.625 / 1e6,
  /** DynamoDB on-demand, per read request unit (4 KB strongly consistent; eventual is 0.5) */
  ddbRru: 0.125 / 1e6,
  /**
   * DynamoDB provisioned (standard table class), per write / read capacity unit-hour: one unit
   * is one such request per second, billed every hour whether used or not
   * (aws.amazon.com/dynamodb/pricing/provisioned)
   */
  ddbWcuHour: 0.00065,
  ddbRcuHour: 0.00013,
  /** SQS FIFO, per request (64 KB chunk); standard queues are $0.40 per million */
  sqsFifoRequest: 0.5 / 1e6,
  sqsStandardRequest: 0.4 / 1e6,
  /** Lambda on Arm (Graviton), per GB-second */
  lambdaArmGbSecond: 0.0000133334,
  /** Lambda, per invocation */
  lambdaRequest: 0.2 / 1e6,
  /** API Gateway HTTP API, per request (up to 512 KB) */
  httpApiRequest: 1.0 / 1e6,
  /** S3 Standard PUT/COPY/POST/LIST, per request */
  s3Put: 0.005 / 1000,
  /** S3 Standard GET, per request */
  s3Get: 0.0004 / 1000,
  /** Fargate Linux/Arm, per vCPU-hour and per GB-hour */
  fargateArmVcpuHour: 0.03238,
  fargateArmGbHour: 0.00356,
} as const;

/**
 * Memory (MB) each Lambda function is configured with (infra/aws/constructs/*.ts: api and
 * scheduler 1024, the others siteFunction's default 512), by the names the local runtime meters
 * them under (infra/local/invocation-meter.ts).
 */
export const LAMBDA_MEMORY_MB: Record<string, number> = {
  api: 1024,
  scheduler: 1024,
  events: 512,
  inbox: 512,
  sweeper: 512,
};

/**
 * A provisioned table's capacity used on average: autoscaling's target (DynamoDB's default
 * 70 %), reached only by a site whose load is steady (infra/aws/settings.ts tableCapacity).
 */
export const PROVISIONED_UTILIZATION = 0.7;

/** $ per capacity unit consumed on a provisioned table used at `utilization` on average. */
export function provisionedUnitUsd(kind: "write" | "read", utilization = PROVISIONED_UTILIZATION): number {
  return (kind === "write" ? PRICES.ddbWcuHour : PRICES.ddbRcuHour) / 3600 / utilization;
}
