/**
 * A federation in memory for protocol tests: each site runs the REAL inbox handlers and
 * transfer sweep over the product's in-memory store adapter, which the store contract suite
 * holds to DynamoDB's behaviour (ver-guarded updates, create-if-absent, transactions, index
 * orders and projections), and the sites talk over a network that drops, duplicates, reorders
 * and delays messages, and crashes handlers between their writes and their sends. Only the wire
 * is a fake; the protocol code and the store adapter are the product's.
 */
import {
  MemorySiteStore,
  storedAcct,
  storedClaims,
  storedJobs,
  storedPeers,
  storedProjects,
} from "../../../shared/adapters/memory/index.js";
import { ConflictError } from "../../../shared/errors.js";
import { handlePeerMessage } from "../../../shared/peers/inbox.js";
import { type PeerBody, PeerMessageError, sealPeerMessage } from "../../../shared/peers/messages.js";
import { MemoryMetrics } from "../../../shared/observability/metrics.js";
import { sweepTransfers } from "../../../shared/peers/outbox.js";
import { PeerPacing } from "../../../shared/peers/pacing.js";
import { parseConfig } from "../../../shared/config/site-config.js";
import type { PeerInfo, SiteContext } from "../../../shared/server/context.js";
import { DEFAULT_SETTINGS } from "../../../shared/server/settings.js";
import type { JobRecord } from "../../../shared/server/job.js";
import { releaseDependents } from "../../../shared/server/job-end.js";
import { siteObjects } from "../../../shared/server/seed.js";
import type { MessageBus } from "../../../shared/ports/bus.js";
import type { AcctRecord, PeerSeen, ProjectRecord } from "../../../shared/server/records.js";

/**
 * A site's store: the product's in-memory adapter (shared/adapters/memory), which the store
 * contract suite holds to DynamoDB's behaviour, with synchronous views of what it holds for the
 * tests' checks (copies, read fresh on each access). Its `yields` hook makes each store call
 * yield microtasks first, so concurrent handlers interleave at their I/O as on DynamoDB while
 * each call's check-and-write stays atomic.
 */
export class SimStore extends MemorySiteStore {
  /** jobs by key */
  get jobs(): Map<string, JobRecord> {
    return new Map(storedJobs(this).map((j) => [j.key, j]));
  }
  get acct(): AcctRecord[] {
    return storedAcct(this);
  }
  /** projects by account */
  get projects(): Map<string, ProjectRecord> {
    return new Map(storedProjects(this).map((p) => [p.account, p]));
  }
  /** what this site last heard from each peer */
  get peers(): Map<string, PeerSeen> {
    return new Map(storedPeers(this).map((p) => [p.short, p]));
  }
  /** the replay guard's records: "peer/id" -> the delivery that took it, until when (epoch s) */
  get claims(): Map<string, { delivery: string; expiresAt: number }> {
    return new Map(
      storedClaims(this).map((c) => [`${c.peer}/${c.id}`, { delivery: c.delivery, expiresAt: c.expiresAt }]),
    );
  }
}

export interface Wire {
  to: string;
  body: string;
  /**
   * The queue's ID for this message (SQS MessageId), given when it is sent or first delivered:
   * a redelivery or a duplicate of the same queue message keeps it (the receiver processes it
   * again), while a replay is a new queue message with a new one (the receiver refuses it).
   */
  qid?: string;
}

/** What a message says, for the test's bookkeeping (the sites themselves verify and parse). */
export function bodyOf(w: Wire): PeerBody {
  return JSON.parse((JSON.parse(w.body) as { body: string }).body) as PeerBody;
}

let nextQid = 0;

/** The wire: messages sent and not yet delivered, and ones held back to arrive much later. */
export class Network {
  inflight: Wire[] = [];
  held: Wire[] = [];
  /** messages the receiver refused (stale, replayed), with the reason */
  refused: { wire: Wire; reason: string }[] = [];
  /** the origin's decisions delivered, by transfer: COMMIT and/or ABORT */
  decisions = new Map<string, Set<string>>();
}

