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
import { isFinished, type JobRecord, withHolds, withTrace } from "./job.js";
import { keyOfId, mutateJob } from "./mutate.js";
import { getQueue } from "./objects.js";
import { checkJobSize } from "./submit.js";

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
 * at the peer, or undefined when the job did not move.
 */
async function forwardOp(
  ctx: SiteContext,
  id: string,
  actor: Actor,
  op: "delete" | "hold" | "release",
): Promise<string | undefined> {
  const job = await ctx.store.getJob(keyOfId(id, ctx.site.short));
  if (job?.state !== "M" || !job.xfer?.newId) return undefined;
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
  return job.xfer.newId;
}

export async function deleteJob(
  ctx: SiteContext,
  id: string,
  actor: Actor,
): Promise<{ jobId: string; movedTo?: string }> {
  const movedTo = await forwardOp(ctx, id, actor, "delete");
  if (movedTo) return { jobId: id, movedTo };
  const now = ctx.clock.now();
  if (await deleteQueuedSubjob(ctx, id, actor, now)) return { jobId: id };
  let kill: JobRecord | undefined;
  const { after } = await mutateJob(ctx, keyOfId(id, ctx.site.short), (cur) => {
    mayActOn(actor, cur);
    kill = undefined;
    if (isFinished(cur.state)) throw finishedError(cur);
    if (cur.state === "R" || cur.state === "E") {
      kill = cur;
      if (cur.delReq) return { kind: "skip" };
      return {
        kind: "write",
        after: {
          ...cur,
          delReq: true,
          mtime: now,
          hist: withTrace(cur.hist, {
            time: now,
            source: "S",
            message: `delete job request received from ${actor.user}`,
          }),
        },
      };
    }
    if (cur.state === "B")
      throw new InvalidStateError(`deleting a running array job is not supported yet: ${cur.id}`);
    return {
      kind: "write",
      after: {
        ...cur,
        state: "F",
        obittime: now,
        mtime: now,
        comment: `Job deleted at request of ${actor.user}`,
        hist: withTrace(cur.hist, {
          time: now,
          source: "S",
          message: `Job deleted at request of ${actor.user}`,
        }),
      },
      acct: { time: now, jobId: cur.id, type: "D", data: { requestor: actor.user, queue: cur.queue } },
    };
  });
  if (kill?.momId)
    await ctx.executor.kill({ jobId: kill.id, momId: kill.momId, runCount: kill.runCount }, "qdel");
  if (after && isFinished(after.state) && after.hasDeps)
    await sendEvents(ctx, [{ type: "ended", jobKey: after.key }]);
  return { jobId: id };
}

export async function holdJob(ctx: SiteContext, id: string, actor: Actor, holdType = "u"): Promise<void> {
  mayUseHold(actor, holdType, id);
  await refuseQueuedSubjob(ctx, id);
  if (await forwardOp(ctx, id, actor, "hold")) return;
  const now = ctx.clock.now();
  await mutateJob(ctx, keyOfId(id, ctx.site.short), (cur) => {
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
}

export async function releaseJob(ctx: SiteContext, id: string, actor: Actor, holdType = "u"): Promise<void> {
  mayUseHold(actor, holdType, id);
  await refuseQueuedSubjob(ctx, id);
  if (await forwardOp(ctx, id, actor, "release")) return;
  const now = ctx.clock.now();
  const { after } = await mutateJob(ctx, keyOfId(id, ctx.site.short), (cur) => {
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
}

export async function rerunJob(ctx: SiteContext, id: string, actor: Actor): Promise<void> {
  // PBS: qrerun needs operator or manager privilege, even for one's own job
  if (!actor.privileged) throw new UnauthorizedError(`Unauthorized Request  ${id}`);
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
}

/** qalter: change a job that has not started. */
export async function alterJob(ctx: SiteContext, id: string, actor: Actor, opts: QsubOptions): Promise<void> {
  validateQsubOptions(opts);
  await refuseQueuedSubjob(ctx, id);
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
}

/** `123[4]` (a subjob key) -> its parent's key and index; undefined for any other key. */
function subjobOf(key: string): { parentKey: string; index: number } | undefined {
  const m = /^(\d+)\[(\d+)\]$/.exec(key);
  return m ? { parentKey: m[1], index: Number(m[2]) } : undefined;
}

/**
 * A subjob exists as a record only once it starts; before that it is an index its parent has
 * yet to start. Returns the parent when `id` names such a subjob.
 */
async function queuedSubjobParent(ctx: SiteContext, id: string): Promise<JobRecord | undefined> {
  const sub = subjobOf(keyOfId(id, ctx.site.short));
  if (!sub || (await ctx.store.getJob(keyOfId(id, ctx.site.short), false))) return undefined;
  const parent = await ctx.store.getJob(sub.parentKey);
  const a = parent?.array;
  if (!a || a.indices.indexOf(sub.index, a.next) < 0) return undefined;
  return parent;
}

/**
 * PBS holds, releases, alters and moves an array as a whole: a subjob that has not started
 * cannot be changed on its own (qdel of one is allowed: deleteQueuedSubjob).
 */
export async function refuseQueuedSubjob(ctx: SiteContext, id: string): Promise<void> {
  const parent = await queuedSubjobParent(ctx, id);
  if (parent)
    throw new InvalidStateError(
      `Request invalid for state of job ${id}: a subjob that has not started is changed with its array ${parent.id}`,
    );
}

/**
 * qdel of a subjob that has not started: its index leaves the parent's list of indices still
 * to run (one guarded write on the parent), so it never starts. When that leaves the array
 * with nothing to run, running or left, the array ends as deleted.
 */
async function deleteQueuedSubjob(ctx: SiteContext, id: string, actor: Actor, now: number): Promise<boolean> {
  const parent = await queuedSubjobParent(ctx, id);
  if (!parent) return false;
  const index = (subjobOf(keyOfId(id, ctx.site.short)) as { index: number }).index;
  const { after } = await mutateJob(ctx, parent.key, (cur) => {
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
        array: { ...a, indices },
        mtime: now,
        ...(nothingLeft
          ? { state: "F" as const, obittime: now, comment: `Job deleted at request of ${actor.user}` }
          : {}),
        hist: withTrace(cur.hist, { time: now, source: "S", message }),
      },
    };
  });
  if (after && isFinished(after.state) && after.hasDeps)
    await sendEvents(ctx, [{ type: "ended", jobKey: after.key }]);
  return true;
}
