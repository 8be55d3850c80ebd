/** qdel, qhold, qrls, qrerun, qalter: the server's job operations, each a guarded write (qmove: move.ts). */
import { InvalidStateError, NotFoundError, RejectedError, UnauthorizedError } from "../errors.js";
import { normalizeResources, requestSelectText, totals } from "../pbs/resources.js";
import { formatSize } from "../pbs/size.js";
import type { QsubOptions } from "../pbs/types.js";
import { validateQsubOptions } from "../pbs/validate.js";
import { formatWalltime, parseWalltime } from "../pbs/walltime.js";
import { findPeer, type SiteContext } from "./context.js";
import { sendEvents, sendToPeer, triggerCycles } from "./messages.js";
import { loadServerState } from "./server-state.js";
import { checkJobStartOptions } from "../pbs/job-start.js";
import { mailIfMarked, markMail, noMailerReason } from "./mail.js";
import { checkStaging, stageAttributes } from "./staging.js";
import { isFinished, type JobRecord, listedFinished, unheldState, withHolds, withTrace } from "./job.js";
import { subjobEnded } from "./array-count.js";
import { keyOfId, mutateJob } from "./mutate.js";
import { getQueue } from "./objects.js";
import { checkJobSize } from "./submit.js";
import { arraySubjobs, indexFilter, isUnstarted, subjobRef } from "./subjobs.js";

export interface Actor {
  user: string;
  /** groups of the user (queue acl_groups) */
  groups?: string[];
  /** operator or manager: may act on any job */
  privileged?: boolean;
  manager?: boolean;
  operator?: boolean;
}

/** PBS: a user acts on their own jobs; operators and managers on any. */
export function mayActOn(actor: Actor, job: JobRecord): void {
  if (!actor.privileged && actor.user !== job.user)
    throw new UnauthorizedError(`Unauthorized Request  ${job.id}`);
}

/**
 * PBS hold types: u (user) anyone on their own job, o (other) operators and managers,
 * s (system) managers only.
 */
export function mayUseHold(actor: Actor, holdType: string, id: string): void {
  const ok =
    holdType === "u" ||
    (holdType === "o" && (actor.operator || actor.manager)) ||
    (holdType === "s" && actor.manager);
  if (!ok) throw new UnauthorizedError(`Unauthorized Request  ${id}`);
}

function finishedError(job: JobRecord): InvalidStateError {
  return new InvalidStateError(`Job has finished ${job.id}`, "HISTJOBID");
}

/**
 * qdel/qhold/qrls of a job that moved to a peer (an M record here): the origin checks who asks,
 * then tells the executing site, which trusts its peer's word (signed message). Returns the ID
 * at the peer (`movedTo`), and the job as read (strongly consistent; undefined: no record by
 * that ID), which the operation's guarded write starts from (mutateJob) instead of a read of
 * its own.
 */
async function forwardOp(
  ctx: SiteContext,
  id: string,
  actor: Actor,
  op: "delete" | "hold" | "release",
): Promise<{ movedTo?: string; job?: JobRecord }> {
  // without the script: qdel, qhold and qrls change the job's state, never run or move it
  const job = await ctx.store.getJob(keyOfId(id, ctx.site.short), true, { script: false });
  if (job?.state !== "M" || !job.xfer?.newId) return { job };
  mayActOn(actor, job);
  if (job.obittime !== undefined) throw finishedError(job);
  const peer = findPeer(ctx, job.xfer.peer);
  if (!peer)
    throw new InvalidStateError(`job ${job.id} moved to ${job.xfer.newId}, which is not a configured peer`);
  await sendToPeer(ctx, peer, {
    type: "JOB_OP",
    transferId: job.xfer.id,
    newId: job.xfer.newId,
    op,
    requestor: actor.user,
  });
  return { movedTo: job.xfer.newId, job };
}

/** How a delete is asked: `nomail` (qdel -W suppress_email past its count) sends no abort mail. */
export interface DeleteHow {
  nomail?: boolean;
}

/**
 * What qdel did: `movedTo`, the ID at the peer the delete was forwarded to; `owner`, the user of
 * the record by this ID here as the delete read it (so the API's audit of a privileged delete
 * reads nothing more), undefined when there is none (a range, a subjob not started).
 */
export interface Deleted {
  jobId: string;
  movedTo?: string;
  owner?: string;
}

