/**
 * Ends of jobs: obituaries from MOMs, MOMs that restart or go silent, and the release of the
 * jobs that depend on them. Every function here is idempotent: SQS may deliver the same
 * message twice, out of order, after a crash half-way through.
 */
import { countMomRefusal } from "../observability/metrics.js";
import type { Obituary } from "../ports/index.js";
import { formatWalltime } from "../pbs/walltime.js";
import { formatSize } from "../pbs/size.js";
import { runComment } from "../pbs/time.js";
import type { AcctRecord } from "../server/records.js";
import { beatIsGenuine, MomReportError, nodeOfMomId } from "../auth/mom-report.js";
import { findPeer, type SiteContext } from "./context.js";
import { sendToPeer } from "./messages.js";
import { loadServerState } from "./server-state.js";
import { helloPower } from "./node-power.js";
import { edgeOutcome } from "./depend-rules.js";
import type { EndResult } from "./end-result.js";
import { endFields, isFinished, type JobRecord, withHolds, withTrace } from "./job.js";
import { subjobEnded } from "./array-count.js";
import { reportEnd, reportState } from "../peers/receiver.js";
import { keyOfId, mutateJob } from "./mutate.js";
import { nodePartition } from "./objects.js";
import { mailIfMarked, markMail } from "./mail.js";
import { groupEnsureAcct, groupSettle } from "./group-commit.js";
import { acct, queuedRecord, startRecord } from "./acct-records.js";

// (their home is acct-records.ts, which submit reaches without this module's imports)
export { acct, queuedRecord, startRecord };

// (its home is array-count.ts, which the peer protocol and ops reach without this module's imports)
export { subjobEnded };

/** PBS exit status for a job lost with its MOM and not rerunnable (JOB_EXEC_FAIL2). */
export const EXIT_LOST = -2;

export type { EndResult } from "./end-result.js";

/**
 * The accounting of a job an obituary ended (`endAcct` set by that write): its E or D record and
 * its project's charge, built from the finished job item alone, so a redelivered obituary
 * rebuilds exactly what the first delivery would have written.
 *
 * Why not in the job's transaction, as before: DynamoDB bills every item of a transaction twice,
 * and the ~2 KB job item was the most of it (issue 14: 4 WRU instead of 2 per end). So the end
 * is two steps, and each is idempotent:
 *   1. the job's conditional write (endAcct, obittime, used, exitStatus): decides the end once;
 *   2. this: the record, conditional on its key (time = obittime, job ID, type) being free, and
 *      the charge, in one small transaction (ledger settleEnd): both land once, or neither.
 * A crash (SIGKILL, a throttled transaction) between 1 and 2 leaves the obituary unacknowledged:
 * SQS redelivers it, handleObituary finds the job finished with this run (stale) and comes here
 * again; a redelivery after 2 finds the record there and charges nothing.
 *
 * The Q and S records are plain puts after their job writes (submit, claim), so a crash there
 * could lose one: they are checked here too (a half-unit read each) and put if missing.
 */
export async function settleEnd(ctx: SiteContext, job: JobRecord): Promise<void> {
  const type = job.endAcct ?? "E";
  const now = job.obittime ?? job.mtime;
  const used = job.used ?? { walltime: 0, cput: 0, mem: 0, ncpus: 1 };
  const ensure: AcctRecord[] = [];
  if (!job.parentKey) {
    if (!job.inbound) ensure.push(queuedRecord(job));
    if (job.stime !== undefined) ensure.push(startRecord(job));
  }
  if (ensure.length) await groupEnsureAcct(ctx.store, ensure);
  const walltime = Math.round(used.walltime);
  await groupSettle(ctx.store, {
    rec: acct(job, type, now, {
      Exit_status: job.exitStatus ?? 0,
      end: Math.floor(now / 1000),
      "resources_used.walltime": formatWalltime(used.walltime),
      "resources_used.cput": formatWalltime(used.cput),
      "resources_used.mem": formatSize(used.mem),
      "resources_used.ncpus": used.ncpus,
    }),
    // Work run for a peer is counted apart (for_<origin>); the origin charges its project when
    // JOB_END arrives.
    charge: job.account
      ? {
          account: job.account,
          where: job.inbound ? `for_${job.inbound.from}` : ctx.site.short,
          coreSeconds: walltime * (Number(job.rl.ncpus) || used.ncpus || 1),
          walltime,
        }
      : undefined,
  });
}

