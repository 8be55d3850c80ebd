/**
 * Moving a queued job to a peer, exactly once, over messages that may be lost, duplicated,
 * delayed or reordered, between sites that may crash at any step.
 *
 *   origin                                   receiver
 *   Q --(conditional write)--> T  FORWARD -->  policy, identity map
 *                                           <-- REJECT(reason)         origin: T -> Q, comment
 *                                           <-- ACCEPT(newId)          job created in T (held)
 *   T --(conditional write)--> M  COMMIT  -->  T -> Q: now it may run
 *   T past deadline --> Q         ABORT   -->  T job dropped / tombstone
 *                                 ...
 *                                           <-- JOB_END(usage)         origin: M gets the outcome
 *                                 JOB_END_ACK -->
 *
 * Why it holds:
 * - The origin is the coordinator. Its job record moves T -> M or T -> Q by a conditional write,
 *   so exactly one of COMMIT or ABORT can ever be decided for a transfer.
 * - The receiver creates the job in T and never runs it before COMMIT, so a job returned to the
 *   origin's queue (timeout, REJECT) cannot also run at the receiver. An ACCEPT that reaches an
 *   origin which has moved on is answered with ABORT.
 * - The receiver records every transfer ID it has seen (XFER item, written with the job in one
 *   transaction, or as a tombstone by ABORT), so a duplicate FORWARD re-sends the first answer
 *   and a FORWARD that arrives after its ABORT creates nothing.
 * - Every step that sends is re-sent by the sweeper until answered (the job stays in the
 *   "~transfer" index while a step is outstanding): a crash between a write and its send, or a
 *   lost message, only delays. Every handler is idempotent, so re-sending is safe.
 */
import { randomUUID } from "node:crypto";
import { ConflictError, IllegalTransitionError, MetaqueueError } from "../errors.js";
import { formatSize } from "../pbs/size.js";
import type { QsubOptions } from "../pbs/types.js";
import { formatWalltime } from "../pbs/walltime.js";
import { planCycle } from "../scheduler/plan.js";
import { toCandidate, toRunning } from "../scheduler/inputs.js";
import type { NodeInfo } from "../scheduler/types.js";
import { findPeer, type PeerInfo, type SiteContext } from "../server/context.js";
import { sendToPeer, sendToPeerBatch } from "../server/messages.js";
import { loadServerState } from "../server/server-state.js";
import { isFinished, type JobRecord, withTrace } from "../server/job.js";
import type { EndResult } from "../server/end-result.js";
import { keyOfId, mutateJob } from "../server/mutate.js";
import type { AcctRecord } from "../server/records.js";
import {
  federationState,
  getQueue,
  nodeInfo,
  nodePartition,
  queueInfo,
  queuePartition,
} from "../server/objects.js";
import { deleteJob, holdJob, releaseJob } from "../server/ops.js";
import { allocateSeq } from "../server/seq.js";
import { checkQueueAccepts, resolveResources, resourceList } from "../server/submit.js";
import { mapInbound } from "./identity-map.js";
import type { JobPayload, PeerBody } from "./messages.js";

type Msg<T extends PeerBody["type"]> = Extract<PeerBody, { type: T }>;

const NONE: EndResult = { partitions: [], ended: [] };

// ======================= origin side =======================

/** The part of a job that travels (attributes as qsub set them). */
export function payloadOf(job: JobRecord): JobPayload {
  const resources: Record<string, string> = {};
  for (const k of ["select", "walltime", "place"]) if (job.rl[k] !== undefined) resources[k] = job.rl[k];
  return {
    name: job.name,
    user: job.user,
    submitHost: job.submitHost,
    account: job.account,
    project: job.project,
    script: job.script,
    submitDir: job.submitDir,
    resources,
    priority: job.priority,
    rerunnable: job.rerunnable,
    join: job.join,
    outPath: job.outPath,
    errPath: job.errPath,
    env: job.env,
    extra: job.extra,
    ctime: job.ctime,
    qtime: job.qtime,
  };
}

/** Why a queued job may not leave this site, or undefined when it may. */
export function pinnedReason(job: JobRecord, queuePinned: boolean): string | undefined {
  if (job.state !== "Q") return `job is ${job.state}, not queued`;
  if (job.holds) return "job is held";
  if (job.depPending?.length || job.depOn) return "job has unmet dependencies";
  if (job.array || job.parentKey) return "array jobs stay at their site";
  if (queuePinned) return `queue ${job.queue} is pinned to this site`;
  const p = job.extra?.pinned;
  if (p !== undefined && /^(true|1|yes|y)$/i.test(p)) return "job is pinned to this site";
  return undefined;
}

