/**
 * Peer health: each site tells its peers its federation state (HEARTBEAT) a few times per stale
 * period; what a site last heard from a peer, and when, is how people see that peer.
 */
import type { SiteContext } from "../server/context.js";
import { sendToPeer } from "../server/messages.js";
import { loadServerState } from "../server/server-state.js";
import { federationState } from "../server/objects.js";
import { pacingOf } from "./pacing.js";

/**
 * Send our federation state to every peer: the health signal. Six per stale period, so one lost
 * beat never shows a peer as disconnected.
 */
export async function sendHeartbeats(ctx: SiteContext): Promise<void> {
  if (!ctx.peers?.size) return;
  const now = ctx.clock.now();
  const state = federationState(await loadServerState(ctx));
  const { lastBeat } = pacingOf(ctx);
  const k = state;
  if (now - (lastBeat.get(k) ?? 0) < ctx.settings.peerStaleMs / 6) return;
  lastBeat.set(k, now);
  for (const peer of ctx.peers.values()) await sendToPeer(ctx, peer, { type: "HEARTBEAT", state });
}

/** A peer's health as shown to people: connected, draining, down, or disconnected (silent). */
export function peerHealth(
  seen: { state: string; at: number } | undefined,
  now: number,
  staleMs: number,
): "connected" | "draining" | "down" | "disconnected" {
  if (!seen || now - seen.at > staleMs) return "disconnected";
  if (seen.state === "draining" || seen.state === "down") return seen.state;
  return "connected";
}