export function requeueFields(cur: JobRecord, now: number, comment: string): JobRecord {
  return {
    ...cur,
    state: "Q",
    alloc: undefined,
    execHost: undefined,
    execVnode: undefined,
    momId: undefined,
    stime: undefined,
    rerunReq: undefined,
    mtime: now,
    qtime: cur.qtime,
    comment,
    hist: withTrace(cur.hist, { time: now, source: "S", message: comment }),
  };
}

export async function handleObituary(ctx: SiteContext, o: Obituary): Promise<EndResult> {
  const key = keyOfId(o.jobId, ctx.site.short);
  const now = ctx.clock.now();
  let outcome: "ended" | "requeued" | "held" | "refused" | "stale" | "misdirected" = "stale";
  const { before, after } = await mutateJob(
    ctx,
    key,
    (cur) => {
      outcome = "stale";
      if (cur.runCount !== o.runCount || !(cur.state === "R" || cur.state === "E")) return { kind: "skip" };
      // Only the MOM that runs the job, or a later MOM of the same node that adopted or
      // recovered the run (its key binds the node), may end it.
      if (cur.momId !== o.momId && nodeOfMomId(o.momId) !== cur.alloc?.[0]?.node) {
        outcome = "misdirected";
        return { kind: "skip" };
      }
      const used = o.resourcesUsed;
      // where the MOM wrote the output, in the same write: the API reads a finished job's
      // output from there only
      const withUsage: JobRecord = { ...cur, used, obittime: now, delivered: o.delivered };
      // A run its MOM refused never started: requeued with the MOM's reason (no usage, no
      // accounting: PBS writes an R record only for a run that ran), held after too many. A
      // subjob cannot be requeued alone (see jobLost): it ends failed below, with the reason.
      if (o.refused && !cur.delReq && !cur.parentKey) {
        outcome = "refused";
        return { kind: "write", after: refusedFields(ctx, cur, now, o) };
      }
      if ((cur.rerunReq || o.killedFor === "rerun") && !cur.delReq) {
        outcome = "requeued";
        return { kind: "write", after: requeueFields(withUsage, now, "Job requeued by qrerun") };
      }
      // As PBS (post_stagein): a failed stage-in holds the job (hold s, which an operator
      // releases) with the reason, instead of ending it; the MOM left the file system as it
      // was. A subjob cannot be held on its own, so it ends failed like any run that did not start.
      if (o.stageinFailed && !cur.delReq && o.killedFor !== "qdel" && !cur.parentKey) {
        outcome = "held";
        const comment = `Job held: ${o.comment ?? "File stage in failed"}`;
        // PBS mails a stage-in failure whatever -m says (MAIL_FORCE)
        return {
          kind: "write",
          after: markMail(
            ctx,
            {
              ...requeueFields(withUsage, now, comment),
              state: "H",
              holds: cur.holds.includes("s") ? cur.holds : `${cur.holds}s`,
            },
            "a",
            { force: true },
          ),
        };
      }
      outcome = "ended";
      const deleted = cur.delReq || o.killedFor === "qdel";
      const comment = deleted
        ? `Job deleted at request of ${cur.user}; Exit_status=${o.exitStatus}`
        : // as PBS (update_job_finish_comment): the run comment with " and finished" after it
          (o.comment ?? `${runComment(cur.stime ?? now, cur.execVnode)} and finished`);
      const after = endFields(
        withUsage,
        now,
        o.exitStatus,
        comment,
        `Exit_status=${o.exitStatus} resources_used.walltime=${formatWalltime(used.walltime)} resources_used.cput=${formatWalltime(used.cput)} resources_used.mem=${formatSize(used.mem)}${o.comment ? ` (${o.comment})` : ""}`,
      );
      return {
        kind: "write",
        // -m e: marked in the write that ends the run (a redelivered obituary is stale: no mail).
        // Its E/D record and the project's charge are not in this write: settleEnd, below.
        after: markMail(ctx, { ...after, endAcct: deleted ? "D" : "E" }, "e"),
      };
    },
    // the obituaries of one SQS batch end their jobs in shared transactions (group commit)
    { missingOk: true, group: true },
  );
  if (!before) {
    ctx.log.warn(`obituary for unknown job ${o.jobId}: ignored`);
    return { partitions: [], ended: [] };
  }
  if ((outcome as string) === "misdirected")
    throw new MomReportError("misdirected", `obituary from ${o.momId} for ${o.jobId}, which runs elsewhere`);
  const job = after ?? before;
  // A redelivered obituary finds the job already finished with this run: finish the follow-up
  // work (array parent, dependents) again; each step is idempotent.
  if (outcome === "stale" && !(isFinished(job.state) && job.runCount === o.runCount))
    return { partitions: [], ended: [] };
  // Ended by this obituary (now, or by an earlier delivery that may have died before its record):
  // its accounting, exactly once. Before anything else, so a failure redelivers the obituary.
  if (job.endAcct && isFinished(job.state) && job.runCount === o.runCount) await settleEnd(ctx, job);
  const res: EndResult = { partitions: [job.partition], ended: [] };
  // The run is settled: a MOM that held only it (ECS: one MOM per run) will say nothing more,
  // so its heartbeat item goes now (the TTL would take it later). Best effort: a failure here
  // must not redeliver an obituary whose end is written. A node's MOM keeps beating into its
  // one item: no delete per job for it. (`?.`: contexts built for the store alone, as the
  // dependency race tests build them, carry no executor.)
  if (ctx.executor?.momPerRun)
    await ctx.store
      .dropMomBeat(o.momId, { jobId: o.jobId, runCount: o.runCount })
      .catch((err) => ctx.log.warn(`obituary of ${o.jobId}: heartbeat of ${o.momId} not dropped: ${err}`));
  // (assigned inside the decide callback, which TypeScript's narrowing does not follow)
  const result = outcome as "ended" | "requeued" | "held" | "refused" | "stale";
  if (result === "ended")
    await mailIfMarked(
      ctx,
      before,
      after,
      "e",
      `Exit_status=${o.exitStatus}\nresources_used.cput=${formatWalltime(o.resourcesUsed.cput)}\nresources_used.mem=${formatSize(o.resourcesUsed.mem)}\nresources_used.ncpus=${o.resourcesUsed.ncpus}\nresources_used.walltime=${formatWalltime(o.resourcesUsed.walltime)}`,
    );
  else if (result === "held") await mailIfMarked(ctx, before, after, "a", job.comment);
  if (result === "ended") {
    ctx.metrics?.count(o.exitStatus === 0 ? "JobsFinished" : "JobsFailed", 1, { queue: job.queue });
    ctx.metrics?.ms("JobWalltime", o.resourcesUsed.walltime * 1000);
  } else if (result === "requeued") {
    ctx.metrics?.count("JobsRequeued");
    // requeued here (qrerun), a job moved here from a peer: its origin shows it queued again
    if (job.inbound) await reportState(ctx, job);
  } else if (result === "held") ctx.metrics?.count("JobsStageinFailed");
  else if (result === "refused") {
    // per node and reason: a node that refuses every run shows in its own series
    ctx.metrics?.count("RunsRefused", 1, { reason: o.refused ?? "spec", node: nodeOfMomId(o.momId) });
    ctx.log.warn(`obituary: ${o.momId} refused ${o.jobId} run ${o.runCount}: ${o.comment ?? o.refused}`);
    if (job.inbound) await reportState(ctx, job);
  }
  if (isFinished(job.state)) {
    if (job.parentKey) await subjobEnded(ctx, job);
    if (job.hasDeps) res.ended.push(job.key);
  }
  return res;
}