/**
 * Mark a queued job T and hand it to `peer`'s queue `into`. Returns false when the job changed
 * meanwhile (started, held, moved by someone else): it simply stays.
 */
export async function forwardJob(
  ctx: SiteContext,
  job: JobRecord,
  peer: PeerInfo,
  into: string,
  why: string,
): Promise<boolean> {
  const written = await markInTransit(ctx, job, peer, into, why);
  if (!written) return false;
  await sendToPeer(ctx, peer, forwardOf(written));
  return true;
}

/** Q -> T with a new transfer; undefined when the job changed meanwhile. */
async function markInTransit(
  ctx: SiteContext,
  job: JobRecord,
  peer: PeerInfo,
  into: string,
  why: string,
): Promise<JobRecord | undefined> {
  const now = ctx.clock.now();
  const xfer = {
    id: `${ctx.site.short}-${job.key}-${randomUUID().slice(0, 8)}`,
    peer: peer.short,
    deadline: now + ctx.settings.transferTimeoutMs,
    into,
  };
  const after: JobRecord = {
    ...job,
    state: "T",
    xfer,
    mtime: now,
    comment: `Job in transit to ${into}@${peer.server}`,
    hist: withTrace(job.hist, {
      time: now,
      source: "S",
      message: `Job being moved to ${into}@${peer.server} (${why}), transfer ${xfer.id}`,
    }),
  };
  try {
    const written = await ctx.store.updateJob(job, after);
    ctx.metrics?.count("TransfersStarted", 1, { peer: peer.short });
    return written;
  } catch (err) {
    if (err instanceof ConflictError) return undefined;
    throw err;
  }
}

/** The FORWARD for a job in transit (marked by markInTransit, so `xfer` is set). */
function forwardOf(job: JobRecord): PeerBody {
  if (!job.xfer) throw new Error(`job ${job.id} is not in transit`);
  return {
    type: "FORWARD",
    transferId: job.xfer.id,
    originId: job.id,
    into: job.xfer.into,
    deadline: job.xfer.deadline,
    job: payloadOf(job),
  };
}

async function sendForward(ctx: SiteContext, job: JobRecord, peer: PeerInfo): Promise<void> {
  if (job.xfer) await sendToPeer(ctx, peer, forwardOf(job));
}

/** The key of the job a transfer ID of this site names (`<site>-<key>-<nonce>`). */
function originKeyOf(ctx: SiteContext, transferId: string): string | undefined {
  const prefix = `${ctx.site.short}-`;
  if (!transferId.startsWith(prefix)) return undefined;
  const rest = transferId.slice(prefix.length);
  const dash = rest.lastIndexOf("-");
  return dash > 0 ? rest.slice(0, dash) : undefined;
}

/** ACCEPT: the decision point. T -> M once; anything else about this transfer is answered ABORT. */
export async function onAccept(ctx: SiteContext, peer: PeerInfo, m: Msg<"ACCEPT">): Promise<EndResult> {
  const key = originKeyOf(ctx, m.transferId);
  const now = ctx.clock.now();
  const { before, after } = key
    ? await settleTransfer(ctx, key, m.transferId, (cur) => ({
        after: {
          ...cur,
          state: "M",
          movedTo: m.newId,
          xfer: cur.xfer ? { ...cur.xfer, newId: m.newId } : undefined,
          mtime: now,
          comment: `Job moved to ${m.newId}`,
          hist: withTrace(cur.hist, { time: now, source: "S", message: `Job moved to ${m.newId}` }),
        },
        acct: {
          time: now,
          jobId: cur.id,
          type: "M",
          data: {
            user: cur.user,
            queue: cur.queue,
            destination: m.newId,
            ...(cur.account ? { account: cur.account } : {}),
          },
        },
      }))
    : {};
  const job = after ?? before;
  if (job?.state === "M" && job.xfer?.id === m.transferId) {
    if (after) ctx.metrics?.count("JobsMoved", 1, { peer: peer.short });
    await sendToPeer(ctx, peer, { type: "COMMIT", transferId: m.transferId, newId: m.newId });
    return NONE;
  }
  // Too late (timed out and back in the queue, deleted) or never ours: the copy must not run.
  await sendToPeer(ctx, peer, {
    type: "ABORT",
    transferId: m.transferId,
    reason: job ? `job ${job.id} is no longer in transit to ${peer.short}` : "unknown transfer",
  });
  return NONE;
}

