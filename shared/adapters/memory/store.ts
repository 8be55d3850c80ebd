/**
 * The in-memory adapter of every store port: the site table of shared/adapters/dynamodb/table.ts held in a
 * MemoryTable, with the same items, keys, conditions and index attributes as the DynamoDB adapter
 * (DynamoSiteStore), so it returns what DynamoDB returns for the same writes. The contract suite
 * (test/contract/store.contract.ts) runs against both and is what keeps them twins.
 *
 * Used by the protocol simulator and the fast unit tests. Two optional hooks serve them:
 * - `yields`: how many microtasks an operation yields before it acts. A DynamoDB call is I/O, so
 *   two handlers running at once interleave there; the check-and-write of one operation stays
 *   atomic (MemoryTable.write is synchronous), as DynamoDB's is.
 * - `fail`: an error to throw instead of an operation (nothing written), to force error paths.
 */
import { randomUUID } from "node:crypto";
import { ConflictError } from "../../errors.js";
import type { JobRecord } from "../../server/job.js";
import type { MomConnection } from "../../ports/channel.js";
import type { JobChange, JobReadOptions, JobWrite, SettleEnd, SiteStore } from "../../ports/store.js";
import { planJobGroups } from "../dynamodb/job-groups.js";
import type {
  AcctRecord,
  AuditRecord,
  EdgeRecord,
  IntakeRecord,
  JobPage,
  JobPageQuery,
  ListedJob,
  MomBeat,
  PeerMessageClaim,
  PeerSeen,
  ProjectRecord,
  ServerObject,
  StatSample,
  TransferRecord,
  UsageCharge,
  WaitingJob,
} from "../../server/records.js";
import { itemSize } from "../dynamodb/item-size.js";
import { keys, LIST_INDEX, READY_INDEX, RUN_INDEX, WAIT_INDEX } from "../dynamodb/table.js";
import {
  createJobOp,
  edgeOf,
  jobItem,
  jobOf,
  markParentOp,
  putEdgeOp,
  scriptOp,
  updateJobOp,
  withoutScript,
  withStoredScript,
} from "./job-items.js";
import { lowerScriptLeaseFloor, renewScriptLease, scriptLeaseFloor, scriptLeases } from "./script-leases.js";
import { scriptKey } from "../dynamodb/job-script.js";
import { listedRecords, listJobPage } from "./job-pages.js";
import * as moms from "./moms.js";
import * as transfers from "./transfers.js";
import { acctOf, acctOp, auditOf, chargeOp, projectFrom } from "./records.js";
import { decimalAdd, type Item, MemoryTable, siteIndex, type WriteOp } from "./table.js";

/** The operations a `fail` hook is asked about: the port's method names. */
export type StoreOp = keyof SiteStore;

export interface MemoryStoreOptions {
  /** Server objects the site starts with (stored at the ver they carry). */
  objects?: ServerObject[];
  /** Microtasks an operation yields before it acts (see above). */
  yields?: () => number;
  /** An error to throw instead of `op` (nothing is written), or undefined to go ahead. */
  fail?: (op: StoreOp) => unknown;
}

const READY = siteIndex(READY_INDEX);
const RUN = siteIndex(RUN_INDEX);
const LIST = siteIndex(LIST_INDEX);
const WAIT = siteIndex(WAIT_INDEX);

const STAT_KEEP_S = 2 * 24 * 3600;
const pad15 = (n: number) => String(n).padStart(15, "0");

export class MemorySiteStore implements SiteStore {
  readonly table = new MemoryTable();
  yields: (() => number) | undefined;
  fail: ((op: StoreOp) => unknown) | undefined;

  constructor(opts: MemoryStoreOptions = {}) {
    this.yields = opts.yields;
    this.fail = opts.fail;
    for (const o of opts.objects ?? [])
      this.table.write(
        [
          {
            key: keys.object(o.kind, o.name),
            next: () => ({ kind: o.kind, name: o.name, attrs: o.attrs, ver: o.ver }),
          },
        ],
        "",
      );
  }