/**
 * Look at every job that depends on `parentKey` and release, keep waiting, or end it.
 * Safe to run any number of times: a child that no longer lists the parent is left alone.
 */
export async function releaseDependents(ctx: SiteContext, parentKey: string): Promise<EndResult> {
  const res: EndResult = { partitions: [], ended: [] };
  const { job: parent, edges } = await ctx.store.getJobWithEdges(parentKey);
  if (!parent) return res;
  // A job moved here from a peer: its origin must hear the end (re-sent by the sweeper until acknowledged).
  if (parent.inbound && isFinished(parent.state)) await reportEnd(ctx, parent);
  for (const e of edges) {
    const outcome = edgeOutcome(e.type, parent);
    if (outcome === "pending") continue;
    // The child's site: recorded on the edge, and in any case the suffix of its ID.
    const childSite = e.site ?? e.childId.slice(e.childId.indexOf(".", e.childId.indexOf("]") + 1) + 1);
    if (childSite && childSite !== ctx.site.short) {
      // The child waits at a peer: tell it. Its site applies the outcome idempotently.
      const peer = findPeer(ctx, childSite);
      if (!peer) {
        ctx.log.warn(`dependent ${e.childId} is at ${childSite}, which is not a configured peer: not told`);
        continue;
      }
      await sendToPeer(ctx, peer, {
        type: "DEPEND_RELEASE",
        parentId: parent.id,
        childId: e.childId,
        depType: e.type,
        outcome,
        reason:
          outcome === "unsatisfiable"
            ? `job ${parent.id} ended with Exit_status ${parent.exitStatus}`
            : undefined,
      });
      continue;
    }
    const r = await applyDependencyOutcome(ctx, e.childId, parent.id, e.type, outcome);
    res.partitions.push(...r.partitions);
    res.ended.push(...r.ended);
  }
  return res;
}

