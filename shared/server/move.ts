/**
 * qmove: to another queue of this server, or to a queue of a peer (a push transfer). Apart from
 * the other job operations (ops.ts) because it is the one that starts a transfer: the peer
 * protocol (peers/receiver.ts) uses ops.ts for forwarded qdel/qhold/qrls, so ops.ts must not
 * import it back.
 */
import { InvalidStateError, NotFoundError, RejectedError } from "../errors.js";
import { parseDestination } from "../pbs/jobid.js";
import { forwardJob, pinnedReason } from "../peers/origin.js";
import { findPeer, isThisSite, type SiteContext } from "./context.js";
import { triggerCycles } from "./messages.js";
import { loadServerState } from "./server-state.js";
import { withTrace } from "./job.js";
import { keyOfId, mutateJob } from "./mutate.js";
import { getQueue, queueEnabled, queuePartition } from "./objects.js";
import { type Actor, mayActOn, refuseSubjob } from "./ops.js";

/** qmove to another queue of this server, or to a queue of a peer (a push transfer). */
export async function moveJob(
  ctx: SiteContext,
  id: string,
  actor: Actor,
  destination: string,
): Promise<void> {
  const d = parseDestination(destination);
  refuseSubjob(ctx, id);
  const peer = isThisSite(ctx, d.server) ? undefined : findPeer(ctx, d.server);
  if (peer) {
    const job = await ctx.store.getJob(keyOfId(id, ctx.site.short));
    if (!job) throw new NotFoundError(`Unknown Job Id ${id}`);
    mayActOn(actor, job);
    const st = await loadServerState(ctx);
    const why = pinnedReason(job, st.queues.get(job.queue)?.attrs.pinned === true, { qmove: true });
    if (why) throw new InvalidStateError(`cannot move ${job.id} to ${destination}: ${why}`);
    const into = d.queue ?? "";
    if (!into) throw new RejectedError("BadDestination", `no queue in destination ${destination}`);
    if (!(await forwardJob(ctx, job, peer, into, `qmove by ${actor.user}`)))
      throw new InvalidStateError(`job ${job.id} changed while moving; try again`);
    return;
  }
  if (!isThisSite(ctx, d.server)) {
    throw new RejectedError(
      "UnknownServer",
      `cannot move to ${destination}: no peering to server ${d.server} is configured`,
    );
  }
  const st = await loadServerState(ctx);
  if (!d.queue) throw new RejectedError("BadDestination", `no queue in destination ${destination}`);
  const q = (() => {
    try {
      return getQueue(st, d.queue as string);
    } catch {
      throw new RejectedError("UnknownQueue", `Unknown queue ${d.queue}`);
    }
  })();
  if (!queueEnabled(q)) throw new RejectedError("QueueDisabled", `Queue ${q.name} is not enabled`);
  const now = ctx.clock.now();
  const { after } = await mutateJob(ctx, keyOfId(id, ctx.site.short), (cur) => {
    mayActOn(actor, cur);
    if (!["Q", "H", "W"].includes(cur.state))
      throw new InvalidStateError(`Request invalid for state of job ${cur.id}`);
    if (cur.queue === q.name) return { kind: "skip" };
    return {
      kind: "write",
      after: {
        ...cur,
        queue: q.name,
        partition: queuePartition(q),
        mtime: now,
        env: { ...cur.env, PBS_O_QUEUE: q.name },
        hist: withTrace(cur.hist, {
          time: now,
          source: "S",
          message: `Job moved to ${q.name} by ${actor.user}`,
        }),
      },
    };
  });
  if (after?.state === "Q") await triggerCycles(ctx, [after.partition], "move");
}