  /** The I/O point of an operation: where concurrent callers interleave, and where it may fail. */
  private async io(op: StoreOp): Promise<void> {
    const n = this.yields?.() ?? 0;
    for (let i = 0; i < n; i++) await undefined;
    const err = this.fail?.(op);
    if (err !== undefined) throw err;
  }

  // ---------- jobs ----------

  jobItemBytes(job: JobRecord): number {
    return itemSize(jobItem(job));
  }

  async getJob(key: string, _consistent = true, opts: JobReadOptions = {}): Promise<JobRecord | undefined> {
    await this.io("getJob");
    const it = this.table.get(keys.job(key));
    return it ? this.record(it, opts) : undefined;
  }

  async getJobs(jobKeys: string[], opts: JobReadOptions = {}): Promise<Map<string, JobRecord>> {
    await this.io("getJobs");
    const out = new Map<string, JobRecord>();
    for (const k of new Set(jobKeys)) {
      const it = this.table.get(keys.job(k));
      if (it) {
        const j = this.record(it, opts);
        out.set(j.key, j);
      }
    }
    return out;
  }

  /** The record of a job item, with the script from its script item unless asked without. */
  private record(it: Item, opts: JobReadOptions = {}): JobRecord {
    const j = jobOf(it);
    return opts.script === false ? withoutScript(j) : withStoredScript(j, this.table.get(scriptKey(j.key)));
  }

  async getJobWithEdges(key: string): Promise<{ job?: JobRecord; edges: EdgeRecord[] }> {
    await this.io("getJobWithEdges");
    let job: JobRecord | undefined;
    const edges: EdgeRecord[] = [];
    for (const it of this.table.query(keys.job(key).pk)) {
      if (it.sk === "A") job = this.record(it);
      else if (String(it.sk).startsWith("D#")) edges.push(edgeOf(key, it));
    }
    return { job, edges };
  }

  async getJobAndEdge(key: string, childId: string): Promise<{ job?: JobRecord; edge?: EdgeRecord }> {
    await this.io("getJobAndEdge");
    const out: { job?: JobRecord; edge?: EdgeRecord } = {};
    const j = this.table.get(keys.job(key));
    if (j) out.job = this.record(j);
    const e = this.table.get(keys.edge(key, childId));
    if (e) out.edge = edgeOf(key, e);
    return out;
  }

  async createJob(job: JobRecord, edges: EdgeRecord[] = [], acct?: AcctRecord, updates: JobChange[] = []) {
    // Every op is built (and the state table checked) before the first await: a forbidden
    // write throws having written nothing, as the DynamoDB adapter's request builders do.
    const create = createJobOp(job);
    if (edges.length === 0 && !acct && updates.length === 0) {
      await this.io("createJob");
      // the script first and apart, as the DynamoDB adapter writes it (jobs.ts putScript)
      this.table.write([scriptOp(job)], "");
      this.table.write([create], `job ${job.id} already exists`);
      return;
    }
    const ops: WriteOp[] = [create];
    for (const u of updates) ops.push(updateJobOp(u.before, u.after));
    for (const e of edges) {
      // an edge from the job being created (before-type dependency) exists only with its job;
      // an edge under another job needs that parent unfinished when it lands
      if (e.parentKey !== job.key) ops.push(markParentOp(e.parentKey));
      ops.push(putEdgeOp(e, false));
    }
    if (acct) ops.push(acctOp(acct));
    await this.io("createJob");
    this.table.write([scriptOp(job)], "");
    this.table.write(ops, `job ${job.id}: a parent changed while submitting`, true);
  }

  async updateJob(before: JobRecord, after: JobRecord, acct?: AcctRecord, charge?: UsageCharge) {
    const ops = [updateJobOp(before, after)];
    if (acct) ops.push(acctOp(acct));
    if (charge) ops.push(chargeOp(charge));
    await this.io("updateJob");
    this.table.write(ops, `job ${before.id} changed concurrently`, ops.length > 1);
    return structuredClone({ ...after, ver: before.ver + 1 });
  }