/**
 * One parent of `childId` reached an outcome: release the child when it was the last thing it
 * waited for, or end it when the dependency can never be met. Idempotent: a child that no
 * longer lists the parent is left alone (a redelivered message changes nothing).
 */
export async function applyDependencyOutcome(
  ctx: SiteContext,
  childId: string,
  parentId: string,
  type: string,
  outcome: "satisfied" | "unsatisfiable",
  reason?: string,
): Promise<EndResult> {
  const now = ctx.clock.now();
  const { after } = await mutateJob(
    ctx,
    keyOfId(childId, ctx.site.short),
    (child) => {
      if (!child.depPending?.includes(parentId) || isFinished(child.state)) return { kind: "skip" };
      const depPending = child.depPending.filter((p) => p !== parentId);
      if (outcome === "unsatisfiable") {
        const why = `dependency ${type}:${parentId} can never be satisfied${reason ? ` (${reason})` : ""}`;
        return {
          kind: "write",
          after: {
            ...endFields(child, now, undefined, `Job deleted: ${why}`, `Job deleted: ${why}`),
            depPending,
          },
          acct: acct(child, "D", now, { requestor: "Scheduler", reason: why }),
        };
      }
      const stillWaiting = depPending.length > 0 || (child.depOn ?? 0) > 0;
      const holds = stillWaiting ? child.holds : child.holds.replace("s", "");
      return {
        kind: "write",
        after: {
          ...withHolds(child, holds, now, `Dependency ${type}:${parentId} satisfied`),
          depPending: depPending.length ? depPending : undefined,
        },
      };
    },
    { missingOk: true },
  );
  const res: EndResult = { partitions: [], ended: [] };
  if (!after) return res;
  if (after.state === "Q") res.partitions.push(after.partition);
  if (isFinished(after.state) && after.hasDeps) res.ended.push(after.key);
  return res;
}

/** What PBS says of a job held after too many failed starts (req_runjob.c check_failed_attempts). */
export const TOO_MANY_REFUSALS = "job held, too many failed attempts to run";

/**
 * A refused run's job: back to Q with the MOM's reason, counted; held (hold s) once its runs
 * were refused settings.maxRunRefusals times, so it cannot loop between Q and a refusing node.
 */
function refusedFields(ctx: SiteContext, cur: JobRecord, now: number, o: Obituary): JobRecord {
  const refusals = (cur.refusals ?? 0) + 1;
  const why = o.comment ?? `MOM ${o.momId} refused the run (${o.refused})`;
  const requeued = { ...requeueFields(cur, now, `Job requeued: ${why}`), refusals };
  if (refusals < ctx.settings.maxRunRefusals) return requeued;
  return {
    ...requeued,
    state: "H",
    holds: cur.holds.includes("s") ? cur.holds : `${cur.holds}s`,
    comment: TOO_MANY_REFUSALS,
    hist: withTrace(requeued.hist, {
      time: now,
      source: "S",
      message: `Job held after ${refusals} refused runs (last: ${why})`,
    }),
  };
}

