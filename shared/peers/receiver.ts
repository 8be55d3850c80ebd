/**
 * The receiver's side, I/O: take a FORWARD (this site's receive policy decides), COMMIT, ABORT,
 * forwarded job operations and JOB_END_ACK, and report a received job's end to its origin. Each
 * handler reads, runs the receiver's machine (receiver-machine.ts, where the protocol and its
 * invariants are explained), makes its one change conditionally (a lost race re-reads and runs
 * the machine again) and only then sends.
 */
import { retryConflicts } from "../server/retry.js";
import { ConflictError, MetaqueueError } from "../errors.js";
import type { QsubOptions } from "../pbs/types.js";
import { findPeer, type PeerInfo, type SiteContext } from "../server/context.js";
import { loadServerState } from "../server/server-state.js";
import type { EndResult } from "../server/end-result.js";
import type { JobRecord } from "../server/job.js";
import { keyOfId } from "../server/mutate.js";
import { federationState, getQueue, queuePartition } from "../server/objects.js";
import { deleteJob, holdJob, releaseJob } from "../server/ops.js";
import { allocateSeq } from "../server/seq.js";
import { checkQueueAccepts, resolveResources, resourceList } from "../server/submit.js";
import { mapInbound } from "./identity-map.js";
import { type Admission, type Received, receivedCopy, receiverStep } from "./receiver-machine.js";
import { applyStore, NONE, perform, stepJob } from "./run-step.js";
import type { Msg, Step } from "./step.js";

/** FORWARD: apply this site's receive policy; create the job held in T, or refuse. */
export async function onForward(ctx: SiteContext, peer: PeerInfo, m: Msg<"FORWARD">): Promise<EndResult> {
  const now = ctx.clock.now();
  // No read first: a transfer seen before (created, or tombstoned by ABORT) makes the create or
  // the tombstone fail, and only then is it read and the machine run again with what it says.
  let step = receiverStep({}, { kind: "forward", now, m });
  if (step.effects.some((e) => e.kind === "askPolicy")) {
    try {
      step = receiverStep({}, { kind: "admit", m, copy: receivedCopy(await admission(ctx, peer, m)) });
    } catch (err) {
      if (!(err instanceof MetaqueueError)) throw err;
      step = receiverStep({}, { kind: "refuse", m, reason: err.message });
    }
  }
  try {
    await applyStore(ctx, undefined, step);
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    const transfer = await ctx.store.getTransfer(m.transferId);
    if (!transfer) return NONE;
    step = receiverStep({ transfer }, { kind: "forward", now, m });
  }
  return perform(ctx, peer, peer.short, step);
}

class ReceiveRefused extends MetaqueueError {
  constructor(message: string) {
    super("TransferRefused", message, 409, 15);
  }
}

/** This site's receive policy on a FORWARD (throws MetaqueueError with the reason it refuses). */
async function admission(ctx: SiteContext, peer: PeerInfo, m: Msg<"FORWARD">): Promise<Admission> {
  const st = await loadServerState(ctx);
  const fed = federationState(st);
  if (fed !== "active") throw new ReceiveRefused(`site ${ctx.site.server} is ${fed}`);
  // A job keeps its origin's ID everywhere; back at its origin that ID (and key) is the origin's
  // own record of the move, so a job does not come home this way.
  if (!keyOfId(m.originId, ctx.site.short).includes("@"))
    throw new ReceiveRefused(`job ${m.originId} was submitted here`);
  const p = m.job;
  // staged paths are the origin's (an origin that pins such jobs never sends one): a copy here
  // would read or write this site's files under names meant for another site's
  if (Object.keys(p.extra ?? {}).some((k) => /^stage(in|out)$/i.test(k)))
    throw new ReceiveRefused("job stages files (stagein/stageout) on its own site");
  const mapped = mapInbound(peer, peer.short, p.user, p.account);
  if (!mapped.ok) throw new ReceiveRefused(mapped.reason);
  let queue: ReturnType<typeof getQueue>;
  try {
    queue = getQueue(st, m.into);
  } catch {
    throw new ReceiveRefused(`Unknown queue ${m.into}`);
  }
  // The receive side's limits and ACLs rule (LSF's receive queue): the same checks as qsub here.
  checkQueueAccepts(queue, { user: mapped.user });
  if (queue.attrs.peer_pull === false)
    throw new ReceiveRefused(`queue ${queue.name} takes no jobs from peers`);
  const opts: QsubOptions = { resources: { ...p.resources } };
  const req = resolveResources(st, queue, opts);
  const seq = await allocateSeq(ctx);
  return {
    m,
    from: peer,
    site: ctx.site.short,
    seq,
    now: ctx.clock.now(),
    queue: { name: queue.name, partition: queuePartition(queue) },
    rl: resourceList(req),
    sel: req.select,
    walltime: req.walltime,
    user: mapped.user,
    account: mapped.account,
  };
}

