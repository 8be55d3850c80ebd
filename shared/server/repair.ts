/**
 * The repair sweep: finish what a crash (or a lost message) left half-done between a job's end
 * and its follow-up, so that no job waits forever on something that already happened.
 *
 * A job's end is one conditional write; what follows it (release the dependents, count a
 * subjob on its array, tell a peer) is more writes and messages. SQS redelivers the message
 * that was being handled when a Lambda dies, but not when the local SQS emulator dies with the
 * runtime, not a message that went to a DLQ, and not a DEPEND_RELEASE that a peer answered
 * before the child it releases was written. So the waiting side looks, from time to time:
 *
 * - a job that still waits on a parent here that has ended (or started, for `after`):
 *   `releaseDependents(parent)` again (idempotent: it releases every child still waiting);
 * - a parent here that does not exist: the dependency can never be met (as a peer answers);
 * - a parent at a peer: DEPEND_REGISTER again; the peer adds the edge if it is missing and
 *   answers DEPEND_RELEASE at once if the parent has already ended. Re-sent with backoff;
 * - an array under way whose parent counts more running subjobs than are running: count the
 *   finished subjobs not counted yet (`extra.counted`).
 *
 * What it reads is bounded by the jobs that wait on other jobs: one query of the sparse wait
 * index (shared/adapters/dynamodb/table.ts), one BatchGet of their local parents, and for arrays whose
 * counts disagree, their finished subjobs. Every step it takes is the same idempotent step the
 * normal path takes, so it may race the normal path (an end being released right now) safely.
 */
import { parseDepend } from "../pbs/depend.js";
import { parseJobId } from "../pbs/jobid.js";
import type { JobRecord } from "./job.js";
import type { WaitingJob } from "../server/records.js";
import { findPeer, isThisSite, type PeerInfo, type SiteContext } from "./context.js";
import { sendToPeerBatch } from "./messages.js";
import { edgeOutcome } from "./depend-rules.js";
import { applyDependencyOutcome, type EndResult, releaseDependents, subjobEnded } from "./job-end.js";

export interface RepairResult extends EndResult {
  /** jobs in the wait index */
  waiting: number;
  /** local parents whose dependents were released again (they had ended or started) */
  parentsReleased: string[];
  /** DEPEND_REGISTER messages re-sent to peers */
  registersSent: number;
  /** waiting jobs ended because a local parent they name does not exist */
  missingParents: number;
  /** finished subjobs counted on their array */
  subjobsCounted: number;
}

const lastRun = new WeakMap<object, number>();

/**
 * Whether the repair sweep is due: at the first tick of a process (a restart is when a crash
 * has left something half-done), then at most once per `repairIntervalMs`. Keyed by the store,
 * so a Lambda container that builds a new handler per invocation still keeps the cadence.
 */
export function repairDue(ctx: SiteContext, now = ctx.clock.now()): boolean {
  const last = lastRun.get(ctx.store);
  if (last !== undefined && now - last < ctx.settings.repairIntervalMs) return false;
  lastRun.set(ctx.store, now);
  return true;
}

/** Re-registrations sent by this process, per site/child/parent: backoff x2 each, up to 64x. */
const registered = new Map<string, { n: number; at: number }>();

export async function repairStranded(ctx: SiteContext): Promise<RepairResult> {
  const res: RepairResult = {
    partitions: [],
    ended: [],
    waiting: 0,
    parentsReleased: [],
    registersSent: 0,
    missingParents: 0,
    subjobsCounted: 0,
  };
  const waiting = await ctx.store.queryWaiting();
  res.waiting = waiting.length;
  if (!waiting.length) return res;
  await repairDependencies(
    ctx,
    waiting.filter((j) => j.depPending?.length),
    res,
  );
  await repairArrays(
    ctx,
    waiting.filter((j) => j.state === "B" && !j.depPending?.length),
    res,
  );
  if (res.parentsReleased.length || res.registersSent || res.missingParents || res.subjobsCounted)
    ctx.log.info(
      `repair: ${res.waiting} waiting; released dependents of ${res.parentsReleased.length} parent(s) [${res.parentsReleased.join(" ")}], re-registered ${res.registersSent} with peers, ${res.missingParents} missing parent(s), counted ${res.subjobsCounted} subjob(s)`,
    );
  return res;
}

/** The key of a job ID of this site: "123.casper" -> "123", "123[].casper" -> "123", "123[4]" -> "123[4]". */
function localKey(ref: { seq: string; arrayIndex?: string }): string {
  return ref.arrayIndex !== undefined && ref.arrayIndex !== "" ? `${ref.seq}[${ref.arrayIndex}]` : ref.seq;
}

