/**
 * What every server operation runs with: one site's store, queues, executor and clock.
 * Lambda builds it from validated environment variables (lambdas/env.ts); the local runtime
 * builds one per configured site. Nothing here knows which.
 */
import type { SQSClient } from "@aws-sdk/client-sqs";
import { randomUUID } from "node:crypto";
import { type PeerBody, sealPeerMessage } from "../peers/messages.js";
import { sendMessages } from "../store/send-messages.js";
import type { Clock, Executor } from "../ports/index.js";
import type { SiteStore } from "../ports/store.js";
import { type ServerState, toServerState } from "./objects.js";

export interface SiteIdentity {
  /** PBS server name: casper-pbs */
  server: string;
  /** short name used in job IDs: casper */
  short: string;
}

export interface SiteSettings {
  /** seconds between SIGTERM and SIGKILL (PBS kill_delay) */
  killDelay: number;
  /** a MOM whose heartbeat is older than this is considered dead (ms) */
  momStaleMs: number;
  /** grace after dispatch before a job unknown to a live MOM is considered lost (ms) */
  dispatchGraceMs: number;
  /** candidates the scheduler reads per queue per cycle */
  cycleCandidates: number;
  /** largest script accepted, bytes */
  maxScriptBytes: number;
  /**
   * largest job accepted at submit (or after qalter), bytes as the store counts its item: well
   * under DynamoDB's 400 KB so the job can still grow (trace lines, comment, resources_used,
   * exec_host) for the rest of its life
   */
  maxJobBytes: number;
  /** a transfer not accepted by then returns to the queue (ms); the receiver refuses it after */
  transferTimeoutMs: number;
  /** re-send an unanswered transfer step after this long (ms) */
  transferResendMs: number;
  /** at most one OFFER per pull directive this often (ms) */
  offerIntervalMs: number;
  /** a peer silent for this long is shown as disconnected (ms) */
  peerStaleMs: number;
  /**
   * A peer message sent longer ago than this is refused as stale (ms). It must exceed how long
   * SQS can legitimately hold one: the inbox's visibility (60 s) x maxReceiveCount (5) plus
   * batching, plus the clock skew between sites. Replay records are kept this long.
   */
  peerMessageMaxAgeMs: number;
  /** the same for messages nobody re-sends (DEPEND_*, JOB_OP: see UNREPEATED_TYPES), ms */
  peerCommandMaxAgeMs: number;
  /** how far ahead of this site's clock a peer message's send time may be (ms) */
  peerClockSkewMs: number;
  /**
   * the repair sweep (shared/server/repair.ts) runs at most this often from the sweeper tick,
   * and at the first tick of a process (ms)
   */
  repairIntervalMs: number;
  /**
   * a MOM report (obituary, hello) signed further than this from now is refused as stale (ms).
   * Longer than SQS may redeliver an events message (visibility 60 s x maxReceiveCount 5).
   */
  momReportWindowMs: number;
}

export const DEFAULT_SETTINGS: SiteSettings = {
  killDelay: 10,
  momStaleMs: 30_000,
  dispatchGraceMs: 60_000,
  cycleCandidates: 200,
  maxScriptBytes: 256 * 1024,
  maxJobBytes: 300 * 1024,
  transferTimeoutMs: 60_000,
  transferResendMs: 10_000,
  offerIntervalMs: 500,
  peerStaleMs: 90_000,
  peerMessageMaxAgeMs: 10 * 60_000,
  // SQS's default retention (4 days): a command waiting in an inbox nobody read is still applied
  peerCommandMaxAgeMs: 4 * 24 * 3600_000,
  peerClockSkewMs: 60_000,
  repairIntervalMs: 60_000,
  momReportWindowMs: 15 * 60_000,
};

/** Another site this one exchanges messages with. */
export interface PeerInfo {
  server: string;
  short: string;
  /** the peer's inbound queue */
  inboxUrl: string;
  /** shared secret for signing messages between this site and that peer */
  secret: string;
  /** pull directives: this site takes queued jobs of the peer's `queue` into its own `into` */
  pull?: { queue: string; into: string }[];
  /**
   * The acid mapper for jobs coming from this peer: its account (project) and user names to
   * ours. With a map present, a name not in it is refused; without one, names pass unchanged.
   */
  accounts?: Record<string, string>;
  users?: Record<string, string>;
  /** the peer's HTTP API base URL, when known (the dashboard reads every site through it) */
  apiUrl?: string;
}