  /**
   * Group commit, grouped as DynamoDB groups it (planJobGroups): one I/O point per group, then
   * each write checked and applied on its own, synchronously, so a group is one step for every
   * other caller, and a write that lost its race writes nothing while the others land, which is
   * what the DynamoDB adapter's cancel-and-retry-the-rest ends with.
   */
  async writeJobs(writes: JobWrite[]): Promise<(JobRecord | Error)[]> {
    const out: (JobRecord | Error)[] = new Array(writes.length);
    const ops: (WriteOp[] | undefined)[] = writes.map((w, i) => {
      try {
        const o = [w.create ? createJobOp(w.create) : updateJobOp(w.before, w.after)];
        if (w.acct) o.push(acctOp(w.acct));
        if (w.charge) o.push(chargeOp(w.charge));
        return o;
      } catch (err) {
        out[i] = err as Error;
        return undefined;
      }
    });
    const ok = writes.map((_, i) => i).filter((i) => ops[i]);
    for (const g of planJobGroups(ok.map((i) => writes[i])).map((x) => x.map((j) => ok[j]))) {
      await this.io("writeJobs");
      for (const i of g) {
        const w = writes[i];
        const o = ops[i] as WriteOp[];
        try {
          if (w.create) this.table.write([scriptOp(w.create)], "");
          this.table.write(o, `job ${(w.create ?? w.before)?.id} changed concurrently`, o.length > 1);
          out[i] = structuredClone(w.create ? w.create : { ...w.after, ver: w.before.ver + 1 });
        } catch (err) {
          out[i] = err as Error;
        }
      }
    }
    return out;
  }

  async purgeJob(before: JobRecord): Promise<void> {
    await this.io("purgeJob");
    this.table.write(
      [
        {
          key: keys.job(before.key),
          cond: (cur) => cur !== undefined && cur.ver === before.ver,
          next: () => undefined,
        },
      ],
      `job ${before.id} changed concurrently`,
    );
    this.table.write([{ key: scriptKey(before.key), next: () => undefined }], "");
  }

  async transactJobs(updates: JobChange[], creates: JobRecord[] = []): Promise<void> {
    const ops = [
      ...updates.map((u) => updateJobOp(u.before, u.after)),
      ...creates.flatMap((c) => [createJobOp(c), scriptOp(c)]),
    ];
    await this.io("transactJobs");
    this.table.write(ops, "jobs changed concurrently", true);
  }

  async addEdge(e: EdgeRecord): Promise<void> {
    await this.io("addEdge");
    this.table.write(
      [markParentOp(e.parentKey), putEdgeOp(e, true)],
      `job ${e.parentKey} has finished`,
      true,
    );
  }

  async deleteEdge(parentKey: string, childId: string): Promise<void> {
    await this.io("deleteEdge");
    this.table.write([{ key: keys.edge(parentKey, childId), next: () => undefined }], "");
  }

  async reserveSeq(n: number): Promise<number> {
    await this.io("reserveSeq");
    let last = 0;
    this.table.write(
      [
        {
          key: keys.seq(),
          next: (cur) => {
            last = decimalAdd(Number(cur?.nextSeq ?? 0), n);
            return { ...cur, nextSeq: last };
          },
        },
      ],
      "",
    );
    return last - n + 1;
  }

  async scriptLeases(queue: string, sub: boolean, after: number | undefined, limit: number) {
    await this.io("scriptLeases");
    return scriptLeases(this.table, queue, sub, after, limit);
  }

  async renewScriptLease(key: string, until: number): Promise<void> {
    await this.io("renewScriptLease");
    renewScriptLease(this.table, key, until);
  }

  async scriptLeaseFloor(): Promise<number | undefined> {
    await this.io("scriptLeaseFloor");
    return scriptLeaseFloor(this.table);
  }

  async lowerScriptLeaseFloor(termS: number): Promise<void> {
    await this.io("lowerScriptLeaseFloor");
    lowerScriptLeaseFloor(this.table, termS);
  }

