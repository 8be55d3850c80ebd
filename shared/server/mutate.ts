/** Read-decide-write with the job's version as the guard, retried when another writer wins. */
import { NotFoundError } from "../errors.js";
import type { AcctRecord, UsageCharge } from "../server/records.js";
import type { SiteContext } from "./context.js";
import type { JobRecord } from "./job.js";
import { retryConflicts } from "./retry.js";

export type Decide =
  | { kind: "write"; after: JobRecord; acct?: AcctRecord; charge?: UsageCharge }
  | { kind: "skip" };

/**
 * Apply `decide` to the current job until the conditional write succeeds. `decide` must be a
 * pure function of the job it is given: it runs again on every retry.
 */
export async function mutateJob(
  ctx: SiteContext,
  key: string,
  decide: (cur: JobRecord) => Decide,
  opts: { missingOk?: boolean; attempts?: number } = {},
): Promise<{ before?: JobRecord; after?: JobRecord }> {
  return retryConflicts(`job ${key}`, opts.attempts ?? 8, async () => {
    const cur = await ctx.store.getJob(key);
    if (!cur) {
      if (opts.missingOk) return {};
      throw new NotFoundError(`Unknown Job Id ${key}`);
    }
    const d = decide(cur);
    if (d.kind === "skip") return { before: cur };
    // a lost race (ConflictError) is tried again from a fresh read; a StoreError (item too
    // large, validation) fails the same way every time, and throttling was retried by the store
    const after = await ctx.store.updateJob(cur, d.after, d.acct, d.charge);
    return { before: cur, after };
  });
}

/**
 * "123.casper" / "123[4].casper" / "123" -> the key "123" / "123[4]". An array's own ID
 * ("123[].casper", what qsub prints) names the parent, whose key is the bare "123".
 */
export function keyOfId(id: string): string {
  const dot = id.indexOf(".", id.indexOf("]") + 1);
  const key = dot < 0 ? id : id.slice(0, dot);
  return key.endsWith("[]") ? key.slice(0, -2) : key;
}
