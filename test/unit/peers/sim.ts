/**
 * A federation in memory for protocol tests: each site runs the REAL inbox handlers and
 * transfer sweep over an in-memory store with the same conditional semantics as DynamoDB
 * (ver-guarded updates, create-if-absent, transactions), and the sites talk over a network
 * that drops, duplicates, reorders and delays messages, and crashes handlers between their
 * writes and their sends. Only the storage and the wire are fakes; the protocol code is not.
 */
import { ConflictError } from "../../../shared/errors.js";
import { handlePeerMessage } from "../../../shared/peers/inbox.js";
import { PeerMessageError } from "../../../shared/peers/messages.js";
import { sweepTransfers } from "../../../shared/peers/transfer.js";
import { parseConfig } from "../../../shared/config/site-config.js";
import { DEFAULT_SETTINGS, type PeerInfo, type SiteContext } from "../../../shared/server/context.js";
import { indexAttrs, type JobRecord, transferPending } from "../../../shared/server/job.js";
import { releaseDependents } from "../../../shared/server/job-end.js";
import { siteObjects } from "../../../shared/server/seed.js";
import type {
  AcctRecord,
  EdgeRecord,
  PeerMessageClaim,
  PeerSeen,
  ProjectRecord,
  ServerObject,
  SiteStore,
  TransferRecord,
  UsageCharge,
} from "../../../shared/store/site-store.js";

const clone = <T>(v: T): T => structuredClone(v);

/** The subset of SiteStore the protocol uses, in memory, with DynamoDB's guarantees. */
export class MemStore {
  jobs = new Map<string, JobRecord>();
  xfers = new Map<string, TransferRecord>();
  projects = new Map<string, ProjectRecord>();
  acct: AcctRecord[] = [];
  peers = new Map<string, PeerSeen>();
  seq = 0;
  constructor(readonly objects: ServerObject[]) {}

