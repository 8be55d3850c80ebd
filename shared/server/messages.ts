/**
 * What the server sends, over the site's message bus (ctx.bus): cycle triggers to its
 * scheduler queue, events to its events queue, sealed messages to a peer's inbox.
 */
import { randomUUID } from "node:crypto";
import { type PeerBody, sealPeerMessage } from "../peers/messages.js";
import type { PeerInfo, SiteContext } from "./context.js";
import { ensureAwake } from "./dormancy.js";

/** Messages on the scheduler FIFO queue: a request for one cycle of one partition. */
export interface CycleTrigger {
  type: "cycle";
  partition: string;
  reason: string;
  /** the cycle offers its room to the peers even within the offer interval (EndResult.offer) */
  offer?: true;
}

/** What the server itself puts on the events queue (MOMs send signed reports: shared/auth/mom-report.ts). */
export type SiteEvent = { type: "ended"; jobKey: string } | { type: "started"; jobKey: string };

/**
 * Ask for a scheduler cycle. FIFO group = partition, so at most one cycle per partition runs at
 * a time (the group is locked while a batch is in flight) while partitions run in parallel.
 */
export function triggerCycles(
  ctx: SiteContext,
  partitions: Iterable<string>,
  reason: string,
  offer: Iterable<string> = [],
): Promise<void> {
  const offering = new Set(offer);
  // A trigger is work: a sleeping site's intake is resumed before it is sent (dormancy.ts).
  // Without an intake switch, or with `awake` cached, the batching below is not delayed past
  // this turn of the event loop.
  if (!ctx.intake) return gatherTriggers(ctx, partitions, reason, offering);
  const parts = [...partitions];
  // no partition, no work (the idle tick asks for none)
  if (parts.length === 0) return gatherTriggers(ctx, parts, reason, offering);
  return ensureAwake(ctx).then(() => gatherTriggers(ctx, parts, reason, offering));
}

function gatherTriggers(
  ctx: SiteContext,
  partitions: Iterable<string>,
  reason: string,
  offer: Set<string>,
): Promise<void> {
  // Triggers asked for in one turn of the event loop go as one message per partition: the
  // submissions of one group commit all land together and each asks for a cycle of the same
  // partition, and one cycle that starts after all of their writes sees every one of them.
  // While one batch is being sent, later triggers gather into the next, sent when it is on the
  // queue (group commit again, issue 14: 16 clients submitting one job each asked for a
  // message almost per job). Each caller still resolves only once a message sent after its
  // call is on the queue, so a cycle that it triggers starts after its write; an idle site's
  // trigger waits for nothing.
  let byUrl = pendingTriggers.get(ctx.bus);
  if (!byUrl) {
    byUrl = new Map();
    pendingTriggers.set(ctx.bus, byUrl);
  }
  const url = ctx.queueUrls.sched;
  let q = byUrl.get(url);
  if (!q) {
    q = { inFlight: Promise.resolve() };
    byUrl.set(url, q);
  }
  let p = q.next;
  if (!p) {
    const batch: PendingTriggers = { partitions: new Map(), offer: new Set(), sent: Promise.resolve() };
    const state = q;
    batch.sent = state.inFlight
      .then(() => new Promise<void>((r) => setImmediate(r)))
      .then(() => {
        // from now on, a new trigger starts the next batch, sent after this one
        if (state.next === batch) state.next = undefined;
        const messages = [...batch.partitions].map(([partition, why]) => ({
          body: JSON.stringify({
            type: "cycle",
            partition,
            reason: why,
            ...(batch.offer.has(partition) && { offer: true as const }),
          } satisfies CycleTrigger),
          groupId: partition,
          dedupId: randomUUID(),
        }));
        const sending = ctx.bus.send(url, messages, "scheduler cycles");
        // the next batch waits for this send, whatever its outcome (its callers see that)
        state.inFlight = sending.then(
          () => undefined,
          () => undefined,
        );
        return sending;
      });
    q.next = batch;
    p = batch;
  }
  for (const part of partitions) if (!p.partitions.has(part)) p.partitions.set(part, reason);
  for (const part of offer) p.offer.add(part);
  return p.sent;
}

/** Cycle triggers gathered for the next send: partition → the first reason; those to offer. */
interface PendingTriggers {
  partitions: Map<string, string>;
  offer: Set<string>;
  sent: Promise<void>;
}
/** Per scheduler queue: the batch still gathering, and the send the next batch waits for. */
interface QueueTriggers {
  next?: PendingTriggers;
  inFlight: Promise<void>;
}
const pendingTriggers = new WeakMap<object, Map<string, QueueTriggers>>();

const seal = (ctx: SiteContext, peer: PeerInfo, body: PeerBody) =>
  sealPeerMessage(ctx.site.short, peer.short, peer.secret, body, ctx.clock.now());

/**
 * One message to a peer. `delaySeconds`: the peer's inbox (a standard queue) hands it out only
 * that much later (a BACKLOG deferred past the pacing interval: peers/offers.ts).
 */
export async function sendToPeer(
  ctx: SiteContext,
  peer: PeerInfo,
  body: PeerBody,
  opts: { delaySeconds?: number } = {},
): Promise<void> {
  await sendToPeerBatch(ctx, peer, [body], opts);
}

/** Several messages to one peer, in as few requests as the bus allows. */
export async function sendToPeerBatch(
  ctx: SiteContext,
  peer: PeerInfo,
  bodies: PeerBody[],
  opts: { delaySeconds?: number } = {},
): Promise<void> {
  const delay = opts.delaySeconds ? { delaySeconds: opts.delaySeconds } : {};
  const messages = bodies.map((b) => ({ body: seal(ctx, peer, b), ...delay }));
  await ctx.bus.send(peer.inboxUrl, messages, `messages to ${peer.short}`);
}

export async function sendEvents(ctx: SiteContext, events: SiteEvent[]): Promise<void> {
  const messages = events.map((e) => ({ body: JSON.stringify(e) }));
  await ctx.bus.send(ctx.queueUrls.events, messages, "events");
}