/** REJECT: back to the queue with the receiver's reason as the comment. */
export async function onReject(ctx: SiteContext, peer: PeerInfo, m: Msg<"REJECT">): Promise<EndResult> {
  const key = originKeyOf(ctx, m.transferId);
  if (!key) return NONE;
  const now = ctx.clock.now();
  const { after } = await settleTransfer(ctx, key, m.transferId, (cur) => ({
    // Its policy will say the same next time: do not hand this job to that peer again.
    after: {
      ...backToQueue(cur, now, `Transfer to ${peer.server} rejected: ${m.reason}`),
      refusedBy: [...new Set([...(cur.refusedBy ?? []), peer.short])],
    },
  }));
  if (after) ctx.metrics?.count("TransfersRejected", 1, { peer: peer.short });
  return after ? { partitions: [after.partition], ended: [] } : NONE;
}

/**
 * Decide a transfer of ours: change the job only while it is still in transit under this
 * transfer (T with this xfer.id). ACCEPT, REJECT and the timeout all go through here, so at most
 * one of them ever wins: the conditional write on the job's version settles it.
 */
function settleTransfer(
  ctx: SiteContext,
  key: string,
  transferId: string,
  settle: (cur: JobRecord) => { after: JobRecord; acct?: AcctRecord },
) {
  return mutateJob(
    ctx,
    key,
    (cur) =>
      cur.state === "T" && cur.xfer?.id === transferId ? { kind: "write", ...settle(cur) } : { kind: "skip" },
    { missingOk: true },
  );
}

function backToQueue(cur: JobRecord, now: number, comment: string): JobRecord {
  return {
    ...cur,
    state: cur.holds ? "H" : "Q",
    xfer: undefined,
    mtime: now,
    comment,
    hist: withTrace(cur.hist, { time: now, source: "S", message: comment }),
  };
}

/**
 * JOB_END: the moved job ended at the peer. The M record takes the outcome (qstat -x shows it,
 * dependents are released) and the usage is charged to the project here, once: the charge is in
 * the same transaction as the write that records the end.
 */
export async function onJobEnd(ctx: SiteContext, peer: PeerInfo, m: Msg<"JOB_END">): Promise<EndResult> {
  const key = originKeyOf(ctx, m.transferId);
  const now = ctx.clock.now();
  let recorded: JobRecord | undefined;
  if (key) {
    const { before, after } = await mutateJob(
      ctx,
      key,
      (cur) => {
        if (cur.state !== "M" || cur.xfer?.id !== m.transferId || cur.obittime !== undefined)
          return { kind: "skip" };
        const walltime = Math.round(m.used?.walltime ?? 0);
        const ncpus = Number(cur.rl.ncpus) || m.used?.ncpus || 1;
        const account = cur.account;
        if (account !== undefined && m.account !== undefined && m.account !== account)
          ctx.log.warn(
            `usage for ${cur.id} came back for account ${m.account}, not ${account}: charged to ${account}`,
          );
        const data: Record<string, string | number> = {
          user: cur.user,
          queue: cur.queue,
          jobname: cur.name,
          exec_site: peer.short,
          exec_jobid: m.newId,
          end: Math.floor(m.obittime / 1000),
        };
        if (account) data.account = account;
        if (m.exitStatus !== undefined) data.Exit_status = m.exitStatus;
        if (m.stime) data.start = Math.floor(m.stime / 1000);
        if (m.used) {
          data["resources_used.walltime"] = formatWalltime(walltime);
          data["resources_used.cput"] = formatWalltime(m.used.cput);
          data["resources_used.mem"] = formatSize(m.used.mem);
          data["resources_used.ncpus"] = ncpus;
        }
        const message = `Job ended at ${m.newId}${m.exitStatus !== undefined ? `, Exit_status=${m.exitStatus}` : ""}${m.deleted ? " (deleted)" : ""}`;
        return {
          kind: "write",
          after: {
            ...cur,
            exitStatus: m.exitStatus,
            stime: m.stime,
            obittime: m.obittime,
            used: m.used ? { ...m.used, walltime } : undefined,
            mtime: now,
            comment: m.comment ? `${message}: ${m.comment}` : message,
            hist: withTrace(cur.hist, { time: now, source: "S", message }),
          },
          acct: { time: now, jobId: cur.id, type: m.deleted ? "D" : "E", data },
          charge:
            account && m.used
              ? { account, where: peer.short, coreSeconds: walltime * ncpus, walltime }
              : undefined,
        };
      },
      { missingOk: true },
    );
    recorded = after ?? before;
  }
  // Acknowledge whenever the end is recorded (now or before); unknown transfers too, or the
  // peer would re-send forever.
  await sendToPeer(ctx, peer, { type: "JOB_END_ACK", transferId: m.transferId, newId: m.newId });
  if (recorded?.obittime !== undefined && recorded.hasDeps) return { partitions: [], ended: [recorded.key] };
  return NONE;
}

