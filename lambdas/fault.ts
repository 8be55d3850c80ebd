/**
 * Fault injection, for tests only: SIGKILL this process's whole group at one exact point of a
 * job's end, to prove that a restart repairs what the kill left half-done. Read once, when the
 * events handler is built; without METAQUEUE_FAULT it is never active and costs nothing.
 *
 *   METAQUEUE_FAULT=kill-after-end      the first obituary that ends a job with dependents:
 *                                       after its write, before its dependents are released
 *   METAQUEUE_FAULT=kill-after-end:N    the N-th such obituary (mid-chain); counted per events
 *                                       handler, so per site when one process runs several
 *
 * `process.kill(0, ...)` signals the process group: in the local runtime that is DynamoDB
 * Local, the SQS emulator and the MOMs with it, as an operator's `kill -9` of the group would.
 *
 * It waits SETTLE_MS before the kill, holding the release back: DynamoDB Local acknowledges a
 * TransactWriteItems before it is on disk (measured: killed at once, 7 of 8 acknowledged
 * transactions were lost; 10 ms later, 2 of 6; 50 ms or more later, 0 of 10), where DynamoDB
 * answers only once the write is durable. The wait gives the state a real table would have.
 */
import { type Env, envSchema, readEnv, v } from "../shared/config/env.js";

const SETTLE_MS = 1000;

/** Test-only, so lenient: a value that is no fault this module knows leaves it off. */
const FaultEnvSchema = envSchema({ METAQUEUE_FAULT: v.optional() });

export function faultFromEnv(env: Env = process.env): { afterEnd(): Promise<void> } | undefined {
  const { METAQUEUE_FAULT: fault } = readEnv("fault injection", FaultEnvSchema, env);
  const m = /^kill-after-end(?::(\d+))?$/.exec(fault ?? "");
  if (!m) return undefined;
  let left = Number(m[1] ?? 1);
  return {
    async afterEnd() {
      if (--left !== 0) return;
      await new Promise((r) => setTimeout(r, SETTLE_MS));
      console.error(`metaqueue: METAQUEUE_FAULT=${fault}: SIGKILL of the process group`);
      process.kill(0, "SIGKILL");
    },
  };
}
