/**
 * Counts the handler invocations the local runtime makes where Lambda would (API requests, SQS
 * batches, ticks) and sums their wall time, into the request counters (aws-clients.ts) as
 * `lambda.<fn>.n` and `lambda.<fn>.ms`: the cost bench prices them as Lambda GB-seconds. Wall
 * time here is an upper bound on Lambda's billed duration: the handlers share two cores with
 * DynamoDB Local and the MOMs.
 */
import { requestCounts } from "../../shared/adapters/aws-clients.js";

export function metered<A extends unknown[], R>(fn: string, handler: (...a: A) => Promise<R>) {
  return async (...a: A): Promise<R> => {
    const t0 = performance.now();
    try {
      return await handler(...a);
    } finally {
      const n = `lambda.${fn}.n`;
      const ms = `lambda.${fn}.ms`;
      requestCounts[n] = (requestCounts[n] ?? 0) + 1;
      requestCounts[ms] = (requestCounts[ms] ?? 0) + (performance.now() - t0);
    }
  };
}

/** Invocations and milliseconds by function name, from a counter record. */
export function summarizeInvocations(
  counts: Record<string, number>,
): Record<string, { n: number; ms: number }> {
  const out: Record<string, { n: number; ms: number }> = {};
  for (const [k, v] of Object.entries(counts)) {
    const m = /^lambda\.(.+)\.(n|ms)$/.exec(k);
    if (!m) continue;
    out[m[1]] ??= { n: 0, ms: 0 };
    out[m[1]][m[2] as "n" | "ms"] += v;
  }
  return out;
}
