/**
 * Carrying out a machine's step (step.ts) against the world: its store change, conditional on
 * the record the machine was given, then its sends, counts and logs. Shared by the shells
 * (origin.ts, receiver.ts, outbox.ts, offers.ts).
 */
import type { PeerInfo, SiteContext } from "../server/context.js";
import { sendToPeer } from "../server/messages.js";
import type { EndResult } from "../server/end-result.js";
import { subjobEnded } from "../server/array-count.js";
import type { JobRecord } from "../server/job.js";
import { retryConflicts } from "../server/retry.js";
import { type Step, type StoreEffect, storeEffectOf } from "./step.js";

export const NONE: EndResult = { partitions: [], ended: [] };

/**
 * Make a step's store change, if it has one; `before` is the record the machine was given. A
 * lost race throws ConflictError and writes nothing: the caller re-reads and runs the machine
 * again (its answer may differ: that is the point of re-reading).
 */
export async function applyStore(
  ctx: SiteContext,
  before: JobRecord | undefined,
  step: Step,
): Promise<JobRecord | undefined> {
  const e: StoreEffect | undefined = storeEffectOf(step);
  if (!e) return undefined;
  switch (e.kind) {
    case "write":
      if (!before) throw new Error(`write of ${e.after.id} with no record read`);
      return ctx.store.updateJob(before, e.after, e.acct, e.charge);
    case "createInbound":
      await ctx.store.createInbound(e.job, e.transferId);
      return e.job;
    case "tombstone":
      await ctx.store.abortInbound(e.transferId, e.job);
      return undefined;
  }
}

/**
 * Read job `key` (none when undefined or missing), run `machine` on it and make its store
 * change, from a fresh read on every lost race. Returns the step that won and what it wrote.
 */
export function stepJob(
  ctx: SiteContext,
  key: string | undefined,
  machine: (cur: JobRecord | undefined) => Step,
): Promise<{ step: Step; written?: JobRecord }> {
  return retryConflicts(`job ${key}`, 8, async () => {
    const cur = key === undefined ? undefined : await ctx.store.getJob(key);
    const step = machine(cur);
    const written = await applyStore(ctx, cur, step);
    return { step, written };
  });
}

/**
 * The rest of a step, once its store change is made: the sends to `peer` (none when the peer is
 * not configured), counts (tagged with `peerShort`) and logs, in order; the cycles and ends for
 * the caller to act on.
 */
export async function perform(
  ctx: SiteContext,
  peer: PeerInfo | undefined,
  peerShort: string,
  step: Step,
): Promise<EndResult> {
  const res: EndResult = { partitions: [], ended: [] };
  for (const e of step.effects) {
    if (e.kind === "send") {
      if (peer) await sendToPeer(ctx, peer, e.body);
    } else if (e.kind === "count") ctx.metrics?.count(e.metric, 1, { peer: peerShort });
    else if (e.kind === "log") ctx.log[e.level](e.message);
    else if (e.kind === "cycle") res.partitions.push(e.partition);
    else if (e.kind === "ended") res.ended.push(e.key);
    else if (e.kind === "countOnArray") await subjobEnded(ctx, e.sub);
  }
  return res;
}
