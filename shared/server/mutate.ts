/** Read-decide-write with the job's version as the guard, retried when another writer wins. */
import { NotFoundError } from "../errors.js";
import type { AcctRecord, UsageCharge } from "../server/records.js";
import type { SiteContext } from "./context.js";
import type { JobRecord } from "./job.js";
import { groupRead, groupWrite } from "./group-commit.js";
import { retryConflicts } from "./retry.js";

export type Decide =
  | { kind: "write"; after: JobRecord; acct?: AcctRecord; charge?: UsageCharge }
  | { kind: "skip" };

/**
 * Apply `decide` to the current job until the conditional write succeeds. `decide` must be a
 * pure function of the job it is given: it runs again on every retry.
 *
 * `job`: the job's key, or the job itself as the caller has just read it (a strongly consistent
 * read, never a record from an index or an eventually consistent read: a `skip` decided on it
 * writes nothing that its `ver` could refuse), which the first attempt starts from: one read
 * fewer.
 *
 * `group`: the first read and write join the concurrent ones (group-commit.ts: one batch read,
 * shared transactions), for handlers that end many jobs at once. A lost race falls back to the
 * single path: a fresh read of this job alone, a new decision, a write of its own.
 */
export async function mutateJob(
  ctx: SiteContext,
  job: string | JobRecord,
  decide: (cur: JobRecord) => Decide,
  opts: { missingOk?: boolean; attempts?: number; group?: boolean } = {},
): Promise<{ before?: JobRecord; after?: JobRecord }> {
  const key = typeof job === "string" ? job : job.key;
  const first = typeof job === "string" ? undefined : job;
  return retryConflicts(`job ${key}`, opts.attempts ?? 8, async (attempt) => {
    const grouped = opts.group === true && attempt === 0;
    // the caller's own read, just made (qdel's look for a moved job): the first attempt decides
    // on it instead of reading the job again. The write is still guarded by its `ver`, so a
    // change since then is a ConflictError and the next attempt reads afresh.
    const cur =
      attempt === 0 && first
        ? first
        : grouped
          ? await groupRead(ctx.store, key)
          : await ctx.store.getJob(key);
    if (!cur) {
      if (opts.missingOk) return {};
      throw new NotFoundError(`Unknown Job Id ${key}`);
    }
    const d = decide(cur);
    if (d.kind === "skip") return { before: cur };
    // a lost race (ConflictError) is tried again from a fresh read; a StoreError (item too
    // large, validation) fails the same way every time, and throttling was retried by the store
    const after = grouped
      ? await groupWrite(ctx.store, { before: cur, after: d.after, acct: d.acct, charge: d.charge })
      : await ctx.store.updateJob(cur, d.after, d.acct, d.charge);
    return { before: cur, after };
  });
}

/**
 * "123.casper" / "123[4].casper" / "123" -> the key "123" / "123[4]". An array's own ID
 * ("123[].casper", what qsub prints) names the parent, whose key is the bare "123".
 *
 * A job keeps the ID its origin gave it wherever it runs (PBS's `seq.origin-server`), so a job
 * received from a peer is stored under `seq@origin` ("103@casper"): never the key of one of
 * this site's own jobs ("103"), nor of the same number from another origin. `here` is this
 * site's short name; an ID without a server, or with `here`, names a job of this site.
 */
export function keyOfId(id: string, here: string): string {
  const dot = id.indexOf(".", id.indexOf("]") + 1);
  const seqPart = dot < 0 ? id : id.slice(0, dot);
  const key = seqPart.endsWith("[]") ? seqPart.slice(0, -2) : seqPart;
  const server = dot < 0 ? "" : id.slice(dot + 1);
  return server && server !== here ? `${key}@${server}` : key;
}

/** The sequence text of a job's ID ("103.casper" -> "103", "12[3].casper" -> "12"): PBS names output files by it. */
export function seqOfId(id: string): string {
  return id.replace(/[.[].*$/, "");
}
