/** Read-decide-write with the job's version as the guard, retried when another writer wins. */
import { ConflictError, NotFoundError } from "../errors.js";
import type { AcctRecord, UsageCharge } from "../store/site-store.js";
import type { SiteContext } from "./context.js";
import type { JobRecord } from "./job.js";

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
  const attempts = opts.attempts ?? 8;
  for (let i = 0; i < attempts; i++) {
    const cur = await ctx.store.getJob(key);
    if (!cur) {
      if (opts.missingOk) return {};
      throw new NotFoundError(`Unknown Job Id ${key}`);
    }
    const d = decide(cur);
    if (d.kind === "skip") return { before: cur };
    try {
      const after = await ctx.store.updateJob(cur, d.after, d.acct, d.charge);
      return { before: cur, after };
    } catch (err) {
      // Only a lost race is retried here: a StoreError (item too large, validation) fails the
      // same way every time, and throttling was already retried by the store.
      if (!(err instanceof ConflictError)) throw err;
      await new Promise((r) => setTimeout(r, Math.random() * 20 * (i + 1)));
    }
  }
  throw new ConflictError(`job ${key} is changing too fast; try again`);
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