async function repairDependencies(ctx: SiteContext, jobs: WaitingJob[], res: RepairResult): Promise<void> {
  const now = ctx.clock.now();
  // parent key -> the waiting jobs that name it (child ID, the parent ID as the child holds it)
  const local = new Map<string, { childId: string; parentId: string; child: WaitingJob }[]>();
  const remote = new Map<string, { peer: PeerInfo; childId: string; parentId: string; depType: string }[]>();
  for (const child of jobs) {
    for (const parentId of child.depPending ?? []) {
      let ref: ReturnType<typeof parseJobId>;
      try {
        ref = parseJobId(parentId);
      } catch {
        continue;
      }
      if (isThisSite(ctx, ref.server)) {
        const k = localKey(ref);
        local.set(k, [...(local.get(k) ?? []), { childId: child.id, parentId, child }]);
        continue;
      }
      const peer = findPeer(ctx, ref.server);
      if (!peer) {
        ctx.log.warn(`repair: ${child.id} waits on ${parentId}, at no configured peer: left waiting`);
        continue;
      }
      const depType = remoteDepType(ctx, child, parentId);
      if (!depType) {
        ctx.log.warn(`repair: ${child.id} waits on ${parentId}, not named in its depend list: left waiting`);
        continue;
      }
      const k = `${ctx.site.short}/${child.id}/${parentId}`;
      const r = registered.get(k);
      if (r && now - r.at < ctx.settings.repairIntervalMs * 2 ** Math.min(r.n - 1, 6)) continue;
      registered.set(k, { n: (r?.n ?? 0) + 1, at: now });
      remote.set(peer.short, [
        ...(remote.get(peer.short) ?? []),
        { peer, childId: child.id, parentId, depType },
      ]);
    }
  }
  // Forget backoff state of jobs no longer waiting.
  const stillWaiting = new Set(jobs.map((j) => j.id));
  for (const k of registered.keys()) {
    const [site, childId] = k.split("/");
    if (site === ctx.site.short && !stillWaiting.has(childId)) registered.delete(k);
  }

  if (local.size) {
    const parents = await ctx.store.getJobs([...local.keys()]);
    for (const [key, children] of local) {
      const parent = parents.get(key);
      if (!parent) {
        // Never existed (or was dropped): the dependency can never be met. A peer gives the
        // same answer for an unknown parent.
        for (const c of children) {
          const r = await applyDependencyOutcome(
            ctx,
            c.childId,
            c.parentId,
            localDepType(ctx, c.child, c.parentId) ?? "after",
            "unsatisfiable",
            `Unknown Job Id ${c.parentId}`,
          );
          res.missingParents++;
          res.partitions.push(...r.partitions);
          res.ended.push(...r.ended);
        }
        continue;
      }
      // Only when some child's dependency has an outcome now: a running parent with afterok
      // children costs no edge query. (A before-type edge is not in the child's own depend
      // list: for it, any start or end counts.)
      const due = children.some((c) => {
        const t = localDepType(ctx, c.child, c.parentId);
        return t ? edgeOutcome(t, parent) !== "pending" : reached(parent);
      });
      if (!due) continue;
      // Ended (or started) and the child still waits: the release never ran, or is running now.
      const r = await releaseDependents(ctx, key);
      res.parentsReleased.push(parent.id);
      res.partitions.push(...r.partitions);
      res.ended.push(...r.ended);
    }
  }

  for (const regs of remote.values()) {
    await sendToPeerBatch(
      ctx,
      regs[0].peer,
      regs.map((x) => ({
        type: "DEPEND_REGISTER" as const,
        parentId: x.parentId,
        childId: x.childId,
        depType: x.depType,
      })),
    );
    res.registersSent += regs.length;
  }
}

/** Whether some dependency type on `parent` has an outcome: it started (after) or ended (the rest). */
function reached(parent: JobRecord): boolean {
  return edgeOutcome("after", parent) !== "pending" || edgeOutcome("afterany", parent) !== "pending";
}

/**
 * The type a child registered with a peer for `parentId` (submit.ts normalizes the parent ID
 * to `<seq>[<index>].<peer short>` the same way), or undefined if its depend list lost it.
 */
function remoteDepType(ctx: SiteContext, child: WaitingJob, parentId: string): string | undefined {
  if (!child.depend) return undefined;
  try {
    for (const d of parseDepend(child.depend)) {
      for (const ref of d.jobs) {
        const pid = parseJobId(ref);
        const peer = findPeer(ctx, pid.server);
        if (!peer) continue;
        const id = `${pid.seq}${pid.arrayIndex !== undefined ? `[${pid.arrayIndex}]` : ""}.${peer.short}`;
        if (id === parentId) return d.type;
      }
    }
  } catch {
    return undefined;
  }
  return undefined;
}

/** The type of a local dependency, for the message when its parent is missing. */
function localDepType(ctx: SiteContext, child: WaitingJob, parentId: string): string | undefined {
  if (!child.depend) return undefined;
  try {
    const want = parseJobId(parentId);
    for (const d of parseDepend(child.depend))
      for (const ref of d.jobs) {
        const r = parseJobId(ref);
        if (
          !d.type.startsWith("before") &&
          isThisSite(ctx, r.server) &&
          r.seq === want.seq &&
          r.arrayIndex === want.arrayIndex
        )
          return d.type;
      }
  } catch {
    return undefined;
  }
  return undefined;
}

/**
 * Arrays under way: a subjob's end and its count on the parent are two writes. The parent's
 * `running` counts subjobs started (or handed to a peer: their ends come back by JOB_END) and not
 * counted yet; when more are counted as running than the run index holds, read the finished
 * subjobs and count those not counted (subjobEnded is idempotent: the subjob's `counted` flag and
 * both versions guard it). An array with subjobs at a peer costs this read at every sweep until
 * they end.
 */
async function repairArrays(ctx: SiteContext, arrays: WaitingJob[], res: RepairResult): Promise<void> {
  if (!arrays.length) return;
  const parents = await ctx.store.getJobs(arrays.map((a) => a.key));
  const runningBy = new Map<string, Promise<JobRecord[]>>();
  for (const parent of parents.values()) {
    if (parent.state !== "B" || !parent.array || parent.array.running <= 0) continue;
    let running = runningBy.get(parent.partition);
    if (!running) {
      running = ctx.store.queryRunning(parent.partition);
      runningBy.set(parent.partition, running);
    }
    const live = (await running).filter((j) => j.parentKey === parent.key).length;
    if (live >= parent.array.running) continue;
    for (const sub of await ctx.store.finishedSubjobs(parent)) {
      if (sub.parentKey !== parent.key || sub.extra?.counted === "1") continue;
      await subjobEnded(ctx, sub);
      res.subjobsCounted++;
    }
  }
}