  async queryReady(queue: string, limit: number): Promise<JobRecord[]> {
    await this.io("queryReady");
    // per shard, its first `limit` by rdySk; then merged: what the DynamoDB adapter's queries give
    const all = keys.readyShards(queue).flatMap((k) => this.table.queryIndex(READY, k, { limit }));
    all.sort((a, b) => (String(a.rdySk) < String(b.rdySk) ? -1 : String(a.rdySk) > String(b.rdySk) ? 1 : 0));
    return all.slice(0, limit).map(jobOf);
  }

  async queryRunning(partition: string): Promise<JobRecord[]> {
    await this.io("queryRunning");
    return this.table.queryIndex(RUN, partition).map(jobOf);
  }

  /**
   * With `limit`, at most that many, oldest first. (The DynamoDB adapter stops paging at the
   * limit but returns its whole last page, so it may return more: callers ask for "any" only.)
   */
  async listJobs(
    queue: string,
    finished: boolean,
    opts: { sub?: boolean; limit?: number } = {},
  ): Promise<ListedJob[]> {
    await this.io("listJobs");
    const k = `${keys.list(queue, finished)}${opts.sub ? "#sub" : ""}`;
    return this.table.queryIndex(LIST, k, { limit: opts.limit }).map((it) => jobOf(it) as ListedJob);
  }

  async listSubjobs(parent: JobRecord): Promise<JobRecord[]> {
    await this.io("listSubjobs");
    const s = keys.listSort(parent.seq);
    const out = [false, true].flatMap((fin) =>
      this.table.queryIndex(LIST, `${keys.list(parent.queue, fin)}#sub`, { eq: s }).map(jobOf),
    );
    out.sort((a, b) => (a.arrayIndex ?? 0) - (b.arrayIndex ?? 0));
    return listedRecords(this.table, out);
  }

  async finishedSubjobs(parent: Pick<JobRecord, "queue" | "seq">): Promise<JobRecord[]> {
    await this.io("finishedSubjobs");
    const s = keys.listSort(parent.seq);
    return listedRecords(
      this.table,
      this.table.queryIndex(LIST, `${keys.list(parent.queue, true)}#sub`, { eq: s }).map(jobOf),
    );
  }

  async queryWaiting(): Promise<WaitingJob[]> {
    await this.io("queryWaiting");
    return this.table.queryIndex(WAIT, keys.wait()).map(jobOf) as WaitingJob[];
  }

  async listJobPage(q: JobPageQuery): Promise<JobPage> {
    await this.io("listJobPage");
    return listJobPage(this.table, q);
  }

  // ---------- server objects ----------

  async getServerObjects(): Promise<ServerObject[]> {
    await this.io("getServerObjects");
    return this.table
      .query("SRV")
      .filter((it) => it.kind !== undefined)
      .map((it) => ({
        kind: it.kind as ServerObject["kind"],
        name: it.name as string,
        attrs: (it.attrs ?? {}) as ServerObject["attrs"],
        ver: (it.ver ?? 0) as number,
      }));
  }

  async putServerObject(obj: ServerObject, expectVer?: number): Promise<void> {
    await this.io("putServerObject");
    this.table.write(
      [
        {
          key: keys.object(obj.kind, obj.name),
          cond: (cur) => (expectVer === undefined ? cur === undefined : cur?.ver === expectVer),
          next: () => ({ kind: obj.kind, name: obj.name, attrs: obj.attrs, ver: (expectVer ?? -1) + 1 }),
        },
      ],
      expectVer === undefined
        ? `${obj.kind} ${obj.name} already exists`
        : `${obj.kind} ${obj.name} changed concurrently`,
    );
  }

  async deleteServerObject(kind: ServerObject["kind"], name: string, expectVer: number): Promise<void> {
    await this.io("deleteServerObject");
    this.table.write(
      [{ key: keys.object(kind, name), cond: (cur) => cur?.ver === expectVer, next: () => undefined }],
      `${kind} ${name} changed concurrently`,
    );
  }

