/**
 * What the server sends, over the site's message bus (ctx.bus): cycle triggers to its
 * scheduler queue, events to its events queue, sealed messages to a peer's inbox.
 */
import { randomUUID } from "node:crypto";
import { type PeerBody, sealPeerMessage } from "../peers/messages.js";
import type { PeerInfo, SiteContext } from "./context.js";

/** Messages on the scheduler FIFO queue: a request for one cycle of one partition. */
export interface CycleTrigger {
  type: "cycle";
  partition: string;
  reason: string;
}

/** What the server itself puts on the events queue (MOMs send signed reports: shared/auth/mom-report.ts). */
export type SiteEvent = { type: "ended"; jobKey: string } | { type: "started"; jobKey: string };

/**
 * Ask for a scheduler cycle. FIFO group = partition, so at most one cycle per partition runs at
 * a time (the group is locked while a batch is in flight) while partitions run in parallel.
 */
export async function triggerCycles(
  ctx: SiteContext,
  partitions: Iterable<string>,
  reason: string,
): Promise<void> {
  const messages = [...new Set(partitions)].map((p) => ({
    body: JSON.stringify({ type: "cycle", partition: p, reason } satisfies CycleTrigger),
    groupId: p,
    dedupId: randomUUID(),
  }));
  await ctx.bus.send(ctx.queueUrls.sched, messages, "scheduler cycles");
}

const seal = (ctx: SiteContext, peer: PeerInfo, body: PeerBody) =>
  sealPeerMessage(ctx.site.short, peer.short, peer.secret, body, ctx.clock.now());

export async function sendToPeer(ctx: SiteContext, peer: PeerInfo, body: PeerBody): Promise<void> {
  await sendToPeerBatch(ctx, peer, [body]);
}

/** Several messages to one peer, in as few requests as the bus allows. */
export async function sendToPeerBatch(ctx: SiteContext, peer: PeerInfo, bodies: PeerBody[]): Promise<void> {
  const messages = bodies.map((b) => ({ body: seal(ctx, peer, b) }));
  await ctx.bus.send(peer.inboxUrl, messages, `messages to ${peer.short}`);
}

export async function sendEvents(ctx: SiteContext, events: SiteEvent[]): Promise<void> {
  const messages = events.map((e) => ({ body: JSON.stringify(e) }));
  await ctx.bus.send(ctx.queueUrls.events, messages, "events");
}
