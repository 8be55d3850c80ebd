/**
 * How long finished jobs, their audit lines and accounting records are kept (issue 12): PBS's
 * `job_history_duration` (server attribute; OpenPBS's default, two weeks) for jobs and audit,
 * SiteSettings.acctKeepDays for accounting (longer: `metaqueue accounting` reports on it).
 *
 * One wrapper of the site's store does both halves, so no write path of the domain (mutateJob,
 * the group commit, transactions of the scheduler and the peers) and neither adapter has to know:
 * - writes: a job written finished (F, X, and M once its end came back) gets `expiresAt` (epoch seconds, the table's TTL
 *   attribute) if it has none, a job written active loses it; an accounting record or audit
 *   line gets its own. The adapters store records as they are, so the TTL lands on the item.
 * - reads: DynamoDB deletes expired items only eventually (within days), and DynamoDB Local and
 *   the memory adapter never do, so what has expired is left out of every read here: `qstat -x`
 *   no longer shows a job past its history, whatever is still in the table.
 * Queries of active jobs (ready, running, waiting, transfers) pass through: no active job has an
 * expiry. A new job's script gets a lease (`scriptUntil`: submit + history + a margin), which the
 * adapter stores with the script only and the sweeper renews while the job is active
 * (script-lease.ts): the TTL deletes the script some time after its job's history, with no
 * write when the job ends (shared/adapters/dynamodb/job-script.ts says why).
 */
import { parseWalltime } from "../pbs/walltime.js";
import type { Clock } from "../ports/clock.js";
import type { JobChange, JobWrite, SiteStore } from "../ports/store.js";
import { type JobRecord, listedFinished } from "./job.js";
import { loadServerState } from "./server-state.js";
import type { AcctRecord, AuditRecord, JobPage } from "./records.js";
import type { SiteSettings } from "./settings.js";

/** OpenPBS's default job_history_duration: two weeks. */
export const DEFAULT_HISTORY_S = 14 * 24 * 3600;

/** job_history_duration of the server object (PBS walltime form, "336:00:00"), in seconds. */
export function historySeconds(attr: unknown): number {
  if (typeof attr === "number" && Number.isFinite(attr) && attr >= 0) return attr;
  if (typeof attr === "string" && attr.trim()) {
    try {
      return parseWalltime(attr);
    } catch {
      // qmgr checked it when it was set: a value it let through that no longer parses is
      // not worth failing a job's end for
    }
  }
  return DEFAULT_HISTORY_S;
}

/**
 * How long before it would be too short a script's lease is renewed (script-lease.ts): an
 * active job's lease is kept past now + history + this, so the sweeper may miss passes for up to
 * a week (a site down, a broken sweeper) before a job that ends could outlive its script.
 */
export const LEASE_NOTICE_S = 7 * 24 * 3600;

/**
 * The lease a script gets now (at submit, or renewed): past the job's history by the margin
 * (SiteSettings.scriptLeaseMarginDays), never less than twice the notice, so that a fresh lease
 * is not due for renewal for weeks (what lets the pass stop at the first job not due).
 */
export function scriptLeaseUntil(nowS: number, historyS: number, marginDays = 30): number {
  return nowS + historyS + Math.max(Math.round(marginDays * 86400), 2 * LEASE_NOTICE_S);
}

/** Whether a record with this expiry (epoch seconds) is gone at `nowMs`. */
export function isExpired(rec: { expiresAt?: unknown } | undefined, nowMs: number): boolean {
  return typeof rec?.expiresAt === "number" && rec.expiresAt * 1000 <= nowMs;
}

export interface HistoryOptions {
  clock: Clock;
  settings: Pick<SiteSettings, "acctKeepDays"> & Partial<Pick<SiteSettings, "scriptLeaseMarginDays">>;
}