/** A job whose MOM is gone: requeue it if it may rerun, else end it with a reason. */
export async function jobLost(ctx: SiteContext, job: JobRecord, why: string): Promise<EndResult> {
  const now = ctx.clock.now();
  const { before, after } = await mutateJob(
    ctx,
    job.key,
    (cur) => {
      if (cur.runCount !== job.runCount || !(cur.state === "R" || cur.state === "E")) return { kind: "skip" };
      if (cur.delReq) {
        return {
          kind: "write",
          after: endFields(cur, now, 271, `Job deleted; its MOM was lost (${why})`, `Job deleted (${why})`),
          acct: acct(cur, "D", now, { reason: why }),
        };
      }
      if (cur.rerunnable && !cur.parentKey) {
        return { kind: "write", after: requeueFields(cur, now, `Job requeued: ${why}`) };
      }
      return {
        kind: "write",
        after: endFields(
          markMail(ctx, cur, "a"),
          now,
          EXIT_LOST,
          `Job failed: ${why}; ${cur.parentKey ? "subjobs are not requeued" : "not rerunnable"}`,
          `Job failed: ${why}`,
        ),
        acct: acct(cur, "E", now, { Exit_status: EXIT_LOST, reason: why }),
      };
    },
    { missingOk: true },
  );
  if (!after) return { partitions: [], ended: [] };
  await mailIfMarked(ctx, before, after, "a", after.comment);
  ctx.metrics?.count("JobsLost", 1, { outcome: isFinished(after.state) ? "ended" : "requeued" });
  // requeued with its lost MOM, a job moved here from a peer: its origin shows it queued again
  if (after.inbound && !isFinished(after.state)) await reportState(ctx, after);
  if (after.parentKey && isFinished(after.state)) await subjobEnded(ctx, after);
  return {
    partitions: [after.partition],
    ended: isFinished(after.state) && after.hasDeps ? [after.key] : [],
  };
}

/** Runs a restarted MOM found on its node: still running (adopted) or ended (reported). */
export interface MomRecovered {
  running: { jobId: string; runCount: number }[];
  ended: { jobId: string; runCount: number }[];
}

/**
 * A MOM (re)started on a node, the way pbs_mom -p tells the server at boot: runs it adopted
 * now belong to it (their momId moves, so qdel and the sweeper find it), runs it reported
 * ended wait for their obituaries, and whatever else the node was running under an earlier
 * MOM is gone. A hello older than the node's last accepted one is refused as replayed: it
 * would declare lost the runs a newer MOM adopted.
 */
export async function momHello(
  ctx: SiteContext,
  momId: string,
  node: string,
  sentAt: number,
  recovered: MomRecovered = { running: [], ended: [] },
): Promise<EndResult> {
  if (!(await ctx.store.putMomBoot(node, momId, sentAt)))
    throw new MomReportError("replayed", `hello from ${momId} is older than ${node}'s last MOM boot`);
  // a powering-on pool node is up from its MOM's hello (the cycle this hello asks for places on it)
  await helloPower(ctx, node);
  const st = await loadServerState(ctx);
  const n = st.nodes.get(node);
  const res: EndResult = { partitions: [], ended: [] };
  if (!n) return res;
  const ref = (r: { jobId: string; runCount: number }) =>
    `${r.runCount}\u0000${keyOfId(r.jobId, ctx.site.short)}`;
  const adopted = new Set(recovered.running.map(ref));
  const reported = new Set(recovered.ended.map(ref));
  const running = await ctx.store.queryRunning(nodePartition(n));
  for (const j of running) {
    const first = j.alloc?.[0]?.node;
    if (first !== node || j.momId === momId) continue;
    const r = `${j.runCount}\u0000${j.key}`;
    if (reported.has(r)) continue; // its obituary is on the way
    if (adopted.has(r)) {
      await mutateJob(
        ctx,
        j.key,
        (cur) =>
          cur.runCount !== j.runCount || cur.state !== "R" || cur.alloc?.[0]?.node !== node
            ? { kind: "skip" }
            : { kind: "write", after: { ...cur, momId, mtime: ctx.clock.now() } },
        { missingOk: true },
      );
      continue;
    }
    const lost = await jobLost(ctx, j, `MOM on ${node} restarted`);
    res.partitions.push(...lost.partitions);
    res.ended.push(...lost.ended);
  }
  if (res.partitions.length === 0) res.partitions.push(nodePartition(n));
  return res;
}