/**
 * The origin decides exactly one of COMMIT or ABORT for a transfer. Checked on the wire, not
 * only by its effect on copies: a receiver keys a job by its origin's ID (one copy per job at a
 * site), so a COMMIT of an earlier, aborted transfer finds no held copy of its own to run there,
 * yet it contradicts the origin's ABORT all the same (with more peers, it would run one).
 */
function noticeDecision(net: Network, body: PeerBody): void {
  if (body.type !== "COMMIT" && body.type !== "ABORT") return;
  const seen = net.decisions.get(body.transferId) ?? new Set<string>();
  seen.add(body.type);
  net.decisions.set(body.transferId, seen);
  if (seen.size > 1) throw new Error(`transfer ${body.transferId} was both committed and aborted`);
}

export interface SimSite {
  name: string;
  ctx: SiteContext;
  store: SimStore;
  metrics: MemoryMetrics;
}

/**
 * The message bus of one handler invocation: what it sends to a peer's inbox lands in `out`, not
 * yet on the wire (cycle triggers and events, to the site's own queues, are not simulated).
 */
function busInto(out: Wire[]): MessageBus {
  return {
    send: async (address, messages) => {
      if (!address.startsWith("mem://")) return;
      for (const m of messages) out.push({ to: address.slice(6), body: m.body, qid: `q${++nextQid}` });
    },
  };
}

/**
 * The site's context for one handler invocation, whose sends go to `out`: the caller decides
 * whether they reach the wire (a crash between the writes and the sends loses them). Each of two
 * concurrent handlers has its own.
 */
export function callCtx(site: SimSite, out: Wire[]): SiteContext {
  return { ...site.ctx, bus: busInto(out) };
}

/** Parsed once per process: every federation starts from the same configuration. */
let config: ReturnType<typeof parseConfig> | undefined;

/** Two sites, casper (origin) and derecho (receiver, maps account P1 to D1). */
export function makeFederation(clock: { t: number }, net: Network): SimSite[] {
  config ??= parseConfig({
    sites: [
      {
        name: "casper",
        server: "casper-pbs",
        queues: [{ name: "casper" }],
        nodes: [{ name: "c1", ncpus: 1, mem: "4gb" }],
      },
      {
        name: "derecho",
        server: "desched1",
        queues: [{ name: "main" }],
        nodes: [{ name: "d1", ncpus: 64, mem: "256gb" }],
      },
    ],
  });
  const cfg = config;
  const sites: SimSite[] = [];
  for (const sc of cfg.sites) {
    const store = new SimStore({ objects: siteObjects(sc, "root").map((o) => ({ ...o, ver: 0 })) });
    const peers = new Map<string, PeerInfo>();
    for (const o of cfg.sites) {
      if (o.name === sc.name) continue;
      peers.set(o.name, {
        server: o.server,
        short: o.name,
        inboxUrl: `mem://${o.name}`,
        secret: "s3cret",
        accounts: sc.name === "derecho" ? { P1: "D1" } : undefined,
      });
    }
    const metrics = new MemoryMetrics();
    const ctx: SiteContext = {
      site: { server: sc.server, short: sc.name },
      store,
      bus: busInto(net.inflight),
      queueUrls: { sched: "sched", events: "events" },
      executor: {
        momIdFor: () => "m",
        dispatch: async () => {},
        kill: async () => {},
        signal: async () => {},
      },
      clock: {
        now: () => clock.t,
        sleep: async (ms: number) => {
          clock.t += ms;
        },
      },
      settings: { ...DEFAULT_SETTINGS, transferTimeoutMs: TRANSFER_TIMEOUT_MS, transferResendMs: RESEND_MS },
      log: { info() {}, warn() {}, error() {}, debug() {} },
      peers,
      metrics,
      pacing: new PeerPacing(),
    };
    sites.push({ name: sc.name, ctx, store, metrics });
  }
  return sites;
}

