/**
 * A federation in memory for protocol tests: each site runs the REAL inbox handlers and
 * transfer sweep over an in-memory store with the same conditional semantics as DynamoDB
 * (ver-guarded updates, create-if-absent, transactions), and the sites talk over a network
 * that drops, duplicates, reorders and delays messages, and crashes handlers between their
 * writes and their sends. Only the storage and the wire are fakes; the protocol code is not.
 */
import { ConflictError } from "../../../shared/errors.js";
import { checkCreatedIn, checkTransition } from "../../../shared/pbs/states.js";
import { handlePeerMessage } from "../../../shared/peers/inbox.js";
import { type PeerBody, PeerMessageError } from "../../../shared/peers/messages.js";
import { MemoryMetrics } from "../../../shared/observability/metrics.js";
import { sweepTransfers } from "../../../shared/peers/transfer.js";
import { parseConfig } from "../../../shared/config/site-config.js";
import type { PeerInfo, SiteContext } from "../../../shared/server/context.js";
import { DEFAULT_SETTINGS } from "../../../shared/server/settings.js";
import { indexAttrs } from "../../../shared/adapters/dynamodb/indexes.js";
import { type JobRecord, transferPending } from "../../../shared/server/job.js";
import { releaseDependents } from "../../../shared/server/job-end.js";
import { siteObjects } from "../../../shared/server/seed.js";
import type { MessageBus } from "../../../shared/ports/bus.js";
import type { SiteStore } from "../../../shared/ports/store.js";
import type {
  AcctRecord,
  EdgeRecord,
  PeerMessageClaim,
  PeerSeen,
  ProjectRecord,
  ServerObject,
  TransferRecord,
  UsageCharge,
} from "../../../shared/server/records.js";

const clone = <T>(v: T): T => structuredClone(v);

/** The subset of SiteStore the protocol uses, in memory, with DynamoDB's guarantees. */
export class MemStore {
  jobs = new Map<string, JobRecord>();
  xfers = new Map<string, TransferRecord>();
  projects = new Map<string, ProjectRecord>();
  acct: AcctRecord[] = [];
  peers = new Map<string, PeerSeen>();
  seq = 0;
  /**
   * How many microtasks a store call yields before it acts, or none. A DynamoDB call is I/O:
   * two handlers running at once interleave there, and the order of their conditional writes
   * is what the protocol must survive. The check and the write of one call stay atomic, as
   * DynamoDB's are.
   */
  yields: (() => number) | undefined;
  constructor(readonly objects: ServerObject[]) {}
  private async io() {
    const n = this.yields?.() ?? 0;
    for (let i = 0; i < n; i++) await undefined;
  }