export async function deleteJob(
  ctx: SiteContext,
  id: string,
  actor: Actor,
  how: DeleteHow = {},
): Promise<Deleted> {
  // -m a: PBS mails the abort when the delete is accepted, unless qdel suppressed it
  const abortMail = (j: JobRecord) => (how.nomail ? j : markMail(ctx, j, "a"));
  const key = keyOfId(id, ctx.site.short);
  // (a range has no record of its own that could have moved: each subjob's delete looks)
  if (subjobRef(key)?.part.kind === "range") {
    await deleteRange(ctx, id, actor, how);
    return { jobId: id };
  }
  // One read of the job for the whole delete: the look for a moved job, a subjob's check for a
  // record of its own, and the first attempt of the guarded write below.
  const { movedTo, job: read } = await forwardOp(ctx, id, actor, "delete");
  if (movedTo) return { jobId: id, movedTo, owner: read?.user };
  const now = ctx.clock.now();
  if (!read && (await deleteQueuedSubjob(ctx, id, actor, now))) return { jobId: id };
  let kill: JobRecord | undefined;
  let array: JobRecord | undefined;
  const { before, after } = await mutateJob(ctx, read ?? key, (cur) => {
    mayActOn(actor, cur);
    kill = undefined;
    array = undefined;
    if (isFinished(cur.state)) throw finishedError(cur);
    if (cur.state === "R" || cur.state === "E") {
      kill = cur;
      if (cur.delReq) return { kind: "skip" };
      return {
        kind: "write",
        // (the MOM then kills the run)
        after: abortMail({
          ...cur,
          delReq: true,
          mtime: now,
          hist: withTrace(cur.hist, {
            time: now,
            source: "S",
            message: `delete job request received from ${actor.user}`,
          }),
        }),
      };
    }
    if (cur.state === "B") {
      array = cur;
      return { kind: "skip" };
    }
    return {
      kind: "write",
      // -m a: a queued job deleted is aborted too, as PBS mails it
      after: abortMail({
        ...cur,
        // an array none of whose subjobs started: each of them is deleted with it (X)
        ...(cur.array
          ? {
              array: {
                ...cur.array,
                indices: [],
                next: 0,
                deleted: [...(cur.array.deleted ?? []), ...cur.array.indices],
              },
            }
          : {}),
        // a subjob with a record not running (in transit to a peer, or back in the queue
        // from one) is one of its array's: X, and counted on it below
        state: cur.parentKey ? "X" : "F",
        obittime: now,
        mtime: now,
        comment: `Job deleted at request of ${actor.user}`,
        hist: withTrace(cur.hist, {
          time: now,
          source: "S",
          message: `Job deleted at request of ${actor.user}`,
        }),
      }),
      acct: { time: now, jobId: cur.id, type: "D", data: { requestor: actor.user, queue: cur.queue } },
    };
  });
  if (array) await deleteArray(ctx, array, actor, now, how);
  if (after?.parentKey && after.state === "X") await subjobEnded(ctx, after);
  await mailIfMarked(ctx, before, after, "a", `Job deleted at request of ${actor.user}`);
  if (kill?.momId)
    await ctx.executor.kill({ jobId: kill.id, momId: kill.momId, runCount: kill.runCount }, "qdel");
  if (after && isFinished(after.state) && after.hasDeps)
    await sendEvents(ctx, [{ type: "ended", jobKey: after.key }]);
  return { jobId: id, owner: before?.user };
}

/** qhold. Returns the job as written (undefined: nothing changed here, or forwarded to a peer). */
export async function holdJob(
  ctx: SiteContext,
  id: string,
  actor: Actor,
  holdType = "u",
): Promise<JobRecord | undefined> {
  mayUseHold(actor, holdType, id);
  refuseSubjob(ctx, id);
  const { movedTo, job } = await forwardOp(ctx, id, actor, "hold");
  if (movedTo) return undefined;
  const now = ctx.clock.now();
  const { after } = await mutateJob(ctx, job ?? keyOfId(id, ctx.site.short), (cur) => {
    mayActOn(actor, cur);
    if (isFinished(cur.state)) throw finishedError(cur);
    if (!["Q", "H", "W"].includes(cur.state))
      throw new InvalidStateError(`Request invalid for state of job ${cur.id}`);
    if (cur.holds.includes(holdType)) return { kind: "skip" };
    return {
      kind: "write",
      after: {
        ...cur,
        holds: cur.holds + holdType,
        state: "H",
        mtime: now,
        hist: withTrace(cur.hist, {
          time: now,
          source: "S",
          message: `Holds ${holdType} set at request of ${actor.user}`,
        }),
      },
    };
  });
  return after;
}

