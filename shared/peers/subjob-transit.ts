/**
 * Array subjobs handed to a peer, like any job, each under the ID qsub gave it (`12[3].casper`).
 *
 * Design (the least that keeps the transfer machines as they are): a subjob not started has no
 * record of its own, only an index its parent has yet to start (server/subjobs.ts), and the
 * machines move records. So the hand-over *materialises* the subjob, as its start here does
 * (scheduler/cycle.ts claimSubjobs): one transaction takes the indices out of the parent's
 * unstarted ones (counted in `array.running`, takeIndices) and creates each subjob's record
 * already in transit (T, `xfer` set), exactly as the origin's machine writes a queued job it
 * forwards (originStep "forward" on the fresh record). From then on the subjob is a record like
 * any other moving job, and every invariant of origin-machine.ts holds for it unchanged:
 * ACCEPT makes it M (COMMIT once), REJECT or the timeout puts it back to Q (a subjob record in
 * Q is in its queue's ready index: the scheduler starts it here, or a later offer hands it over
 * again; its index never returns to the parent, so it can be neither lost nor started twice),
 * JOB_END records its end once and counts it on the parent (`subjobEnded`, guarded by the
 * subjob's `counted` mark, so a re-sent JOB_END never counts twice).
 *
 * The parent stays here: it owns the index bookkeeping (the indices left, `array_state_count`,
 * `array_indices_remaining`, its end once every subjob is counted), which needs one record to
 * guard with conditional writes, wherever its subjobs run. Its usage, as any moved job's, is
 * charged here when the JOB_END comes back.
 */
import { ConflictError } from "../errors.js";
import type { PeerInfo, SiteContext } from "../server/context.js";
import { type JobRecord, withTrace } from "../server/job.js";
import { instantiateSubjob, isUnstarted, takeIndices } from "../server/subjobs.js";
import { forwardStep, pinnedReason } from "./origin.js";
import type { Step } from "./step.js";

/** What one DynamoDB transaction may carry (4 MB), less a margin for the parent and the keys. */
const TRANSACTION_BYTES = 3.5 * 1024 * 1024;
/** Items per transaction (DynamoDB: 100), less the parent. */
const MAX_ITEMS = 99;

/**
 * Hand the unstarted subjobs `indices` of array `parent` (its full record, as read) to `peer`'s
 * queue `into`: the steps written (each with its FORWARD, not yet sent), or none when the parent
 * changed since it was read (a cycle started subjobs, a qdel): the next offer decides again.
 */
export async function forwardSubjobs(
  ctx: SiteContext,
  parent: JobRecord,
  indices: number[],
  peer: PeerInfo,
  into: string,
  why: string,
  queuePinned: boolean,
): Promise<Step[]> {
  const a = parent.array;
  if (!a || (parent.state !== "Q" && parent.state !== "B")) return [];
  const now = ctx.clock.now();
  const perSub = ctx.store.jobItemBytes(parent) + 1024;
  const fit = Math.max(1, Math.min(MAX_ITEMS, Math.floor((TRANSACTION_BYTES - perSub) / perSub)));
  const steps: Step[] = [];
  for (const idx of [...new Set(indices)]) {
    if (steps.length >= fit) break;
    if (!isUnstarted(parent, idx)) continue;
    const sub = instantiateSubjob(parent, idx, now);
    // the parent's holds, dependencies, pins and staging are its subjobs': the same rule as a job's
    if (pinnedReason(sub, queuePinned)) return [];
    const step = forwardStep(ctx, sub, peer, into, why, now);
    if (!step.ignored && step.state) steps.push(step);
  }
  if (!steps.length) return [];
  const taken = steps.map((s) => (s.state as JobRecord).arrayIndex as number);
  const message = `Subjob${taken.length > 1 ? "s" : ""} ${taken.join(",")} handed to ${into}@${peer.server} (${why})`;
  const after: JobRecord = {
    ...parent,
    // B: the array is under way (its subjobs have records); its begin (stime, -m b) is still
    // its first start here, which may never come if all of them run elsewhere
    state: "B",
    array: takeIndices(a, taken),
    mtime: now,
    hist: withTrace(parent.hist, { time: now, source: "S", message }),
  };
  try {
    await ctx.store.transactJobs(
      [{ before: parent, after }],
      steps.map((s) => s.state as JobRecord),
    );
  } catch (err) {
    if (err instanceof ConflictError) return [];
    throw err;
  }
  return steps;
}