  async getIntake(): Promise<IntakeRecord | undefined> {
    await this.io("getIntake");
    const it = this.table.get(keys.intake());
    return it
      ? { state: it.state as IntakeRecord["state"], since: Number(it.since), ver: Number(it.ver) }
      : undefined;
  }

  async putIntake(rec: IntakeRecord): Promise<void> {
    await this.io("putIntake");
    this.table.write(
      [
        {
          key: keys.intake(),
          cond: (cur) => (rec.ver === 0 ? cur === undefined : cur?.ver === rec.ver - 1),
          next: () => ({ state: rec.state, since: rec.since, ver: rec.ver }),
        },
      ],
      "the site's intake changed concurrently",
    );
  }

  async putCycleReport(sched: string, report: Record<string, unknown>): Promise<void> {
    await this.io("putCycleReport");
    const item = { pk: "CYCLE", sk: sched, ...report };
    this.table.write([{ key: { pk: String(item.pk), sk: String(item.sk) }, next: () => item }], "");
  }

  /** The reports as stored, keys included (as the DynamoDB adapter returns them). */
  async getCycleReports(): Promise<Record<string, unknown>[]> {
    await this.io("getCycleReports");
    return this.table.query("CYCLE");
  }

  async putStatSample(s: StatSample): Promise<void> {
    await this.io("putStatSample");
    const key = { pk: "STAT", sk: pad15(s.t) };
    this.table.write([{ key, next: () => ({ ...s, expiresAt: Math.floor(s.t / 1000) + STAT_KEEP_S }) }], "");
  }

  async getStatSamples(since: number): Promise<StatSample[]> {
    await this.io("getStatSamples");
    const from = pad15(since);
    return this.table
      .query("STAT", (s) => s >= from)
      .map((it) => ({
        t: Number(it.t),
        queued: Number(it.queued ?? 0),
        running: Number(it.running ?? 0),
        held: Number(it.held ?? 0),
        movedIn: (it.movedIn as Record<string, number>) ?? {},
        ...(it.capped === true ? { capped: true } : {}),
      }));
  }

  // ---------- MOMs (moms.ts) ----------

  async putMomBeat(beat: MomBeat): Promise<void> {
    await this.io("putMomBeat");
    moms.putMomBeat(this.table, beat);
  }

  async dropMomBeat(momId: string, run: { jobId: string; runCount: number }): Promise<void> {
    await this.io("dropMomBeat");
    moms.dropMomBeat(this.table, momId, run);
  }

  async getMomBeats(momIds: string[]): Promise<Map<string, MomBeat>> {
    await this.io("getMomBeats");
    return moms.getMomBeats(this.table, momIds);
  }

  async putMomBoot(node: string, momId: string, sentAt: number): Promise<boolean> {
    await this.io("putMomBoot");
    return moms.putMomBoot(this.table, node, momId, sentAt);
  }

  async putMomConnection(c: MomConnection): Promise<boolean> {
    await this.io("putMomConnection");
    return moms.putMomConnection(this.table, c);
  }

  async getMomConnection(momId: string): Promise<MomConnection | undefined> {
    await this.io("getMomConnection");
    return moms.getMomConnection(this.table, momId);
  }

  async momOfConnection(connectionId: string): Promise<string | undefined> {
    await this.io("momOfConnection");
    return moms.momOfConnection(this.table, connectionId);
  }

  async dropMomConnection(momId: string, connectionId: string): Promise<void> {
    await this.io("dropMomConnection");
    moms.dropMomConnection(this.table, momId, connectionId);
  }

  // ---------- transfers and peers (transfers.ts) ----------

  async queryTransfers(): Promise<JobRecord[]> {
    await this.io("queryTransfers");
    return transfers.queryTransfers(this.table);
  }

  async getTransfer(transferId: string): Promise<TransferRecord | undefined> {
    await this.io("getTransfer");
    return transfers.getTransfer(this.table, transferId);
  }