/** qrls. Returns the job as written (undefined: nothing changed here, or forwarded to a peer). */
export async function releaseJob(
  ctx: SiteContext,
  id: string,
  actor: Actor,
  holdType = "u",
): Promise<JobRecord | undefined> {
  mayUseHold(actor, holdType, id);
  refuseSubjob(ctx, id);
  const { movedTo, job } = await forwardOp(ctx, id, actor, "release");
  if (movedTo) return undefined;
  const now = ctx.clock.now();
  const { after } = await mutateJob(ctx, job ?? keyOfId(id, ctx.site.short), (cur) => {
    mayActOn(actor, cur);
    if (isFinished(cur.state)) throw finishedError(cur);
    if (!cur.holds.includes(holdType)) return { kind: "skip" };
    const holds = cur.holds.replace(holdType, "");
    return {
      kind: "write",
      after: withHolds(cur, holds, now, `Holds ${holdType} released at request of ${actor.user}`),
    };
  });
  if (after?.state === "Q") await triggerCycles(ctx, [after.partition], "release");
  return after;
}

/** qrerun. Returns the running job as read (its owner: the API's audit reads nothing more). */
export async function rerunJob(ctx: SiteContext, id: string, actor: Actor): Promise<JobRecord | undefined> {
  // PBS: qrerun needs operator or manager privilege, even for one's own job
  if (!actor.privileged) throw new UnauthorizedError(`Unauthorized Request  ${id}`);
  // A requeued subjob would be a Q record outside the ready index (its array stands for its
  // unstarted subjobs there), so it would never start again: refused, as a lost MOM's subjob
  // is not requeued either (job-end.ts), rather than accepted and stranded.
  if (subjobRef(keyOfId(id, ctx.site.short)))
    throw new InvalidStateError(`Job is not rerunnable ${id}: array subjobs are not requeued`, "NORERUN");
  const now = ctx.clock.now();
  let target: JobRecord | undefined;
  await mutateJob(ctx, keyOfId(id, ctx.site.short), (cur) => {
    mayActOn(actor, cur);
    if (cur.state !== "R") throw new InvalidStateError(`Request invalid for state of job ${cur.id}`);
    if (!cur.rerunnable) throw new InvalidStateError(`Job is not rerunnable ${cur.id}`, "NORERUN");
    target = cur;
    if (cur.rerunReq) return { kind: "skip" };
    return {
      kind: "write",
      after: {
        ...cur,
        rerunReq: true,
        mtime: now,
        hist: withTrace(cur.hist, {
          time: now,
          source: "S",
          message: `Job rerun requested by ${actor.user}`,
        }),
      },
    };
  });
  if (target?.momId)
    await ctx.executor.kill({ jobId: target.id, momId: target.momId, runCount: target.runCount }, "rerun");
  return target;
}