  async getServerObjects() {
    return clone(this.objects);
  }
  async reserveSeq(n: number) {
    this.seq += n;
    return this.seq - n + 1;
  }
  async getJob(key: string) {
    const j = this.jobs.get(key);
    return j ? clone(j) : undefined;
  }
  async getJobs(keys: string[]) {
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
    if (this.jobs.has(job.key)) throw new ConflictError(`job ${job.id} already exists`);
    this.jobs.set(job.key, clone(job));
  }
  async updateJob(before: JobRecord, after: JobRecord, acct?: AcctRecord, charge?: UsageCharge) {
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
    this.charge(c);
  }
  async queryReady(shardKeys: string[], limit: number) {
    const queues = new Set(shardKeys.map((k) => k.slice(0, k.lastIndexOf("#"))));
    return [...this.jobs.values()]
      .filter((j) => indexAttrs(j).rdy && queues.has(j.queue))
      .sort((a, b) => ((indexAttrs(a).rdySk ?? "") < (indexAttrs(b).rdySk ?? "") ? -1 : 1))
      .slice(0, limit)
      .map(clone);
  }
  async queryRunning(partition: string) {
    return [...this.jobs.values()].filter((j) => indexAttrs(j).run === partition).map(clone);
  }
  async queryTransfers() {
    return [...this.jobs.values()].filter((j) => transferPending(j)).map(clone);
  }
  async getTransfer(id: string) {
    const t = this.xfers.get(id);
    return t ? clone(t) : undefined;
  }
  async createInbound(job: JobRecord, transferId: string) {
    if (this.xfers.has(transferId) || this.jobs.has(job.key))
      throw new ConflictError(`transfer ${transferId} already known`);
    this.xfers.set(transferId, { transferId, status: "created", key: job.key, newId: job.id });
    this.jobs.set(job.key, clone(job));
  }
  async abortInbound(transferId: string, job?: JobRecord) {
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
    const k = `${c.peer}/${c.id}`;
    const cur = this.claims.get(k);
    if (cur && cur.delivery !== c.delivery && cur.until >= now) throw new ConflictError(`${k} taken`);
    this.claims.set(k, { delivery: c.delivery, until: c.until });
  }
  async putPeerSeen(p: PeerSeen) {
    this.peers.set(p.short, p);
  }
  async putAcct(r: AcctRecord) {
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

let nextQid = 0;

export class Network {
  inflight: Wire[] = [];
  /** sends of the handler now running; a crash throws them away */
  pending: Wire[] | undefined;
  /** messages the receiver refused (PeerMessageError), with the reason */
  refused: { wire: Wire; reason: string }[] = [];
  send(w: Wire) {
    w.qid ??= `q${++nextQid}`;
    if (this.pending) this.pending.push(w);
    else this.inflight.push(w);
  }
}

export interface SimSite {
  name: string;
  ctx: SiteContext;
  store: MemStore;
}

/** Two sites, casper (origin) and derecho (receiver, maps account P1 to D1). */
export function makeFederation(clock: { t: number }, net: Network): SimSite[] {
  const cfg = parseConfig({
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
    const ctx: SiteContext = {
      site: { server: sc.server, short: sc.name },
      store: store as unknown as SiteStore,
      sqs: {
        send: async (cmd: {
          input: { QueueUrl?: string; MessageBody?: string; Entries?: { MessageBody?: string }[] };
        }) => {
          const url = cmd.input.QueueUrl ?? "";
          if (!url.startsWith("mem://")) return {};
          const bodies = cmd.input.Entries?.map((e) => e.MessageBody ?? "") ?? [cmd.input.MessageBody ?? ""];
          for (const body of bodies) net.send({ to: url.slice(6), body });
          return {};
        },
      } as unknown as SiteContext["sqs"],
      queueUrls: { sched: "sched", events: "events" },
      executor: {
        momIdFor: () => "m",
        dispatch: async () => {},
        kill: async () => {},
      },
      clock: { now: () => clock.t },
      settings: { ...DEFAULT_SETTINGS, transferTimeoutMs: 10_000, transferResendMs: 1_000 },
      log: { info() {}, warn() {}, error() {}, debug() {} },
      peers,
    };
    sites.push({ name: sc.name, ctx, store });
  }
  return sites;
}

/** Deliver one message; a crash loses the handler's sends and redelivers the message later. */
export async function deliver(sites: SimSite[], net: Network, w: Wire, crash: boolean): Promise<void> {
  const site = sites.find((s) => s.name === w.to);
  if (!site) throw new Error(`no site ${w.to}`);
  net.pending = [];
  let failed = false;
  w.qid ??= `q${++nextQid}`;
  try {
    const r = await handlePeerMessage(site.ctx, w.body, w.qid);
    for (const k of r.ended) await releaseDependents(site.ctx, k);
  } catch (err) {
    if (err instanceof PeerMessageError) {
      // refused (a replay: another queue message with an ID already taken; stale): the inbox
      // handler counts it and deletes it from the queue, and nothing it would send is sent
      net.pending = undefined;
      net.refused.push({ wire: w, reason: err.reason });
      return;
    }
    if (!(err instanceof ConflictError)) throw err;
    failed = true;
  }
  const sent = net.pending;
  net.pending = undefined;
  if (crash || failed) {
    net.inflight.push(w); // not deleted from the queue: SQS delivers it again
    return;
  }
  net.inflight.push(...sent);
}

export async function sweep(site: SimSite, net: Network, crash: boolean): Promise<void> {
  net.pending = [];
  await sweepTransfers(site.ctx);
  const sent = net.pending;
  net.pending = undefined;
  if (!crash) net.inflight.push(...sent);
}

/** The receiver runs a committed job to its end (what the scheduler and MOM would do). */
export async function runToEnd(
  site: SimSite,
  net: Network,
  key: string,
  walltime: number,
  crash = false,
): Promise<void> {
  const j = site.store.jobs.get(key);
  if (j?.state !== "Q") return;
  const now = site.ctx.clock.now();
  const used = { walltime, cput: walltime, mem: 1024, ncpus: Number(j.rl.ncpus) || 1 };
  await site.store.updateJob(
    j,
    { ...j, state: "F", stime: now - walltime * 1000, obittime: now, exitStatus: 0, used },
    undefined,
    j.account
      ? { account: j.account, where: `for_${j.inbound?.from}`, coreSeconds: walltime * used.ncpus, walltime }
      : undefined,
  );
  net.pending = [];
  await releaseDependents(site.ctx, key);
  const sent = net.pending;
  net.pending = undefined;
  if (!crash) net.inflight.push(...sent);
}
