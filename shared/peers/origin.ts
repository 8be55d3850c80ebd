/**
 * The origin's side, I/O: hand a job to a peer, and take the peer's answers (ACCEPT, REJECT,
 * JOB_END). Each handler reads the job, runs the origin's machine (origin-machine.ts, where the
 * protocol and its invariants are explained), makes its one change conditionally on the record
 * read (a lost race re-reads and runs the machine again), and only then sends.
 */
import { randomUUID } from "node:crypto";
import { ConflictError } from "../errors.js";
import { findPeer, type PeerInfo, type SiteContext } from "../server/context.js";
import type { EndResult } from "../server/end-result.js";
import type { JobRecord } from "../server/job.js";
import { originStep } from "./origin-machine.js";
import { applyStore, perform, stepJob } from "./run-step.js";
import type { Msg, Step } from "./step.js";

/** Why a queued job may not leave this site, or undefined when it may. */
export function pinnedReason(
  job: JobRecord,
  queuePinned: boolean,
  opts: { qmove?: boolean } = {},
): string | undefined {
  // qmove may send a held job, as PBS does (it stays held there); a peer never pulls one
  const held = job.state === "H" && opts.qmove === true;
  if (job.state !== "Q" && !held) return `job is ${job.state}, not queued`;
  if (job.holds && !held) return "job is held";
  if (job.depPending?.length || job.depOn) return "job has unmet dependencies";
  // The parent stays at its origin, where it owns the index bookkeeping (which indices are
  // left, how many ended and failed: array_state_count, its end); its subjobs may move, each
  // handed over as a job of its own (subjob-transit.ts). qmove of a subjob is refused before
  // this (ops.ts refuseSubjob), as PBS refuses it.
  if (job.array) return "an array job stays at its site (its subjobs may move)";
  // its session is the submitter's terminal, which only this site's MOMs reach
  if (job.interactive) return "interactive jobs (-I) stay at their submit site";
  if (queuePinned) return `queue ${job.queue} is pinned to this site`;
  // staged files name this site's paths (the MOM copies them on its own host)
  if (job.extra?.stagein || job.extra?.stageout) return "job stages files on this site (stagein/stageout)";
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
  const step = await markInTransit(ctx, job, peer, into, why);
  if (!step) return false;
  await perform(ctx, peer, peer.short, step);
  return true;
}

/** The origin machine's answer to forwarding `job` to `peer` now, under a new transfer ID. */
export function forwardStep(
  ctx: SiteContext,
  job: JobRecord,
  peer: PeerInfo,
  into: string,
  why: string,
  now: number,
): Step {
  return originStep(job, {
    kind: "forward",
    now,
    peer,
    transferId: newTransferId(ctx, job.key),
    deadline: now + ctx.settings.transferTimeoutMs,
    into,
    why,
  });
}

/**
 * Q -> T under a new transfer, written conditionally on `job` as the caller read it; the step
 * (its FORWARD not yet sent), or undefined when the job changed meanwhile. No re-read on a lost
 * race: whoever changed the job (a start, a hold, another transfer) decided its fate first.
 */
export async function markInTransit(
  ctx: SiteContext,
  job: JobRecord,
  peer: PeerInfo,
  into: string,
  why: string,
): Promise<Step | undefined> {
  const step = forwardStep(ctx, job, peer, into, why, ctx.clock.now());
  if (step.ignored) return undefined;
  try {
    await applyStore(ctx, job, step);
  } catch (err) {
    if (err instanceof ConflictError) return undefined;
    throw err;
  }
  return step;
}

/**
 * A job's key as transfer IDs carry it, which take no `@` or brackets (messages.ts): a job
 * received from a peer and moving on (`103@casper`) as `103:casper`, a subjob (`12[3]`) as
 * `12_3` (and `12[3]@casper` as `12_3:casper`).
 */
export function transferKey(key: string): string {
  const [local, server] = key.split("@");
  const sub = /^(\d+)\[(\d+)\]$/.exec(local);
  const k = sub ? `${sub[1]}_${sub[2]}` : local;
  return server === undefined ? k : `${k}:${server}`;
}

/** The job key a transfer ID carries (transferKey's inverse). */
export function keyOfTransferKey(k: string): string {
  const [local, server] = k.split(":");
  const sub = /^(\d+)_(\d+)$/.exec(local);
  const key = sub ? `${sub[1]}[${sub[2]}]` : local;
  return server === undefined ? key : `${key}@${server}`;
}

/** The key of the job a transfer ID of this site names (`<site>-<key>-<nonce>`). */
function originKeyOf(ctx: SiteContext, transferId: string): string | undefined {
  const prefix = `${ctx.site.short}-`;
  if (!transferId.startsWith(prefix)) return undefined;
  const rest = transferId.slice(prefix.length);
  const dash = rest.lastIndexOf("-");
  return dash > 0 ? keyOfTransferKey(rest.slice(0, dash)) : undefined;
}

/** A new transfer ID for job `key` leaving this site. */
export function newTransferId(ctx: SiteContext, key: string): string {
  return `${ctx.site.short}-${transferKey(key)}-${randomUUID().slice(0, 8)}`;
}

/** ACCEPT: the decision point (T -> M once; anything else about this transfer is answered ABORT). */
export async function onAccept(ctx: SiteContext, peer: PeerInfo, m: Msg<"ACCEPT">): Promise<EndResult> {
  const now = ctx.clock.now();
  const { step } = await stepJob(ctx, originKeyOf(ctx, m.transferId), (cur) =>
    originStep(cur, { kind: "accept", now, peer, m }),
  );
  await perform(ctx, peer, peer.short, step);
  return { partitions: [], ended: [] };
}

/** REJECT: back to the queue with the receiver's reason as the comment. */
export async function onReject(ctx: SiteContext, peer: PeerInfo, m: Msg<"REJECT">): Promise<EndResult> {
  const key = originKeyOf(ctx, m.transferId);
  if (!key) return { partitions: [], ended: [] };
  const now = ctx.clock.now();
  const { step } = await stepJob(ctx, key, (cur) => originStep(cur, { kind: "reject", now, peer, m }));
  return perform(ctx, peer, peer.short, step);
}

/**
 * JOB_END: the moved job ended at the peer: the M record takes the outcome and the usage is
 * charged here, once; always acknowledged.
 */
export async function onJobEnd(ctx: SiteContext, peer: PeerInfo, m: Msg<"JOB_END">): Promise<EndResult> {
  const now = ctx.clock.now();
  const { step } = await stepJob(ctx, originKeyOf(ctx, m.transferId), (cur) =>
    originStep(cur, { kind: "jobEnd", now, peer, m }),
  );
  return perform(ctx, peer, peer.short, step);
}

/** JOB_STATE: the moved job's live state at the peer (qstat here lists it under its ID). */
export async function onJobState(ctx: SiteContext, peer: PeerInfo, m: Msg<"JOB_STATE">): Promise<EndResult> {
  const now = ctx.clock.now();
  const { step } = await stepJob(ctx, originKeyOf(ctx, m.transferId), (cur) =>
    originStep(cur, { kind: "jobState", now, peer, m }),
  );
  // a relay (second hop) goes to this job's own origin, not back to the sender
  const origin = findPeer(ctx, step.state?.inbound?.from);
  if (origin) await perform(ctx, origin, origin.short, step);
  else
    await perform(ctx, peer, peer.short, { ...step, effects: step.effects.filter((e) => e.kind !== "send") });
  return { partitions: [], ended: [] };
}