/** `store` keeping finished jobs, audit and accounting only as long as configured. */
export function withHistory(store: SiteStore, opts: HistoryOptions): SiteStore {
  const { clock } = opts;
  const nowS = () => Math.floor(clock.now() / 1000);
  // the server object, as every operation reads it (cached a second; a qmgr change counts)
  let self: SiteStore;
  const historyS = async () =>
    historySeconds((await loadServerState({ store: self, clock })).server.attrs.job_history_duration);

  /** The job as it should be written: finished ones expire, active ones do not. */
  const stamp = async (job: JobRecord): Promise<JobRecord> => {
    // a job moved to a peer (M) is followed until its end comes back: history from then on
    if (listedFinished(job)) {
      if (job.expiresAt !== undefined) return job;
      return { ...job, expiresAt: nowS() + (await historyS()) };
    }
    if (job.expiresAt === undefined) return job;
    const { expiresAt: _gone, ...active } = job;
    return active as JobRecord;
  };
  /**
   * The lowest lease term this process has recorded as the site's floor, and that write (undefined:
   * none yet, or it failed). Why a floor at all: the lease pass bounds the leases of jobs it has
   * not read by it (script-lease.ts), so a term below it must be recorded before any job holds it.
   * The write is shared: submissions arriving together at a process's start (a group commit of
   * creates) wait for one conditional write, not one each.
   */
  let floor: { term: number; written: Promise<void> } | undefined;
  /** A new job: as any job, and with its script's lease (script-lease.ts). */
  const stampNew = async (job: JobRecord): Promise<JobRecord> => {
    const j = await stamp(job);
    if (j.scriptUntil !== undefined) return j;
    const granted = nowS();
    const until = scriptLeaseUntil(granted, await historyS(), opts.settings.scriptLeaseMarginDays);
    const term = until - granted;
    // before the job is written: a crash in between leaves a floor lower than needed (the pass
    // reads more), never a job whose lease is shorter than the floor the pass trusts. Once per
    // process and per lowering of the terms (qmgr job_history_duration, the margin setting).
    if (floor === undefined || term < floor.term) {
      const written = store.lowerScriptLeaseFloor(term);
      const mine = { term, written };
      floor = mine;
      // a failed write is tried again by the next submit (its caller gets the error below)
      written.catch(() => {
        if (floor === mine) floor = undefined;
      });
    }
    await floor.written;
    return { ...j, scriptUntil: until, scriptGranted: granted };
  };
  const stampAcct = (rec: AcctRecord | undefined): AcctRecord | undefined => {
    const days = opts.settings.acctKeepDays;
    if (!rec || rec.expiresAt !== undefined || !(days > 0)) return rec;
    return { ...rec, expiresAt: nowS() + Math.round(days * 86400) };
  };
  const stampChanges = (cs: JobChange[] | undefined) =>
    Promise.all((cs ?? []).map(async (c) => ({ before: c.before, after: await stamp(c.after) })));
  const live = <T extends { expiresAt?: unknown }>(recs: T[]): T[] => {
    const now = clock.now();
    return recs.filter((r) => !isExpired(r, now));
  };
  const one = <T extends { expiresAt?: unknown }>(rec: T | undefined): T | undefined =>
    rec && isExpired(rec, clock.now()) ? undefined : rec;

  const overrides: Partial<SiteStore> = {
    // --- writes ---
    createJob: async (job, edges, acct, updates) =>
      store.createJob(await stampNew(job), edges, stampAcct(acct), updates && (await stampChanges(updates))),
    updateJob: async (before, after, acct, charge) =>
      store.updateJob(before, await stamp(after), stampAcct(acct), charge),
    writeJobs: async (writes) =>
      store.writeJobs(
        await Promise.all(
          writes.map(
            async (w): Promise<JobWrite> =>
              w.create
                ? { create: await stampNew(w.create), acct: stampAcct(w.acct) }
                : {
                    before: w.before,
                    after: await stamp(w.after),
                    acct: stampAcct(w.acct),
                    charge: w.charge,
                  },
          ),
        ),
      ),
    transactJobs: async (updates, creates) =>
      store.transactJobs(await stampChanges(updates), creates && (await Promise.all(creates.map(stampNew)))),
    createInbound: async (job, transferId) => store.createInbound(await stampNew(job), transferId),
    putAcct: (rec) => store.putAcct(stampAcct(rec) as AcctRecord),
    putAccts: (recs) => store.putAccts(recs.map((r) => stampAcct(r) as AcctRecord)),
    settleEnds: (ends) => store.settleEnds(ends.map((e) => ({ ...e, rec: stampAcct(e.rec) as AcctRecord }))),
    ensureAcct: (recs) => store.ensureAcct(recs.map((r) => stampAcct(r) as AcctRecord)),
    putAudit: async (rec: AuditRecord) =>
      store.putAudit(rec.expiresAt !== undefined ? rec : { ...rec, expiresAt: nowS() + (await historyS()) }),
    // --- reads ---
    getJob: async (key, consistent, o) => one(await store.getJob(key, consistent, o)),
    getJobs: async (keys, o) => {
      const m = await store.getJobs(keys, o);
      const now = clock.now();
      for (const [k, j] of m) if (isExpired(j, now)) m.delete(k);
      return m;
    },
    getJobWithEdges: async (key) => {
      const r = await store.getJobWithEdges(key);
      return isExpired(r.job, clock.now()) ? { edges: [] } : r;
    },
    getJobAndEdge: async (key, childId) => {
      const r = await store.getJobAndEdge(key, childId);
      return isExpired(r.job, clock.now()) ? {} : r;
    },
    listJobs: async (queue, finished, o) => live(await store.listJobs(queue, finished, o)),
    listSubjobs: async (parent) => live(await store.listSubjobs(parent)),
    finishedSubjobs: async (parent) => live(await store.finishedSubjobs(parent)),
    listJobPage: async (q): Promise<JobPage> => {
      const page = await store.listJobPage(q);
      return { ...page, jobs: live(page.jobs) };
    },
    listAcct: async (day) => live(await store.listAcct(day)),
    listAudit: async (day) => live(await store.listAudit(day)),
    jobAudit: async (key) => live(await store.jobAudit(key)),
  };
  self = new Proxy(store, {
    get(target, prop, _receiver) {
      if (Object.hasOwn(overrides, prop)) return overrides[prop as keyof SiteStore];
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return self;
}
