/**
 * The replay guard: a site takes each message ID from a peer once. The ID and the send time are
 * signed (messages.ts), so a captured message re-sent later is either stale (outside the window,
 * refused by openPeerMessage) or carries an ID already taken here (refused by this module).
 *
 * "Once" is per SQS delivery, not per call: SQS redelivers the SAME message (same MessageId)
 * when a handler failed or its process was killed, and that redelivery must be processed, or a
 * crash would lose the message. A replay is a NEW queue message (new MessageId, which SQS
 * assigns and nobody can choose) carrying an old envelope. So a claim records which delivery
 * took the ID, and the same delivery may claim again.
 *
 * Two levels:
 * - An in-process LRU for every message: free, and enough where a repeat is harmless anyway.
 * - A durable record (a conditional put in the site table, TTL'd at the end of the message's
 *   window) for the types whose repeat would do harm, so a replay delivered to another Lambda
 *   instance, or after a restart, is refused too. See DURABLE_TYPES for the type-by-type reasons.
 *
 * Crash safety (the claim is written BEFORE the effect): a SIGKILL between the claim and the
 * effect leaves a record naming the delivery; SQS makes the message visible again after the
 * inbox's visibility timeout (60 s) and the same delivery claims again and applies the effect.
 * Nothing is deleted on failure, so there is no window where a failed handler's claim is gone
 * and a replay slips in. Per durable type, what that SIGKILL costs:
 * - OFFER: the offer is applied up to 60 s late (the jobs it would take stay queued meanwhile;
 *   pickForOffer reads the queue as it is then). A stale one (past the window) is dropped,
 *   which is right: the room it described is long gone, and the peer offers again.
 * - HEARTBEAT: the peer's "last seen" is written late; a later heartbeat supersedes it anyway.
 * - JOB_OP: the qdel/qhold/qrls reaches the job up to 60 s late (it was asynchronous already).
 * - DEPEND_REGISTER / DEPEND_RELEASE: the edge is added, or the child released, late. These are
 *   never re-sent by their sender, which is why their window is peerCommandMaxAgeMs (days).
 */
import { randomUUID } from "node:crypto";
import { ConflictError } from "../errors.js";
import type { SiteContext } from "../server/context.js";
import { type OpenedPeerMessage, type PeerBody, PeerMessageError } from "./messages.js";

/**
 * Types that get a durable record, from what each handler does with a repeat:
 * - OFFER: hands over every queued job that fits the offered room: a repeat hands over more
 *   jobs to a peer that has no room left for them (issue 10: 3 jobs moved by a 40 s old copy).
 * - HEARTBEAT: records the peer as seen now, in the state it sent: a repeat shows a silent or
 *   down peer as connected, or a draining one as active again.
 * - JOB_OP: qhold/qrls are not idempotent over time: a repeated "release" undoes a later hold.
 * - DEPEND_REGISTER: adds an edge: a repeat re-registers an edge the child may have dropped.
 * - DEPEND_RELEASE: releases or deletes a child: a repeat acts on a child that waits again (qalter).
 * Rare except OFFER and HEARTBEAT, which are throttled (offerIntervalMs, peerStaleMs / 6):
 * one extra write each.
 *
 * No durable record, the LRU only:
 * - FORWARD, ACCEPT, REJECT, COMMIT, ABORT, JOB_END, JOB_END_ACK: the outbox's messages, whose
 *   handlers are idempotent by the transfer's own state (the XFER record, the job's state and
 *   xfer/inbound fields, all changed by conditional writes): a repeat re-sends the first answer
 *   or does nothing. test/unit/peers/transfer.property.test.ts proves it under duplication, so a
 *   durable record per message would cost a write each for nothing.
 * - BACKLOG: its only effect is a scheduler cycle now (which the tick runs anyway); the cycle
 *   works from current state, so a repeat costs one cycle and changes nothing a cycle would
 *   not. BACKLOG is sent up to every offerIntervalMs while jobs wait: a write each would add
 *   load exactly when the site is busiest.
 */
export const DURABLE_TYPES: ReadonlySet<PeerBody["type"]> = new Set([
  "OFFER",
  "HEARTBEAT",
  "JOB_OP",
  "DEPEND_REGISTER",
  "DEPEND_RELEASE",
]);

/** Entries the in-process LRU keeps; an evicted entry only weakens it for LRU-only types. */
export const SEEN_LRU_MAX = 20_000;

/** key: `<me>/<peer>/<id>` (one process may run several sites: the local runtime, the simulator) */
const seen = new Map<string, { delivery: string; until: number }>();

/** Forget every in-process record (tests: a restarted process). */
export function forgetSeenMessages(): void {
  seen.clear();
}

/**
 * Take message `m` (opened and verified) for delivery `delivery`, or throw
 * PeerMessageError("replayed"). Without a delivery ID every call is a new delivery.
 */
export async function claimMessage(
  ctx: SiteContext,
  m: OpenedPeerMessage,
  delivery: string | undefined,
): Promise<void> {
  const now = ctx.clock.now();
  const d = delivery ?? `call:${randomUUID()}`;
  const key = `${ctx.site.short}/${m.from}/${m.id}`;
  const hit = seen.get(key);
  if (hit && hit.until >= now && hit.delivery !== d) throw replayed(m, "this process");
  if (DURABLE_TYPES.has(m.body.type)) {
    // The table decides; the LRU only remembers what the table granted. (Remembering before
    // the put would let a refused replay, racing SQS's redelivery of a killed handler's
    // message, shut that redelivery out of this process.) Two deliveries in one batch both
    // reach the conditional put, and only one wins it.
    try {
      await ctx.store.claimPeerMessage(
        { peer: m.from, id: m.id, delivery: d, type: m.body.type, until: m.validUntil },
        now,
      );
    } catch (err) {
      if (err instanceof ConflictError) throw replayed(m, "the site table", err);
      // Unknown outcome (throttled, network): the delivery fails and SQS retries it, and the
      // same delivery may claim again, so nothing is lost and nothing is applied twice.
      throw err;
    }
  }
  // Synchronous check-and-set (no await since the check): two deliveries in one batch, handled
  // concurrently, cannot both pass.
  const again = seen.get(key);
  if (again && again.until >= now && again.delivery !== d) throw replayed(m, "this process");
  seen.delete(key);
  seen.set(key, { delivery: d, until: m.validUntil });
  prune(now);
}

function replayed(m: OpenedPeerMessage, where: string, cause?: unknown): PeerMessageError {
  return new PeerMessageError(
    "replayed",
    `${m.body.type} ${m.id} from ${m.from} was already taken (${where}): a replay`,
    { cause },
  );
}

/** Drop expired entries from the old end, and the oldest beyond the cap. */
function prune(now: number): void {
  for (const [k, v] of seen) {
    if (seen.size <= SEEN_LRU_MAX && v.until >= now) break;
    seen.delete(k);
  }
}