/** COMMIT: the origin recorded the move; the job may run here now. */
export async function onCommit(ctx: SiteContext, peer: PeerInfo, m: Msg<"COMMIT">): Promise<EndResult> {
  const now = ctx.clock.now();
  const { step } = await stepJob(ctx, keyOfId(m.newId, ctx.site.short), (job) =>
    receiverStep({ job }, { kind: "commit", now, m }),
  );
  return perform(ctx, peer, peer.short, step);
}

/** ABORT: drop the uncommitted copy, or make sure none is ever created. */
export async function onAbort(ctx: SiteContext, peer: PeerInfo, m: Msg<"ABORT">): Promise<EndResult> {
  // An ABORT races only with the same transfer's COMMIT, FORWARD or another ABORT: a fresh read
  // settles it, so lost races are re-read at once (no backoff, unlike retryConflicts).
  const step = await retryConflicts(
    `transfer ${m.transferId}`,
    5,
    async () => {
      const transfer = await ctx.store.getTransfer(m.transferId);
      // a tombstone needs no more reading: the machine ignores the ABORT
      const job =
        transfer?.status !== "aborted" && transfer?.key ? await ctx.store.getJob(transfer.key) : undefined;
      const r: Received = { transfer, job };
      const step: Step = receiverStep(r, { kind: "abort", m });
      await applyStore(ctx, job, step);
      return step;
    },
    { backoff: false },
  );
  return perform(ctx, peer, peer.short, step);
}

/** JOB_OP: qdel/qhold/qrls asked at the origin (which checked who asked) for a job now here. */
export async function onJobOp(ctx: SiteContext, peer: PeerInfo, m: Msg<"JOB_OP">): Promise<EndResult> {
  const job = await ctx.store.getJob(keyOfId(m.newId, ctx.site.short));
  if (!job || job.inbound?.transferId !== m.transferId || job.inbound.from !== peer.short) return NONE;
  const actor = { user: `${m.requestor}@${peer.short}`, privileged: true };
  try {
    if (m.op === "delete") await deleteJob(ctx, job.id, actor);
    else {
      const after = await (m.op === "hold" ? holdJob : releaseJob)(ctx, job.id, actor);
      if (after) await reportState(ctx, after);
    }
  } catch (err) {
    // Already finished, not held...: the same answer qdel would give here; nothing to retry.
    if (!(err instanceof MetaqueueError)) throw err;
    ctx.log.info(`${m.op} of ${job.id} from ${peer.short}: ${err.message}`);
  }
  return { partitions: [job.partition], ended: [] };
}

/** JOB_END_ACK: the origin has the outcome; stop re-sending. */
export async function onJobEndAck(
  ctx: SiteContext,
  peer: PeerInfo,
  m: Msg<"JOB_END_ACK">,
): Promise<EndResult> {
  const { step } = await stepJob(ctx, keyOfId(m.newId, ctx.site.short), (job) =>
    receiverStep({ job }, { kind: "jobEndAck", m }),
  );
  return perform(ctx, peer, peer.short, step);
}

/** Tell the origin a job it moved here has ended (in the origin's names). Idempotent. */
export async function reportEnd(ctx: SiteContext, job: JobRecord): Promise<void> {
  const peer = findPeer(ctx, job.inbound?.from);
  if (!peer) return;
  await perform(ctx, peer, peer.short, receiverStep({ job }, { kind: "localEnd" }));
}

/** Tell the origin of a job received here its state changed (started, held, released). Best effort: see origin-machine's jobState. */
export async function reportState(ctx: SiteContext, job: JobRecord): Promise<void> {
  const peer = findPeer(ctx, job.inbound?.from);
  if (!peer) return;
  const step = receiverStep({ job }, { kind: "localState", now: ctx.clock.now(), server: ctx.site.server });
  try {
    await perform(ctx, peer, peer.short, step);
  } catch (err) {
    // the job runs whether or not its origin heard; its end is reported (and re-sent) anyway
    ctx.log.warn(`cannot report ${job.id}'s state to ${peer.short}: ${(err as Error).message}`);
  }
}