  async getServerObjects() {
    await this.io();
    return clone(this.objects);
  }
  async reserveSeq(n: number) {
    await this.io();
    this.seq += n;
    return this.seq - n + 1;
  }
  async getJob(key: string) {
    await this.io();
    const j = this.jobs.get(key);
    return j ? clone(j) : undefined;
  }
  async getJobs(keys: string[]) {
    await this.io();
    const out = new Map<string, JobRecord>();
    for (const k of keys) {
      const j = this.jobs.get(k);
      if (j) out.set(k, clone(j));
    }
    return out;
  }
  async getJobWithEdges(key: string): Promise<{ job?: JobRecord; edges: EdgeRecord[] }> {
    return { job: await this.getJob(key), edges: [] };
  }
  async createJob(job: JobRecord) {
    // the same state-table checks as the real store (shared/adapters/dynamodb/)
    checkCreatedIn(job.id, job.state);
    await this.io();
    if (this.jobs.has(job.key)) throw new ConflictError(`job ${job.id} already exists`);
    this.jobs.set(job.key, clone(job));
  }
  async updateJob(before: JobRecord, after: JobRecord, acct?: AcctRecord, charge?: UsageCharge) {
    checkTransition(before.id, before.state, after.state);
    await this.io();
    const cur = this.jobs.get(before.key);
    if (!cur || cur.ver !== before.ver) throw new ConflictError(`job ${before.id} changed concurrently`);
    const next = { ...clone(after), ver: before.ver + 1 };
    this.jobs.set(before.key, next);
    if (acct) this.acct.push(clone(acct));
    if (charge) this.charge(charge);
    return clone(next);
  }
  charge(c: UsageCharge) {
    const p = this.projects.get(c.account) ?? { account: c.account, coreSeconds: {}, walltime: {} };
    p.coreSeconds[c.where] = (p.coreSeconds[c.where] ?? 0) + c.coreSeconds;
    p.walltime[c.where] = (p.walltime[c.where] ?? 0) + c.walltime;
    this.projects.set(c.account, p);
  }
  async chargeUsage(c: UsageCharge) {
    await this.io();
    this.charge(c);
  }
  async queryReady(queue: string, limit: number) {
    await this.io();
    return [...this.jobs.values()]
      .filter((j) => indexAttrs(j).rdy && j.queue === queue)
      .sort((a, b) => ((indexAttrs(a).rdySk ?? "") < (indexAttrs(b).rdySk ?? "") ? -1 : 1))
      .slice(0, limit)
      .map(clone);
  }
  async queryRunning(partition: string) {
    await this.io();
    return [...this.jobs.values()].filter((j) => indexAttrs(j).run === partition).map(clone);
  }
  async queryTransfers() {
    await this.io();
    return [...this.jobs.values()].filter((j) => transferPending(j)).map(clone);
  }
  async getTransfer(id: string) {
    await this.io();
    const t = this.xfers.get(id);
    return t ? clone(t) : undefined;
  }
  async createInbound(job: JobRecord, transferId: string) {
    checkCreatedIn(job.id, job.state);
    await this.io();
    if (this.xfers.has(transferId) || this.jobs.has(job.key))
      throw new ConflictError(`transfer ${transferId} already known`);
    this.xfers.set(transferId, { transferId, status: "created", key: job.key, newId: job.id });
    this.jobs.set(job.key, clone(job));
  }
  async abortInbound(transferId: string, job?: JobRecord) {
    await this.io();
    if (!job && this.xfers.has(transferId)) throw new ConflictError("known");
    if (job) {
      const cur = this.jobs.get(job.key);
      if (!cur || cur.ver !== job.ver || cur.state !== "T") throw new ConflictError("changed");
      this.jobs.delete(job.key);
    }
    this.xfers.set(transferId, { transferId, status: "aborted", key: job?.key, newId: job?.id });
  }
  /** the replay guard's records: (peer, id) -> the delivery that took it, until when */
  claims = new Map<string, { delivery: string; until: number }>();
  async claimPeerMessage(c: PeerMessageClaim, now: number) {
    await this.io();
    const k = `${c.peer}/${c.id}`;
    const cur = this.claims.get(k);
    if (cur && cur.delivery !== c.delivery && cur.until >= now) throw new ConflictError(`${k} taken`);
    this.claims.set(k, { delivery: c.delivery, until: c.until });
  }
  async putPeerSeen(p: PeerSeen) {
    await this.io();
    this.peers.set(p.short, p);
  }
  async putAcct(r: AcctRecord) {
    await this.io();
    this.acct.push(r);
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
}

export interface SimSite {
  name: string;
  ctx: SiteContext;
  store: MemStore;
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
    const store = new MemStore(siteObjects(sc, "root").map((o) => ({ ...o, ver: 0 })));
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
      store: store as unknown as SiteStore,
      bus: busInto(net.inflight),
      queueUrls: { sched: "sched", events: "events" },
      executor: {
        momIdFor: () => "m",
        dispatch: async () => {},
        kill: async () => {},
      },
      clock: { now: () => clock.t },
      settings: { ...DEFAULT_SETTINGS, transferTimeoutMs: TRANSFER_TIMEOUT_MS, transferResendMs: RESEND_MS },
      log: { info() {}, warn() {}, error() {}, debug() {} },
      peers,
      metrics,
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
