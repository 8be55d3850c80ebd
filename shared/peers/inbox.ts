import { parseJobId } from "../pbs/jobid.js";
import { findPeer, type SiteContext } from "../server/context.js";
import { sendToPeer } from "../server/messages.js";
import { edgeOutcome } from "../server/depend-rules.js";
import { applyDependencyOutcome, type EndResult } from "../server/job-end.js";
import { retryConflicts } from "../server/retry.js";
import { openPeerMessage, type PeerBody } from "./messages.js";
import { claimMessage } from "./replay.js";
import { onBacklog, onOffer } from "./offers.js";
import { onAccept, onJobEnd, onJobState, onReject } from "./origin.js";
import { onAbort, onCommit, onForward, onJobEndAck, onJobOp } from "./receiver.js";

/**
 * Messages refused (unknown sender, bad signature, malformed, stale, replayed), by reason: never
 * acted on.
 */
export const rejectedPeerMessages: Record<string, number> = {};

/**
 * Verify, claim and apply one message. `delivery` is the queue's ID for this delivery (SQS
 * MessageId): a redelivery of the same queue message is processed again, another queue message
 * with the same signed ID is a replay (replay.ts). Throws PeerMessageError for what must be
 * dropped, anything else for what must be retried.
 */
export async function handlePeerMessage(
  ctx: SiteContext,
  raw: string,
  delivery?: string,
): Promise<EndResult> {
  const s = ctx.settings;
  const opened = openPeerMessage(raw, ctx.site.short, (p) => findPeer(ctx, p)?.secret, {
    now: ctx.clock.now(),
    maxAgeMs: s.peerMessageMaxAgeMs,
    commandMaxAgeMs: s.peerCommandMaxAgeMs,
    maxFutureMs: s.peerClockSkewMs,
  });
  await claimMessage(ctx, opened, delivery);
  const { from, body } = opened;
  const peer = findPeer(ctx, from);
  if (!peer) throw new Error(`peer ${from} vanished`);
  switch (body.type) {
    case "DEPEND_REGISTER":
      await registerRemoteChild(ctx, peer, body);
      return NONE;
    case "DEPEND_RELEASE":
      return applyDependencyOutcome(
        ctx,
        body.childId,
        body.parentId,
        body.depType,
        body.outcome,
        body.reason,
      );
    case "HEARTBEAT":
      await ctx.store.putPeerSeen({ short: peer.short, state: body.state, at: ctx.clock.now() });
      return NONE;
    case "OFFER":
      return onOffer(ctx, peer, body);
    case "BACKLOG":
      return onBacklog(ctx, peer, body);
    case "FORWARD":
      return onForward(ctx, peer, body);
    case "ACCEPT":
      return onAccept(ctx, peer, body);
    case "REJECT":
      return onReject(ctx, peer, body);
    case "COMMIT":
      return onCommit(ctx, peer, body);
    case "ABORT":
      return onAbort(ctx, peer, body);
    case "JOB_END":
      return onJobEnd(ctx, peer, body);
    case "JOB_END_ACK":
      return onJobEndAck(ctx, peer, body);
    case "JOB_STATE":
      return onJobState(ctx, peer, body);
    case "JOB_OP":
      return onJobOp(ctx, peer, body);
  }
}

const NONE: EndResult = { partitions: [], ended: [] };

async function registerRemoteChild(
  ctx: SiteContext,
  peer: NonNullable<ReturnType<typeof findPeer>>,
  m: Extract<PeerBody, { type: "DEPEND_REGISTER" }>,
): Promise<void> {
  const ref = parseJobId(m.parentId);
  const key =
    ref.arrayIndex !== undefined && ref.arrayIndex !== "" ? `${ref.seq}[${ref.arrayIndex}]` : ref.seq;
  const release = (outcome: "satisfied" | "unsatisfiable", reason?: string) =>
    sendToPeer(ctx, peer, {
      type: "DEPEND_RELEASE",
      parentId: m.parentId,
      childId: m.childId,
      depType: m.depType,
      outcome,
      reason,
    });
  await retryConflicts(`dependency on ${m.parentId}`, 3, async () => {
    // The child's site re-sends a register while its job waits (shared/server/repair.ts): an
    // edge already in place for a parent still pending needs no write.
    const { job: parent, edge } = await ctx.store.getJobAndEdge(key, m.childId);
    if (!parent) return release("unsatisfiable", `Unknown Job Id ${m.parentId}`);
    const outcome = edgeOutcome(m.depType, parent);
    if (outcome !== "pending") {
      return release(
        outcome,
        outcome === "unsatisfiable"
          ? `job ${parent.id} ended with Exit_status ${parent.exitStatus}`
          : undefined,
      );
    }
    if (edge?.type === m.depType && edge.site === peer.short) return;
    // a ConflictError here: the parent finished while we registered; the retry reads it again
    // and answers from its outcome
    await ctx.store.addEdge({ parentKey: key, childId: m.childId, type: m.depType, site: peer.short });
  });
}