/** qalter: change a job that has not started. Returns the job as written. */
export async function alterJob(
  ctx: SiteContext,
  id: string,
  actor: Actor,
  opts: QsubOptions,
): Promise<JobRecord | undefined> {
  validateQsubOptions(opts);
  refuseSubjob(ctx, id);
  checkJobStartOptions(opts, noMailerReason(ctx));
  const stage = stageAttributes(checkStaging(ctx, opts.attributes));
  const now = ctx.clock.now();
  const st = await loadServerState(ctx);
  if (opts.queue) throw new RejectedError("BadAlter", "use qmove to change a job's queue");
  const { after } = await mutateJob(ctx, keyOfId(id, ctx.site.short), (cur) => {
    mayActOn(actor, cur);
    if (!["Q", "H", "W"].includes(cur.state))
      throw new InvalidStateError(`Request invalid for state of job ${cur.id}`);
    const next: JobRecord = { ...cur, mtime: now };
    if (opts.name) next.name = opts.name;
    if (opts.account) next.account = opts.account;
    if (opts.priority !== undefined) next.priority = opts.priority;
    if (opts.rerunnable !== undefined) next.rerunnable = opts.rerunnable;
    if (opts.join) next.join = opts.join;
    if (opts.variables) next.env = { ...cur.env, ...opts.variables };
    // -S and -W umask take effect at the job's (next) start: the MOM reads them from the job
    if (opts.shell !== undefined) next.extra = { ...next.extra, Shell_Path_List: opts.shell };
    if (opts.attributes?.umask !== undefined) next.extra = { ...next.extra, umask: opts.attributes.umask };
    // -m/-M (checked above against the site's mailer): read at each mail event
    if (opts.mailPoints !== undefined) next.extra = { ...next.extra, Mail_Points: opts.mailPoints };
    if (opts.mailUsers !== undefined) next.extra = { ...next.extra, Mail_Users: opts.mailUsers };
    // as PBS: a new list replaces the old one for the job's (next) start
    if (stage.stagein !== undefined) next.extra = { ...next.extra, stagein: stage.stagein };
    if (stage.stageout !== undefined) next.extra = { ...next.extra, stageout: stage.stageout };
    if (opts.executionTime !== undefined) {
      // qalter -a: a job not held waits (W) until the new time, or is queued if it has come
      next.execAt = opts.executionTime * 1000;
      if (cur.state !== "H") next.state = unheldState(next, now);
      if (next.state === "Q" && cur.state !== "Q") next.etime = now;
    }
    if (opts.hold) {
      next.holds = cur.holds.includes("u") ? cur.holds : `${cur.holds}u`;
      next.state = "H";
    }
    if (opts.resources && Object.keys(opts.resources).length) {
      // The stored select carries the chunk resources; job-wide ncpus/mem/ngpus are derived
      // from it, so only a new select or new job-wide values replace it.
      const raw: Record<string, string> = { ...cur.rl };
      for (const k of ["ncpus", "mem", "ngpus", "nodect"]) delete raw[k];
      const r = opts.resources;
      if (!r.select && (r.ncpus || r.mem || r.ngpus || r.nodes)) delete raw.select;
      Object.assign(raw, r);
      const req = normalizeResources(raw);
      const q = getQueue(st, cur.queue);
      const max = q.attrs["resources_max.walltime"];
      if (max && req.walltime !== undefined) {
        if (req.walltime > parseWalltime(String(max)))
          throw new RejectedError(
            "ExceedsQueueLimit",
            `Job violates queue and/or server resource limits: walltime > ${max}`,
          );
      }
      const t = totals(req);
      next.sel = req.select;
      next.walltime = req.walltime;
      next.rl = {
        ...cur.rl,
        ncpus: String(t.ncpus),
        nodect: String(t.nodect),
        select: requestSelectText(req),
      };
      if (t.mem) next.rl.mem = formatSize(t.mem);
      if (req.walltime !== undefined) next.rl.walltime = formatWalltime(req.walltime);
    }
    next.hist = withTrace(cur.hist, {
      time: now,
      source: "S",
      message: `Job attributes altered by ${actor.user}`,
    });
    checkJobSize(ctx, next, "Job after qalter");
    return { kind: "write", after: next };
  });
  if (after?.state === "Q") await triggerCycles(ctx, [after.partition], "alter");
  return after;
}

/**
 * PBS holds, releases, alters and moves an array as a whole, never one subjob or a range of
 * them, started or not (OpenPBS req_holdjob/req_releasejob/req_modifyjob/req_movejob:
 * PBSE_IVALREQ for anything but a plain job or an array).
 */
export function refuseSubjob(ctx: SiteContext, id: string): void {
  if (subjobRef(keyOfId(id, ctx.site.short))) throw new InvalidStateError(`Invalid request ${id}`, "IVALREQ");
}

/**
 * qdel of a range (`12[1-5]`): each subjob of the array in the range, as qdel of each would;
 * indices the array does not have are passed over, as PBS does. The first refusal (a finished
 * subjob, another user's array) is thrown once the others are done.
 */
async function deleteRange(ctx: SiteContext, id: string, actor: Actor, how: DeleteHow): Promise<void> {
  const ref = subjobRef(keyOfId(id, ctx.site.short)) as NonNullable<ReturnType<typeof subjobRef>>;
  const parent = await ctx.store.getJob(ref.parentKey);
  if (!parent?.array) throw new NotFoundError(`Unknown Job Id ${id}`);
  mayActOn(actor, parent);
  const subs = (await arraySubjobs(ctx, parent, indexFilter(ref.part))).filter((j) => j.state !== "X");
  if (subs.length === 0) throw new NotFoundError(`Unknown Job Id ${id}`);
  let first: unknown;
  for (const sub of subs) {
    try {
      await deleteJob(ctx, sub.id, actor, how);
    } catch (err) {
      first ??= err;
    }
  }
  if (first) throw first;
}