export interface SiteContext {
  site: SiteIdentity;
  /** configured peers by short name (empty for a site on its own) */
  peers?: Map<string, PeerInfo>;
  store: SiteStore;
  sqs: SQSClient;
  queueUrls: { sched: string; events: string };
  executor: Executor;
  clock: Clock;
  settings: SiteSettings;
  log: Pick<Console, "info" | "warn" | "error" | "debug">;
  /**
   * Who is asking, for the API (shared/api/identity.ts): the authorizer's claims on AWS, the
   * credential registry locally. Absent: every API request is refused.
   */
  authenticate?: import("../api/identity.js").Authenticator;
  /** reads job output with the job owner's rights (local runtime); absent: the API answers 501 */
  output?: import("../ports/index.js").OutputReader;
  /** CloudWatch EMF on Lambda, counters locally; absent = not measured */
  metrics?: import("../observability/metrics.js").MetricsPort;
  /**
   * The site's MOM secret: each MOM's key is derived from it (shared/auth/mom-report.ts).
   * Absent: every MOM report is refused as forged.
   */
  momSecret?: string;
  /**
   * When this server process came up (the local runtime): heartbeats are judged stale only
   * momStaleMs after it, so MOMs restarted with the runtime have time to say hello first.
   */
  upSince?: number;
  /**
   * When this site's process last sent each paced peer message (resends, offers, heartbeats):
   * made with the context, so it lives as long as the process. Absent: nothing is paced.
   */
  pacing?: import("../peers/pacing.js").PeerPacing;
}

/**
 * Server objects change rarely (qmgr) and are read by every submit and every cycle, so each
 * process keeps them for SERVER_STATE_TTL_MS: a qmgr change made through another process
 * (another Lambda instance) takes effect within that time; one made here, at once.
 * Measured with `npm run bench`: one read request less per job.
 */
export const SERVER_STATE_TTL_MS = 1000;
const stateCache = new WeakMap<object, { at: number; value: Promise<ServerState> }>();

export async function loadServerState(ctx: SiteContext): Promise<ServerState> {
  const now = Date.now();
  const hit = stateCache.get(ctx.store);
  if (hit && now - hit.at < SERVER_STATE_TTL_MS) return hit.value;
  const value = ctx.store.getServerObjects().then(toServerState);
  stateCache.set(ctx.store, { at: now, value });
  value.catch(() => stateCache.delete(ctx.store));
  return value;
}

/** Forget cached server objects (after this process changed them). */
export function invalidateServerState(ctx: SiteContext): void {
  stateCache.delete(ctx.store);
}

/** The peer a server or short name means, if any. */
export function findPeer(ctx: SiteContext, name: string | undefined): PeerInfo | undefined {
  if (!name || !ctx.peers) return undefined;
  for (const p of ctx.peers.values()) if (p.short === name || p.server === name) return p;
  return undefined;
}

/** Whether a server name or short name means this site. */
export function isThisSite(ctx: SiteContext, name: string | undefined): boolean {
  return !name || name === ctx.site.server || name === ctx.site.short;
}

// ---------- messages ----------

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
  await sendMessages(ctx.sqs, ctx.queueUrls.sched, messages, "scheduler cycles");
}

const seal = (ctx: SiteContext, peer: PeerInfo, body: PeerBody) =>
  sealPeerMessage(ctx.site.short, peer.short, peer.secret, body, ctx.clock.now());

export async function sendToPeer(ctx: SiteContext, peer: PeerInfo, body: PeerBody): Promise<void> {
  await sendToPeerBatch(ctx, peer, [body]);
}

/** Several messages to one peer, ten per SendMessageBatch. */
export async function sendToPeerBatch(ctx: SiteContext, peer: PeerInfo, bodies: PeerBody[]): Promise<void> {
  const messages = bodies.map((b) => ({ body: seal(ctx, peer, b) }));
  await sendMessages(ctx.sqs, peer.inboxUrl, messages, `messages to ${peer.short}`);
}

export async function sendEvents(ctx: SiteContext, events: SiteEvent[]): Promise<void> {
  const messages = events.map((e) => ({ body: JSON.stringify(e) }));
  await sendMessages(ctx.sqs, ctx.queueUrls.events, messages, "events");
}