/** OFFER: a peer has room. Hand over what fits and could not start here now, oldest first. */
export async function onOffer(ctx: SiteContext, peer: PeerInfo, m: Msg<"OFFER">): Promise<EndResult> {
  const st = await loadServerState(ctx);
  const fed = federationState(st);
  const q = st.queues.get(m.queue);
  if (!q) return NONE;
  const partition = queuePartition(q);
  const queuePinned = q.attrs.pinned === true;
  const ready = await ctx.store.queryReady(q.name, ctx.settings.cycleCandidates);
  const plain = ready.filter((j) => !j.array && !j.refusedBy?.includes(peer.short));
  if (!plain.length) return NONE;
  const running = fed === "down" ? [] : await ctx.store.queryRunning(partition);
  const picked = pickForOffer({
    now: ctx.clock.now(),
    ready: plain,
    localNodes:
      fed === "down"
        ? []
        : [...st.nodes.values()].filter((n) => nodePartition(n) === partition).map(nodeInfo),
    running: running.map((j) => toRunning(j, 0)),
    queue: queueInfo(q),
    offered: m.nodes,
    maxJobs: m.maxJobs,
  });
  if (!picked.length) return NONE;
  const full = await ctx.store.getJobs(picked);
  const marked = await Promise.all(
    picked.map((k) => {
      const job = full.get(k);
      if (!job || pinnedReason(job, queuePinned) || job.refusedBy?.includes(peer.short)) return undefined;
      return markInTransit(ctx, job, peer, m.into, `pulled by ${peer.server}`);
    }),
  );
  // one SendMessageBatch per ten FORWARDs; a FORWARD lost here is re-sent by the sweep
  const forwards = marked.filter((j): j is JobRecord => j !== undefined).map(forwardOf);
  await sendToPeerBatch(ctx, peer, forwards);
  ctx.log.info(`offer from ${peer.short}: ${forwards.length} job(s) of ${m.queue} handed over`);
  return NONE;
}

export interface OfferPickInput {
  now: number;
  /** ready jobs of the offered queue, in ready-index order */
  ready: Pick<
    JobRecord,
    "key" | "ver" | "queue" | "owner" | "priority" | "qtime" | "seq" | "sel" | "walltime"
  >[];
  localNodes: NodeInfo[];
  running: import("../scheduler/types.js").RunningJob[];
  queue: import("../scheduler/types.js").QueueInfo;
  offered: { ncpus: number; mem: number; ngpus: number }[];
  maxJobs: number;
}

/**
 * Which jobs to hand over for an offer (pure): those that would NOT start here in this cycle
 * and that fit the offered room, in the scheduler's order (priority, then age), at most maxJobs.
 */
export function pickForOffer(inp: OfferPickInput): string[] {
  const candidates = inp.ready.map((j) => toCandidate(j, j.key));
  const queues = [{ ...inp.queue, started: true }];
  const local = inp.localNodes.length
    ? planCycle({
        now: inp.now,
        nodes: inp.localNodes,
        running: inp.running,
        candidates,
        queues,
        backfill: false,
        backfillDepth: 0,
      })
    : { start: [] };
  const startsHere = new Set(local.start.map((d) => d.jobId));
  const rest = candidates.filter((c) => !startsHere.has(c.id));
  const remote = planCycle({
    now: inp.now,
    nodes: inp.offered.map((n, i) => ({ name: `offer${i}`, state: "free", available: { ...n } })),
    running: [],
    candidates: rest,
    queues: [{ name: inp.queue.name, priority: 0, started: true }],
    backfill: false,
    backfillDepth: 0,
  });
  return remote.start.slice(0, inp.maxJobs).map((d) => d.jobId);
}

// ======================= receiver side =======================