/** Periodic check of running jobs against their MOMs' heartbeats. */
export async function sweepRunning(ctx: SiteContext, partition: string): Promise<EndResult> {
  const res: EndResult = { partitions: [], ended: [] };
  const now = ctx.clock.now();
  const running = await ctx.store.queryRunning(partition);
  if (!running.length) return res;
  const beats = await ctx.store.getMomBeats(running.map((j) => j.momId ?? "").filter(Boolean));
  // A server that just came up (the local runtime after a crash) gives its MOMs momStaleMs to
  // beat and say hello before judging their silence: they were down with it.
  const upFor = ctx.upSince === undefined ? Number.POSITIVE_INFINITY : now - ctx.upSince;
  for (const j of running) {
    const beat = j.momId ? beats.get(j.momId) : undefined;
    const since = Math.min(now - (j.stime ?? now), upFor);
    if (beat && ctx.momSecret && !beatIsGenuine(ctx.momSecret, beat)) {
      // Not written by that MOM: trusting it could requeue a running job (run twice). Judge
      // nothing on it; the MOM's next genuine beat replaces it.
      countMomRefusal(ctx.metrics, "MomReportsRefused", "forged", { kind: "beat" });
      ctx.log.warn(`sweeper: heartbeat of ${beat.momId} is not signed by it: ignored`);
      continue;
    }
    let why: string | undefined;
    if (!beat) {
      if (since > ctx.settings.dispatchGraceMs) why = `MOM ${j.momId} never reported`;
    } else if (
      now - Math.max(beat.at, j.stime ?? 0) > ctx.settings.momStaleMs &&
      upFor > ctx.settings.momStaleMs
    ) {
      // Silent for momStaleMs since its last beat or this run's start, whichever is later: a MOM
      // with no jobs beats rarely (idle is idle, shared/exec/mom.ts), and its first beat about a
      // new run may come up to one heartbeat after the dispatch.
      why = `MOM ${j.momId} went silent (last heartbeat ${Math.round((now - beat.at) / 1000)} s ago)`;
    } else if (
      !beat.jobs.some((x) => x.jobId === j.id && x.runCount === j.runCount) &&
      beat.at - (j.stime ?? now) > ctx.settings.dispatchGraceMs
    ) {
      why = `MOM ${j.momId} does not know the job`;
    }
    if (why) {
      // first stop what may still run it (an ECS task whose MOM only went silent): the requeued
      // run must not run beside it. Not known to be stopped: judged again at the next sweep.
      if (j.momId && ctx.executor.stopLost) {
        try {
          await ctx.executor.stopLost({ jobId: j.id, momId: j.momId, runCount: j.runCount }, why);
        } catch (err) {
          ctx.metrics?.count("LostRunStopFailed", 1);
          ctx.log.warn(
            `sweeper: could not stop the run of ${j.id} (${why}), left for the next sweep: ${(err as Error).message}`,
          );
          continue;
        }
      }
      const r = await jobLost(ctx, j, why);
      res.partitions.push(...r.partitions);
      res.ended.push(...r.ended);
      continue;
    }
    const used = beat?.jobs.find((x) => x.jobId === j.id && x.runCount === j.runCount)?.used;
    if (used) await recordUsage(ctx, j, used);
  }
  return res;
}

/**
 * resources_used of a running job from its MOM's (genuine) heartbeat, so qstat -f shows it grow
 * as PBS does. Throttled: written when the reported walltime is `usedUpdateMs` past the stored
 * one (or the run is a new one, whose walltime starts again below it), so a running job is
 * rewritten about once a minute, not on every beat. A conditional write on the fresh job: the
 * obituary's final figures, or a run that ended meanwhile, are never overwritten.
 */
async function recordUsage(
  ctx: SiteContext,
  j: JobRecord,
  used: { walltime: number; cput: number; mem: number },
): Promise<void> {
  const due = (cur: JobRecord) =>
    !cur.used ||
    used.walltime < cur.used.walltime ||
    (used.walltime - cur.used.walltime) * 1000 >= ctx.settings.usedUpdateMs;
  if (!due(j)) return;
  const now = ctx.clock.now();
  await mutateJob(
    ctx,
    j.key,
    (cur) =>
      cur.state !== "R" || cur.runCount !== j.runCount || !due(cur)
        ? { kind: "skip" }
        : {
            kind: "write",
            after: {
              ...cur,
              used: {
                walltime: Math.max(0, Math.floor(used.walltime)),
                cput: Math.max(0, Math.round(used.cput)),
                mem: Math.max(0, Math.round(used.mem)),
                ncpus: Number(cur.rl.ncpus ?? 1) || 1,
              },
              mtime: now,
            },
          },
    { missingOk: true },
  ).catch((err) => ctx.log.warn(`sweeper: resources_used of ${j.id}: ${(err as Error).message}`));
}