/** The simulated sites' transfer timeout and first resend interval. */
export const TRANSFER_TIMEOUT_MS = 10_000;
export const RESEND_MS = 1_000;

export interface Delivered {
  body: PeerBody;
  /** the handler threw a conflict (gave up): nothing was acknowledged, SQS delivers it again */
  failed: boolean;
  /** what the handler sent (put on the wire unless it crashed) */
  sent: Wire[];
  /** the inbox refused it (stale, replayed): dropped, nothing applied */
  refused?: string;
}

/**
 * Deliver one message; a crash loses the handler's sends and redelivers the message later.
 * `onto` is where the sends go (the wire, unless the caller wants to hold them).
 */
export async function deliver(
  sites: SimSite[],
  net: Network,
  w: Wire,
  crash: boolean,
  onto: Wire[] = net.inflight,
): Promise<Delivered> {
  const site = sites.find((s) => s.name === w.to);
  if (!site) throw new Error(`no site ${w.to}`);
  const sent: Wire[] = [];
  const ctx = callCtx(site, sent);
  let failed = false;
  w.qid ??= `q${++nextQid}`;
  noticeDecision(net, bodyOf(w));
  try {
    const r = await handlePeerMessage(ctx, w.body, w.qid);
    for (const k of r.ended) await releaseDependents(ctx, k);
  } catch (err) {
    if (err instanceof PeerMessageError) {
      // refused (a replay: another queue message with an ID already taken; stale): the inbox
      // handler counts it and deletes it from the queue, and nothing it would send is sent
      net.refused.push({ wire: w, reason: err.reason });
      return { body: bodyOf(w), failed: false, sent: [], refused: err.reason };
    }
    if (!(err instanceof ConflictError)) throw err;
    failed = true;
  }
  if (crash || failed)
    net.inflight.push(w); // not deleted from the queue: SQS delivers it again
  else onto.push(...sent);
  return { body: bodyOf(w), failed, sent };
}

export async function sweep(site: SimSite, net: Network, crash: boolean): Promise<Wire[]> {
  const sent: Wire[] = [];
  await sweepTransfers(callCtx(site, sent));
  if (!crash) net.inflight.push(...sent);
  return sent;
}

/**
 * The receiver runs a committed job to its end (what the scheduler and MOM would do): one
 * conditional write from Q, so of two attempts at once only one runs it. True when it ran.
 */
export async function runToEnd(
  site: SimSite,
  net: Network,
  key: string,
  walltime: number,
  crash = false,
): Promise<boolean> {
  const j = await site.store.getJob(key);
  if (j?.state !== "Q") return false;
  const now = site.ctx.clock.now();
  const used = { walltime, cput: walltime, mem: 1024, ncpus: Number(j.rl.ncpus) || 1 };
  try {
    await site.store.updateJob(
      j,
      { ...j, state: "F", stime: now - walltime * 1000, obittime: now, exitStatus: 0, used },
      undefined,
      j.account
        ? {
            account: j.account,
            where: `for_${j.inbound?.from}`,
            coreSeconds: walltime * used.ncpus,
            walltime,
          }
        : undefined,
    );
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    return false;
  }
  const sent: Wire[] = [];
  await releaseDependents(callCtx(site, sent), key);
  if (!crash) net.inflight.push(...sent);
  return true;
}

/** derecho's OFFER of one 64-core node into casper's `main`, put in flight to casper. */
export function offerToCasper(net: Network, offerId: string, maxJobs: number, now: number): void {
  net.inflight.push({
    to: "casper",
    body: sealPeerMessage(
      "derecho",
      "casper",
      "s3cret",
      {
        type: "OFFER",
        offerId,
        queue: "casper",
        into: "main",
        nodes: [{ ncpus: 64, mem: 2 ** 38, ngpus: 0 }],
        maxJobs,
      },
      now,
    ),
  });
}