/** FORWARD: apply this site's receive policy; create the job held in T, or refuse. */
export async function onForward(ctx: SiteContext, peer: PeerInfo, m: Msg<"FORWARD">): Promise<EndResult> {
  const reject = (reason: string) =>
    sendToPeer(ctx, peer, { type: "REJECT", transferId: m.transferId, originId: m.originId, reason });
  // No read first: a transfer seen before (created, or tombstoned by ABORT) makes the create
  // below fail, and only then is it read and answered. A duplicate costs a sequence number.
  if (ctx.clock.now() > m.deadline) {
    // Too late: the origin has (or soon will have) taken it back. Leave a tombstone first so
    // that this transfer can never be created by a copy of this message still in flight.
    try {
      await ctx.store.abortInbound(m.transferId);
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
      const again = await ctx.store.getTransfer(m.transferId);
      if (again) await answerKnown(ctx, peer, m, again);
      return NONE;
    }
    await reject("transfer deadline passed");
    return NONE;
  }
  let job: JobRecord;
  try {
    job = await receivedJob(ctx, peer, m);
  } catch (err) {
    if (!(err instanceof MetaqueueError)) throw err;
    ctx.metrics?.count("TransfersRefused", 1, { peer: peer.short });
    await reject(err.message);
    return NONE;
  }
  try {
    await ctx.store.createInbound(job, m.transferId);
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
    const again = await ctx.store.getTransfer(m.transferId);
    if (again) await answerKnown(ctx, peer, m, again);
    return NONE;
  }
  await sendToPeer(ctx, peer, {
    type: "ACCEPT",
    transferId: m.transferId,
    originId: m.originId,
    newId: job.id,
  });
  return NONE;
}

async function answerKnown(
  ctx: SiteContext,
  peer: PeerInfo,
  m: Msg<"FORWARD">,
  known: { status: "created" | "aborted"; newId?: string },
): Promise<void> {
  if (known.status === "created" && known.newId) {
    await sendToPeer(ctx, peer, {
      type: "ACCEPT",
      transferId: m.transferId,
      originId: m.originId,
      newId: known.newId,
    });
  } else {
    await sendToPeer(ctx, peer, {
      type: "REJECT",
      transferId: m.transferId,
      originId: m.originId,
      reason: "transfer was cancelled",
    });
  }
}

/** The job this site would create for a FORWARD, after its own policy (throws MetaqueueError). */
async function receivedJob(ctx: SiteContext, peer: PeerInfo, m: Msg<"FORWARD">): Promise<JobRecord> {
  const st = await loadServerState(ctx);
  const fed = federationState(st);
  if (fed !== "active") throw new ReceiveRefused(`site ${ctx.site.server} is ${fed}`);
  const p = m.job;
  const mapped = mapInbound(peer, peer.short, p.user, p.account);
  if (!mapped.ok) throw new ReceiveRefused(mapped.reason);
  let queue: ReturnType<typeof getQueue>;
  try {
    queue = getQueue(st, m.into);
  } catch {
    throw new ReceiveRefused(`Unknown queue ${m.into}`);
  }
  // The receive side's limits and ACLs rule (LSF's receive queue): the same checks as qsub here.
  checkQueueAccepts(queue, { user: mapped.user });
  if (queue.attrs.peer_pull === false)
    throw new ReceiveRefused(`queue ${queue.name} takes no jobs from peers`);
  const opts: QsubOptions = { resources: { ...p.resources } };
  const req = resolveResources(st, queue, opts);
  const seq = await allocateSeq(ctx);
  const now = ctx.clock.now();
  const rl = resourceList(req);
  const id = `${seq}.${ctx.site.short}`;
  return {
    id,
    key: String(seq),
    seq,
    site: ctx.site.short,
    state: "T",
    holds: "",
    queue: queue.name,
    partition: queuePartition(queue),
    name: p.name,
    owner: `${mapped.user}@${p.submitHost}`,
    user: mapped.user,
    account: mapped.account,
    project: p.project,
    script: p.script,
    submitDir: p.submitDir,
    submitHost: p.submitHost,
    rl,
    sel: req.select,
    walltime: req.walltime,
    priority: p.priority,
    rerunnable: p.rerunnable,
    join: p.join,
    outPath: p.outPath,
    errPath: p.errPath,
    env: { ...p.env, PBS_O_QUEUE: queue.name },
    extra: p.extra,
    ctime: p.ctime,
    qtime: now,
    mtime: now,
    runCount: 0,
    // someone (the origin) must hear when this job ends: the end path looks at hasDeps
    hasDeps: true,
    inbound: {
      transferId: m.transferId,
      originId: m.originId,
      from: peer.short,
      committed: false,
      originUser: p.user,
      originAccount: p.account,
    },
    hist: [
      {
        time: now,
        source: "S",
        message: `Job received from ${peer.server} as ${m.originId}, owner = ${mapped.user}${mapped.account ? `, account = ${mapped.account}` : ""}; waiting for the origin to commit`,
      },
    ],
    ver: 0,
  };
}

class ReceiveRefused extends MetaqueueError {
  constructor(message: string) {
    super("TransferRefused", message, 409, 15);
  }
}

