/**
 * A site's inbox: messages from peers. Verified first (signature, known sender), then applied
 * idempotently: SQS may deliver a message twice, late, or out of order.
 */
import { ConflictError } from "../errors.js";
import { parseJobId } from "../pbs/jobid.js";
import { findPeer, type SiteContext, sendToPeer } from "../server/context.js";
import { edgeOutcome } from "../server/depend-rules.js";
import { applyDependencyOutcome, type EndResult } from "../server/job-end.js";
import { openPeerMessage, type PeerBody } from "./messages.js";

/** Messages refused (unknown sender, bad signature, malformed), by reason: never acted on. */
export const rejectedPeerMessages: Record<string, number> = {};

export async function handlePeerMessage(ctx: SiteContext, raw: string): Promise<EndResult> {
  const { from, body } = openPeerMessage(raw, ctx.site.short, (p) => findPeer(ctx, p)?.secret);
  const peer = findPeer(ctx, from);
  if (!peer) throw new Error(`peer ${from} vanished`);
  switch (body.type) {
    case "DEPEND_REGISTER":
      await registerRemoteChild(ctx, peer, body);
      return { partitions: [], ended: [] };
    case "DEPEND_RELEASE":
      return applyDependencyOutcome(
        ctx,
        body.childId,
        body.parentId,
        body.depType,
        body.outcome,
        body.reason,
      );
  }
}

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
  for (let attempt = 0; attempt < 3; attempt++) {
    const parent = await ctx.store.getJob(key);
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
    try {
      await ctx.store.addEdge({ parentKey: key, childId: m.childId, type: m.depType, site: peer.short });
      return;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      // the parent finished while we registered: read it again and answer from its outcome
    }
  }
}