/**
 * qdel of an array under way (B): the indices it has not started leave its list (they never
 * run, shown X), its running subjobs are killed, those handed to a peer are deleted there; the array ends when the last of them is
 * counted (job-end.ts subjobEnded), or at once when none runs.
 */
async function deleteArray(
  ctx: SiteContext,
  parent: JobRecord,
  actor: Actor,
  now: number,
  how: DeleteHow,
): Promise<void> {
  // (`parent`: the array as qdel's guarded read just found it, B)
  const { after } = await mutateJob(ctx, parent, (cur) => {
    mayActOn(actor, cur);
    const a = cur.array;
    if (cur.state !== "B" || !a) return { kind: "skip" };
    const dropped = a.indices.slice(a.next);
    const array = { ...a, indices: a.indices.slice(0, a.next), deleted: [...(a.deleted ?? []), ...dropped] };
    const message = `Job deleted at request of ${actor.user}`;
    const ends = array.running === 0 && array.done >= array.indices.length;
    return {
      kind: "write",
      after: {
        ...cur,
        array,
        delReq: true,
        mtime: now,
        ...(ends ? { state: "F" as const, obittime: now, exitStatus: array.failed ? 1 : 0 } : {}),
        comment: message,
        hist: withTrace(cur.hist, { time: now, source: "S", message }),
      },
    };
  });
  // by key (consistent reads), not through an index that may lag a subjob started just before
  const started = after?.array?.indices.map((i) => `${parent.key}[${i}]`) ?? [];
  // M not ended yet: handed to a peer, where the delete follows it (forwardOp)
  const running = [...(await ctx.store.getJobs(started)).values()].filter((j) => !listedFinished(j));
  for (const sub of running) {
    try {
      await deleteJob(ctx, sub.id, actor, how);
    } catch (err) {
      // a subjob that ended meanwhile is counted by its own end
      if (!(err instanceof InvalidStateError)) throw err;
    }
  }
  if (after && isFinished(after.state) && after.hasDeps)
    await sendEvents(ctx, [{ type: "ended", jobKey: after.key }]);
}

/**
 * qdel of a subjob that has not started: its index leaves the parent's list of indices still
 * to run for its list of deleted ones (one guarded write on the parent), so it never starts
 * and shows X. When that leaves the array with nothing to run, running or left, the array
 * ends as deleted.
 */
async function deleteQueuedSubjob(ctx: SiteContext, id: string, actor: Actor, now: number): Promise<boolean> {
  // (the caller found no record of the subjob's own: not started yet, or not a subjob at all)
  const ref = subjobRef(keyOfId(id, ctx.site.short));
  if (ref?.part.kind !== "subjob") return false;
  const index = ref.part.index;
  const parent = await ctx.store.getJob(ref.parentKey);
  if (!parent || !isUnstarted(parent, index)) return false;
  // the parent as just read starts the guarded write (a change since is a conflict, read again)
  const { after } = await mutateJob(ctx, parent, (cur) => {
    mayActOn(actor, cur);
    const a = cur.array;
    const at = a ? a.indices.indexOf(index, a.next) : -1;
    if (!a || at < 0) throw new NotFoundError(`Unknown Job Id ${id}`);
    const indices = [...a.indices.slice(0, at), ...a.indices.slice(at + 1)];
    const nothingLeft = indices.length === 0 || (a.next >= indices.length && a.running === 0);
    const message = `Subjob ${index} deleted at request of ${actor.user}`;
    return {
      kind: "write",
      after: {
        ...cur,
        array: { ...a, indices, deleted: [...(a.deleted ?? []), index] },
        mtime: now,
        ...(nothingLeft
          ? {
              state: "F" as const,
              obittime: now,
              // subjobs that ran decide the array's exit (PBS does not count deleted ones)
              ...(a.done > 0 ? { exitStatus: a.failed ? 1 : 0 } : {}),
              comment: `Job deleted at request of ${actor.user}`,
            }
          : {}),
        hist: withTrace(cur.hist, { time: now, source: "S", message }),
      },
    };
  });
  if (after && isFinished(after.state) && after.hasDeps)
    await sendEvents(ctx, [{ type: "ended", jobKey: after.key }]);
  return true;
}