/** COMMIT: the origin recorded the move; the job may run here now. */
export async function onCommit(ctx: SiteContext, _peer: PeerInfo, m: Msg<"COMMIT">): Promise<EndResult> {
  const now = ctx.clock.now();
  const { after } = await mutateJob(
    ctx,
    keyOfId(m.newId),
    (cur) => {
      if (cur.state !== "T" || cur.inbound?.transferId !== m.transferId || cur.inbound.committed)
        return { kind: "skip" };
      return {
        kind: "write",
        after: {
          ...cur,
          state: cur.holds ? "H" : "Q",
          etime: now,
          qtime: now,
          mtime: now,
          inbound: { ...cur.inbound, committed: true },
          hist: withTrace(cur.hist, {
            time: now,
            source: "S",
            message: "Job move committed by the origin; queued",
          }),
        },
        acct: {
          time: now,
          jobId: cur.id,
          type: "Q",
          data: {
            queue: cur.queue,
            user: cur.user,
            origin: cur.inbound.originId,
            ...(cur.account ? { account: cur.account } : {}),
          },
        },
      };
    },
    { missingOk: true },
  );
  // the batch's handler asks for one cycle per partition for all the jobs committed in it
  return after?.state === "Q" ? { partitions: [after.partition], ended: [] } : NONE;
}

/** ABORT: drop the uncommitted copy, or make sure none is ever created. */
export async function onAbort(ctx: SiteContext, _peer: PeerInfo, m: Msg<"ABORT">): Promise<EndResult> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const t = await ctx.store.getTransfer(m.transferId);
    if (t?.status === "aborted") return NONE;
    const job = t?.key ? await ctx.store.getJob(t.key) : undefined;
    if (job && (job.state !== "T" || job.inbound?.committed)) {
      // Cannot happen by the protocol (the origin never aborts what it committed); keep the job.
      ctx.log.error(`ABORT for committed transfer ${m.transferId} (${job.id}): ignored`);
      return NONE;
    }
    try {
      await ctx.store.abortInbound(m.transferId, job);
      ctx.log.info(`transfer ${m.transferId} aborted by the origin: ${m.reason}`);
      return NONE;
    } catch (err) {
      if (!(err instanceof ConflictError)) throw err;
    }
  }
  throw new ConflictError(`transfer ${m.transferId} is changing too fast`);
}

/** JOB_OP: qdel/qhold/qrls asked at the origin (which checked who asked) for a job now here. */
export async function onJobOp(ctx: SiteContext, peer: PeerInfo, m: Msg<"JOB_OP">): Promise<EndResult> {
  const job = await ctx.store.getJob(keyOfId(m.newId));
  if (!job || job.inbound?.transferId !== m.transferId || job.inbound.from !== peer.short) return NONE;
  const actor = { user: `${m.requestor}@${peer.short}`, privileged: true };
  try {
    if (m.op === "delete") await deleteJob(ctx, job.id, actor);
    else if (m.op === "hold") await holdJob(ctx, job.id, actor);
    else await releaseJob(ctx, job.id, actor);
  } catch (err) {
    // Already finished, not held...: the same answer qdel would give here; nothing to retry.
    if (!(err instanceof MetaqueueError)) throw err;
    ctx.log.info(`${m.op} of ${job.id} from ${peer.short}: ${err.message}`);
  }
  return { partitions: [job.partition], ended: [] };
}

/** JOB_END_ACK: the origin has the outcome; stop re-sending. */
export async function onJobEndAck(
  ctx: SiteContext,
  _peer: PeerInfo,
  m: Msg<"JOB_END_ACK">,
): Promise<EndResult> {
  await mutateJob(
    ctx,
    keyOfId(m.newId),
    (cur) =>
      cur.inbound?.transferId === m.transferId && !cur.inbound.endAcked
        ? { kind: "write", after: { ...cur, inbound: { ...cur.inbound, endAcked: true } } }
        : { kind: "skip" },
    { missingOk: true },
  );
  return NONE;
}

/** Tell the origin a job it moved here has ended (in the origin's names). Idempotent. */
export async function reportEnd(ctx: SiteContext, job: JobRecord): Promise<void> {
  const ib = job.inbound;
  if (!ib || !isFinished(job.state) || ib.endAcked) return;
  const peer = findPeer(ctx, ib.from);
  if (!peer) return;
  await sendToPeer(ctx, peer, {
    type: "JOB_END",
    transferId: ib.transferId,
    originId: ib.originId,
    newId: job.id,
    exitStatus: job.exitStatus,
    deleted: job.exitStatus === undefined || /deleted/i.test(job.comment ?? ""),
    stime: job.stime,
    obittime: job.obittime ?? job.mtime,
    used: job.used
      ? {
          walltime: Math.round(job.used.walltime),
          cput: job.used.cput,
          mem: job.used.mem,
          ncpus: job.used.ncpus,
        }
      : undefined,
    account: ib.originAccount,
    user: ib.originUser,
    comment: job.comment?.slice(0, 256),
  });
}

