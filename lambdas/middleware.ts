/**
 * How every Lambda entry is composed: the handler body (lambdas/handlers.ts, shared with the
 * local runtime) in middy, with Powertools' middlewares: the logger adds the invocation's
 * context (request ID, cold start, function) to every line, and the metrics middleware flushes
 * what the invocation emitted (CloudWatch EMF) when it ends, whether it returned or threw.
 * Partial batch responses come from Powertools batch inside the bodies, so the local runtime
 * gets the same batch semantics without middy.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { injectLambdaContext } from "@aws-lambda-powertools/logger/middleware";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { logMetrics } from "@aws-lambda-powertools/metrics/middleware";
import middy from "@middy/core";

/**
 * One logger and one metrics object per container, made at import (they read no site
 * configuration; env.ts adds the site to both when it builds the context).
 */
export const logger = new Logger({ serviceName: "metaqueue" });
export const metrics = new Metrics({ namespace: "metaqueue", serviceName: "metaqueue" });

export function siteHandler<E, R>(body: (event: E) => Promise<R>) {
  return middy(body).use(injectLambdaContext(logger)).use(logMetrics(metrics));
}
