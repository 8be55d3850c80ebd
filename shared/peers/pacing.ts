/**
 * When this process last sent what it paces (resends, offers, backlog notices, heartbeats). It
 * belongs to one site's context (`SiteContext.pacing`), made with it and living as long: a Lambda
 * container or a local site process. Several sites in one process (the protocol simulator, the
 * local runtime) each have their own, and a test starts from a fresh one.
 */
export class PeerPacing {
  /** transfer resends per job key: how many, and the last one (outbox.ts) */
  readonly resends = new Map<string, { n: number; at: number }>();
  /** last OFFER per peer/queue/into (offers.ts) */
  readonly lastOffer = new Map<string, number>();
  /** last BACKLOG per peer (offers.ts) */
  readonly lastBacklog = new Map<string, number>();
  /** the BACKLOG per peer sent with a delay: when its peer gets it, and for which queues (offers.ts) */
  readonly deferredBacklog = new Map<string, { at: number; queues: Set<string> }>();
  /** last heartbeat round per federation state (peer-health.ts) */
  readonly lastBeat = new Map<string, number>();
}

/**
 * The context's pacing. A context made without one (a unit test's) paces nothing: every call
 * sends, as a new process would.
 */
export function pacingOf(ctx: { pacing?: PeerPacing }): PeerPacing {
  return ctx.pacing ?? new PeerPacing();
}