// ======================= the outbox sweep =======================

/**
 * Re-send every transfer step still unanswered, and time out transfers past their deadline.
 * Runs on the sweeper tick; cheap when nothing is in flight (one query of an empty index key).
 */
export async function sweepTransfers(ctx: SiteContext): Promise<EndResult> {
  const res: EndResult = { partitions: [], ended: [] };
  const now = ctx.clock.now();
  const jobs = await ctx.store.queryTransfers();
  // Forget resend counts of jobs no longer pending.
  const pendingKeys = new Set(jobs.map((j) => `${ctx.site.short}/${j.key}`));
  for (const k of resends.keys())
    if (k.startsWith(`${ctx.site.short}/`) && !pendingKeys.has(k)) resends.delete(k);
  // The index carries mtime and the transfer fields: read whole records only for what is due
  // (a resend due, or past its deadline), so a burst in flight costs one query per tick, not a
  // read per job. Resends back off (x2 each, up to 64x): when a peer's inbox is backed up,
  // re-sending every interval would only add to the pile (measured: 14.8 -> see README).
  const resendDue = (j: JobRecord) => {
    if (now - j.mtime < ctx.settings.transferResendMs) return false;
    const r = resends.get(`${ctx.site.short}/${j.key}`);
    return !r || now - r.at >= ctx.settings.transferResendMs * 2 ** Math.min(r.n, 6);
  };
  const due = jobs.filter(
    (j) =>
      resendDue(j) || (j.state === "T" && j.xfer !== undefined && now > j.xfer.deadline + CLOCK_MARGIN_MS),
  );
  if (!due.length) return res;
  const full = await ctx.store.getJobs(due.map((j) => j.key));
  for (const job of full.values()) {
    const stale = resendDue(job);
    if (stale) {
      const k = `${ctx.site.short}/${job.key}`;
      resends.set(k, { n: (resends.get(k)?.n ?? 0) + 1, at: now });
    }
    try {
      if (job.state === "T" && job.xfer) {
        const peer = findPeer(ctx, job.xfer.peer);
        // A margin past the deadline: the receiver refuses by its own clock, which may lag ours.
        if (now > job.xfer.deadline + CLOCK_MARGIN_MS || !peer) {
          const { before, after } = await settleTransfer(ctx, job.key, job.xfer.id, (cur) => ({
            after: backToQueue(cur, now, `Transfer to ${job.xfer?.peer} timed out; job back in queue`),
          }));
          if (after) {
            ctx.metrics?.count("TransfersTimedOut", 1, { peer: job.xfer.peer });
            res.partitions.push(after.partition);
          }
          // An ACCEPT handled since this sweep's read may have won (T -> M, COMMIT sent): then an
          // ABORT would drop the copy the origin now counts on (or contradict its COMMIT).
          const cur = after ?? before;
          const committed = cur?.state === "M" && cur.xfer?.id === job.xfer.id;
          if (peer && !committed)
            await sendToPeer(ctx, peer, {
              type: "ABORT",
              transferId: job.xfer.id,
              reason: "transfer timed out",
            });
        } else if (stale) {
          await sendForward(ctx, job, peer);
        }
      } else if (job.state === "T" && job.inbound && !job.inbound.committed && stale) {
        // Still waiting for the origin's decision: ask again (it answers COMMIT or ABORT).
        const peer = findPeer(ctx, job.inbound.from);
        if (peer)
          await sendToPeer(ctx, peer, {
            type: "ACCEPT",
            transferId: job.inbound.transferId,
            originId: job.inbound.originId,
            newId: job.id,
          });
      } else if (job.inbound && isFinished(job.state) && !job.inbound.endAcked && stale) {
        await reportEnd(ctx, job);
      }
    } catch (err) {
      // a bug (a write the job state table forbids) must be seen, not logged away as one job's
      // trouble: it fails the sweep, and the sweeper's errors are alarmed
      if (err instanceof IllegalTransitionError) throw err;
      ctx.log.warn(`transfer sweep of ${job.id}: ${(err as Error).message}`);
    }
  }
  return res;
}

/** Resends per job key of this process (site/key): how many, and the last one. */
const resends = new Map<string, { n: number; at: number }>();

/** Allowed clock difference between sites when judging a transfer's deadline. */
export const CLOCK_MARGIN_MS = 5_000;

// ======================= offers (the side with room) =======================

const lastOffer = new Map<string, number>();