  async createInbound(job: JobRecord, transferId: string): Promise<void> {
    const ops = transfers.inboundOps(job, transferId);
    await this.io("createInbound");
    this.table.write(ops, `transfer ${transferId} already known`, true);
  }

  async abortInbound(transferId: string, job?: JobRecord): Promise<void> {
    await this.io("abortInbound");
    transfers.abortInbound(this.table, transferId, job);
  }

  async putPeerSeen(p: PeerSeen): Promise<void> {
    await this.io("putPeerSeen");
    transfers.putPeerSeen(this.table, p);
  }

  async getPeersSeen(): Promise<PeerSeen[]> {
    await this.io("getPeersSeen");
    return transfers.getPeersSeen(this.table);
  }

  async claimPeerMessage(c: PeerMessageClaim, now: number): Promise<void> {
    await this.io("claimPeerMessage");
    transfers.claimPeerMessage(this.table, c, now);
  }

  // ---------- ledger ----------

  async getProject(account: string): Promise<ProjectRecord | undefined> {
    await this.io("getProject");
    const it = this.table.get(keys.project(account));
    return it ? projectFrom(it) : undefined;
  }

  async listProjects(): Promise<ProjectRecord[]> {
    await this.io("listProjects");
    return this.table.query("PROJ").map(projectFrom);
  }

  async setAllocation(account: string, coreHours: number | undefined): Promise<void> {
    await this.io("setAllocation");
    this.table.write(
      [
        {
          key: keys.project(account),
          next: (cur) => {
            const it: Item = { ...cur };
            if (coreHours === undefined) delete it.granted;
            else it.granted = coreHours;
            return it;
          },
        },
      ],
      "",
    );
  }

  async chargeUsage(charge: UsageCharge): Promise<void> {
    await this.io("chargeUsage");
    this.table.write([chargeOp(charge)], "");
  }

  async putAcct(rec: AcctRecord): Promise<void> {
    await this.io("putAcct");
    this.table.write([acctOp(rec)], "");
  }

  async putAccts(recs: AcctRecord[]): Promise<(Error | undefined)[]> {
    try {
      await this.io("putAccts");
    } catch (err) {
      return recs.map(() => err as Error);
    }
    for (const rec of recs) this.table.write([acctOp(rec)], "");
    return recs.map(() => undefined);
  }

  async settleEnds(ends: SettleEnd[]): Promise<boolean[]> {
    await this.io("settleEnds");
    return ends.map(({ rec, charge }) => {
      const put: WriteOp = { ...acctOp(rec), cond: (cur) => cur === undefined };
      try {
        this.table.write(charge ? [put, chargeOp(charge)] : [put], `record ${rec.jobId} ${rec.type}`, true);
        return true;
      } catch (err) {
        if (err instanceof ConflictError) return false;
        throw err;
      }
    });
  }

  async ensureAcct(recs: AcctRecord[]): Promise<void> {
    await this.io("ensureAcct");
    for (const r of recs) this.table.write([{ ...acctOp(r), next: (cur) => cur ?? { ...r } }], "");
  }

  async listAcct(day: string): Promise<AcctRecord[]> {
    await this.io("listAcct");
    return this.table.query(`ACCT#${day}`).map(acctOf);
  }

  async putAudit(rec: AuditRecord): Promise<void> {
    await this.io("putAudit");
    const id = randomUUID().slice(0, 8);
    const ops: WriteOp[] = [{ key: keys.audit(rec.time, id), next: () => ({ ...rec }) }];
    if (rec.jobKey) ops.push({ key: keys.jobAudit(rec.jobKey, rec.time, id), next: () => ({ ...rec }) });
    this.table.write(ops, "");
  }

  async listAudit(day: string): Promise<AuditRecord[]> {
    await this.io("listAudit");
    return this.table.query(`AUDIT#${day}`).map(auditOf);
  }

  async jobAudit(key: string): Promise<AuditRecord[]> {
    await this.io("jobAudit");
    return this.table.query(keys.job(key).pk, (s) => s.startsWith("L#")).map(auditOf);
  }
}
