/**
 * How every metaqueue Lambda is built: the TypeScript entry in lambdas/ bundled by the local
 * esbuild (no Docker) as an ES module, Node.js 22 on ARM64 (Graviton: ~20% cheaper per GB-s),
 * its own log group with a retention, source maps on.
 *
 * Each function has its own role that may write only to its own log group, instead of the AWS
 * managed AWSLambdaBasicExecutionRole (logs:* on every log group of the account).
 */
import * as path from "node:path";
import { fileURLToPath } from "node:url";
import { type Duration, RemovalPolicy } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import { NodejsFunction, OutputFormat } from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import type { Construct } from "constructs";

/** the repository root (infra/aws/constructs/../../..) */
export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

/** CommonJS dependencies (the AWS SDK, ...) call require(): give the ESM bundle a real one. */
const REQUIRE_BANNER =
  'import { createRequire as __mqCreateRequire } from "node:module"; const require = __mqCreateRequire(import.meta.url);';

export interface SiteFunctionProps {
  /** file name under lambdas/, e.g. "api.ts" */
  entry: string;
  environment: Record<string, string>;
  timeout: Duration;
  memorySize?: number;
  /** reserved concurrency: a floor this function always has, and a ceiling it never passes */
  reservedConcurrentExecutions?: number;
  description: string;
  logRetention: logs.RetentionDays;
}

/** esbuild options shared by the Lambda bundles (exported for the bundle test). */
export const LAMBDA_BUNDLING = {
  format: OutputFormat.ESM,
  target: "node22",
  platform: "node",
  mainFields: ["module", "main"],
  banner: REQUIRE_BANNER,
} as const;

export function siteFunction(scope: Construct, id: string, props: SiteFunctionProps): NodejsFunction {
  const logGroup = new logs.LogGroup(scope, `${id}Logs`, {
    retention: props.logRetention,
    removalPolicy: RemovalPolicy.DESTROY,
  });
  const role = new iam.Role(scope, `${id}Role`, {
    assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
    description: `${props.description}: its own log group only`,
  });
  // the group's ARN ends in ":*", which covers its streams
  role.addToPrincipalPolicy(
    new iam.PolicyStatement({
      actions: ["logs:CreateLogStream", "logs:PutLogEvents"],
      resources: [logGroup.logGroupArn],
    }),
  );
  return new NodejsFunction(scope, id, {
    entry: path.join(REPO_ROOT, "lambdas", props.entry),
    handler: "handler",
    projectRoot: REPO_ROOT,
    depsLockFilePath: path.join(REPO_ROOT, "package-lock.json"),
    runtime: lambda.Runtime.NODEJS_22_X,
    architecture: lambda.Architecture.ARM_64,
    memorySize: props.memorySize ?? 512,
    timeout: props.timeout,
    reservedConcurrentExecutions: props.reservedConcurrentExecutions,
    role,
    description: props.description,
    logGroup,
    environment: { NODE_OPTIONS: "--enable-source-maps", ...props.environment },
    bundling: {
      forceDockerBundling: false,
      format: LAMBDA_BUNDLING.format,
      target: LAMBDA_BUNDLING.target,
      mainFields: [...LAMBDA_BUNDLING.mainFields],
      banner: LAMBDA_BUNDLING.banner,
      // bundle the SDK too: the versions we test are the versions that run
      externalModules: [],
      minify: true,
      sourceMap: true,
      sourcesContent: false,
    },
  });
}