/**
 * After a cycle that left room: offer it to the peers we pull from, into the queues of this
 * partition. At most one offer per directive per offerIntervalMs (per process).
 */
export async function sendOffers(
  ctx: SiteContext,
  partition: string,
  free: { ncpus: number; mem: number; ngpus: number }[],
): Promise<number> {
  if (!ctx.peers?.size) return 0;
  const room = free.filter((n) => n.ncpus > 0);
  if (!room.length) return 0;
  const st = await loadServerState(ctx);
  if (federationState(st) !== "active") return 0;
  // The directives of this partition whose offer is due (no I/O for the ones throttled).
  const now = ctx.clock.now();
  const due = [...ctx.peers.values()].flatMap((peer) =>
    (peer.pull ?? [])
      .filter((d) => {
        const into = st.queues.get(d.into);
        if (!into || queuePartition(into) !== partition) return false;
        return now - (lastOffer.get(offerKey(ctx, peer, d)) ?? 0) >= ctx.settings.offerIntervalMs;
      })
      .map((d) => ({ peer, d })),
  );
  if (!due.length) return 0;
  // Jobs already accepted here and not yet committed will take some of this room: offer again
  // once they are queued (and this cycle's successor has placed them), not twice for one room.
  const pendingIn = (await ctx.store.queryTransfers()).filter(
    (j) => j.state === "T" && j.inbound && j.partition === partition,
  );
  if (pendingIn.length) return 0;
  for (const { peer, d } of due) {
    lastOffer.set(offerKey(ctx, peer, d), now);
    await sendToPeer(ctx, peer, {
      type: "OFFER",
      offerId: randomUUID(),
      queue: d.queue,
      into: d.into,
      nodes: room.slice(0, 256),
      maxJobs: Math.min(
        500,
        room.reduce((s, n) => s + n.ncpus, 0),
      ),
    });
  }
  return due.length;
}

function offerKey(ctx: SiteContext, peer: PeerInfo, d: { queue: string; into: string }): string {
  return `${ctx.site.short}/${peer.short}/${d.queue}/${d.into}`;
}

const lastBacklog = new Map<string, number>();

/**
 * After a cycle that left jobs waiting: tell the peers, so one that pulls from these queues and
 * has room offers it now rather than at its next tick. At most once per offerIntervalMs.
 */
export async function sendBacklog(ctx: SiteContext, queues: string[]): Promise<void> {
  if (!ctx.peers?.size || !queues.length) return;
  const now = ctx.clock.now();
  for (const peer of ctx.peers.values()) {
    const k = `${ctx.site.short}/${peer.short}`;
    if (now - (lastBacklog.get(k) ?? 0) < ctx.settings.offerIntervalMs) continue;
    lastBacklog.set(k, now);
    await sendToPeer(ctx, peer, { type: "BACKLOG", queues: [...new Set(queues)].slice(0, 64) });
  }
}

/** BACKLOG: a peer has work waiting; if we pull from those queues, run a cycle (it offers room). */
export async function onBacklog(ctx: SiteContext, peer: PeerInfo, m: Msg<"BACKLOG">): Promise<EndResult> {
  const st = await loadServerState(ctx);
  if (federationState(st) !== "active") return NONE;
  const parts = (peer.pull ?? [])
    .filter((d) => m.queues.includes(d.queue))
    .map((d) => st.queues.get(d.into))
    .filter((q) => q !== undefined)
    .map((q) => queuePartition(q));
  return { partitions: [...new Set(parts)], ended: [] };
}

const lastBeat = new Map<string, number>();

/**
 * Send our federation state to every peer: the health signal. Six per stale period, so one lost
 * beat never shows a peer as disconnected.
 */
export async function sendHeartbeats(ctx: SiteContext): Promise<void> {
  if (!ctx.peers?.size) return;
  const now = ctx.clock.now();
  const state = federationState(await loadServerState(ctx));
  const k = `${ctx.site.short}/${state}`;
  if (now - (lastBeat.get(k) ?? 0) < ctx.settings.peerStaleMs / 6) return;
  lastBeat.set(k, now);
  for (const peer of ctx.peers.values()) await sendToPeer(ctx, peer, { type: "HEARTBEAT", state });
}

/** A peer's health as shown to people: connected, draining, down, or disconnected (silent). */
export function peerHealth(
  seen: { state: string; at: number } | undefined,
  now: number,
  staleMs: number,
): "connected" | "draining" | "down" | "disconnected" {
  if (!seen || now - seen.at > staleMs) return "disconnected";
  if (seen.state === "draining" || seen.state === "down") return seen.state;
  return "connected";
}
