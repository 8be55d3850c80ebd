/**
 * The receiver's side of a job moved here from a peer, as a pure state machine: (what this site
 * knows of the transfer, input) -> (record after, effects). No I/O, no clock; the shells
 * (receiver.ts, outbox.ts) read, run it, write conditionally and send. The origin's side and the
 * whole exchange are drawn in origin-machine.ts.
 *
 * A received transfer is, here:
 *
 *   unknown           --FORWARD in time-->    copy held in T (transfer record "created")  ACCEPT
 *   unknown           --FORWARD too late-->   tombstoned (transfer record "aborted")      REJECT
 *   unknown           --ABORT-->              tombstoned
 *   held in T         --COMMIT-->             committed (Q/H: it may run now)
 *   held in T         --ABORT-->              tombstoned, copy dropped
 *   held in T         --resend tick-->        held in T                                   ACCEPT again
 *   committed, ended  --local end / tick-->   ended                                       JOB_END
 *   committed, ended  --JOB_END_ACK-->        ended, acknowledged (nothing more to send)
 *
 * Invariants, and the guard that keeps each (test/unit/peers/MUTANTS.md names a mutant per guard):
 * - A copy never runs before COMMIT: it is created in T, held (`receivedCopy`), and only COMMIT
 *   of its own transfer makes it Q. The origin may still take the job back (timeout, a late
 *   ACCEPT answered ABORT), and a copy that ran then would be a second run
 *   (`runnable-before-commit`).
 * - A transfer is created at most once: the copy is created together with a record of its
 *   transfer ID, so a duplicate FORWARD fails the create and is answered from that record, the
 *   first answer again (`forward-no-dedupe`).
 * - A FORWARD that arrives after its ABORT creates nothing: ABORT of an unknown transfer leaves a
 *   tombstone, and a FORWARD past its deadline is refused (and tombstoned). Either alone suffices
 *   while the origin follows the protocol (it sends ABORT only past the deadline plus a clock
 *   margin, or for a late ACCEPT, after the copy exists); the two together are the defence
 *   (`no-tombstone-no-deadline`; each alone is an equivalent mutant).
 * - ABORT drops an uncommitted copy (`abort-ignored`) and never a committed one: a correct origin
 *   never aborts what it committed, and a committed copy may be running.
 * - Every step this side waits on is asked again by the sweep until answered: a copy held in T
 *   re-sends its ACCEPT (a lost ACCEPT or COMMIT would otherwise leave it held forever;
 *   `receiver-no-accept-resend`), an ended copy re-sends JOB_END until JOB_END_ACK, which stops
 *   it (`end-ack-ignored`: else the sweep re-sends forever).
 */
import { isFinished, type JobRecord, withTrace } from "../server/job.js";
import { keyOfId } from "../server/mutate.js";
import type { TransferRecord } from "../server/records.js";
import type { PeerBody } from "./messages.js";
import { type Msg, type Step, send, stay } from "./step.js";

/** What this site knows of a transfer: its record (created / aborted) and the copy, if any. */
export interface Received {
  transfer?: TransferRecord;
  job?: JobRecord;
}

export type ReceiverInput =
  /** a FORWARD; `Received.transfer` is its record when one was read (after a lost create) */
  | { kind: "forward"; now: number; m: Msg<"FORWARD"> }
  /** this site's receive policy on a FORWARD in time: the copy it would create, or why not */
  | { kind: "admit"; m: Msg<"FORWARD">; copy: JobRecord }
  | { kind: "refuse"; m: Msg<"FORWARD">; reason: string }
  | { kind: "commit"; now: number; m: Msg<"COMMIT"> }
  | { kind: "abort"; m: Msg<"ABORT"> }
  | { kind: "jobEndAck"; m: Msg<"JOB_END_ACK"> }
  /** the copy ended here (or the sweep asks again): tell the origin */
  | { kind: "localEnd" }
  /** the copy's state changed here (started, held, released): tell the origin (origin-machine's jobState) */
  | { kind: "localState"; now: number; server: string }
  /** the sweep's resend tick for a copy whose last resend is due */
  | { kind: "tick" };

/** One step of the receiver's machine for a transfer. */
export function receiverStep(r: Received, input: ReceiverInput): Step {
  switch (input.kind) {
    case "forward":
      return forward(r, input);
    case "admit":
      return {
        state: input.copy,
        effects: [
          { kind: "createInbound", job: input.copy, transferId: input.m.transferId },
          send(acceptOf(input.m.transferId, input.m.originId, input.copy.id)),
        ],
      };
    case "refuse":
      return stay(
        r.job,
        input.reason,
        { kind: "count", metric: "TransfersRefused" },
        send(rejectOf(input.m, input.reason)),
      );
    case "commit":
      return commit(r.job, input);
    case "abort":
      return abort(r, input.m);
    case "jobEndAck":
      return jobEndAck(r.job, input.m);
    case "localEnd":
      return localEnd(r.job);
    case "localState":
      return localState(r.job, input.now, input.server);
    case "tick":
      return tick(r.job);
  }
}

/**
 * FORWARD. First run with nothing known (no read: a transfer seen before makes the create fail,
 * and only then is its record read and the machine run again with it). A duplicate costs a
 * sequence number, not a read per FORWARD.
 */
function forward(r: Received, i: Extract<ReceiverInput, { kind: "forward" }>): Step {
  const { m } = i;
  const t = r.transfer;
  if (t?.status === "created" && t.newId)
    return stay(
      r.job,
      "duplicate FORWARD: first answer again",
      send(acceptOf(m.transferId, m.originId, t.newId)),
    );
  if (t) return stay(r.job, "transfer was cancelled", send(rejectOf(m, "transfer was cancelled", true)));
  // Too late: the origin has (or soon will have) taken it back. The tombstone comes first, so
  // this transfer can never be created by a copy of this message still in flight.
  if (i.now > m.deadline)
    return {
      state: undefined,
      effects: [
        { kind: "tombstone", transferId: m.transferId },
        send(rejectOf(m, "transfer deadline passed", true)),
      ],
    };
  // In time: this site's policy decides (the shell runs it and answers with admit or refuse).
  return stay(undefined, undefined, { kind: "askPolicy" });
}

/** COMMIT: the origin recorded the move; the copy may run here now. */
function commit(job: JobRecord | undefined, i: Extract<ReceiverInput, { kind: "commit" }>): Step {
  const { m, now } = i;
  if (job?.state !== "T" || job.inbound?.transferId !== m.transferId || job.inbound.committed)
    return stay(job, job ? "not held for this transfer" : "no such copy");
  const after: JobRecord = {
    ...job,
    state: job.holds ? "H" : "Q",
    etime: now,
    qtime: now,
    mtime: now,
    inbound: { ...job.inbound, committed: true },
    hist: withTrace(job.hist, {
      time: now,
      source: "S",
      message: "Job move committed by the origin; queued",
    }),
  };
  const acct = {
    time: now,
    jobId: job.id,
    type: "Q",
    data: {
      queue: job.queue,
      user: job.user,
      origin: job.inbound.originId,
      ...(job.account ? { account: job.account } : {}),
    },
  };
  // the batch's handler asks for one cycle per partition for all the jobs committed in it
  return {
    state: after,
    effects: [
      { kind: "write", after, acct },
      ...(after.state === "Q" ? [{ kind: "cycle" as const, partition: after.partition }] : []),
    ],
  };
}

/** ABORT: drop the uncommitted copy, or make sure none is ever created. */
function abort(r: Received, m: Msg<"ABORT">): Step {
  if (r.transfer?.status === "aborted") return stay(r.job, "already aborted");
  const job = r.transfer?.key ? r.job : undefined;
  // A committed copy is kept: it may be running, and the origin counts on it (M). A correct
  // origin never aborts what it committed; this is the receiver's own guard against one that does.
  if (job && (job.state !== "T" || job.inbound?.committed))
    return stay(job, "committed", {
      kind: "log",
      level: "error",
      message: `ABORT for committed transfer ${m.transferId} (${job.id}): ignored`,
    });
  // No copy (yet): the tombstone makes sure none is ever created, by a FORWARD still in flight.
  // With a copy held in T: dropped with the tombstone, conditionally on the copy as read.
  return {
    state: undefined,
    effects: [
      { kind: "tombstone", transferId: m.transferId, job },
      { kind: "log", level: "info", message: `transfer ${m.transferId} aborted by the origin: ${m.reason}` },
    ],
  };
}

/** JOB_END_ACK: the origin has the outcome; stop re-sending. */
function jobEndAck(job: JobRecord | undefined, m: Msg<"JOB_END_ACK">): Step {
  if (job?.inbound?.transferId !== m.transferId || job.inbound.endAcked)
    return stay(job, job?.inbound?.endAcked ? "already acknowledged" : "not a copy of this transfer");
  const after: JobRecord = { ...job, inbound: { ...job.inbound, endAcked: true } };
  return { state: after, effects: [{ kind: "write", after }] };
}

/** Tell the origin a job it moved here has ended (in the origin's names). Idempotent. */
function localEnd(job: JobRecord | undefined): Step {
  const ib = job?.inbound;
  if (!job || !ib) return stay(job, "not a received copy");
  if (!isFinished(job.state)) return stay(job, "not finished");
  // Moved on to another peer: its end comes from there (origin-machine's jobEnd on this M
  // record), and is passed on then.
  if (job.state === "M" && job.obittime === undefined) return stay(job, "moved on; not ended yet");
  if (ib.endAcked) return stay(job, "end already acknowledged");
  return stay(job, undefined, send(jobEndOf(job)));
}

/** Report a committed copy's live state to its origin, which lists the job under its ID. */
function localState(job: JobRecord | undefined, now: number, server: string): Step {
  const ib = job?.inbound;
  if (!job || !ib?.committed) return stay(job, "not a committed received copy");
  // finished: JOB_END tells; moved on (M): the next site reports, relayed by this one
  const state = job.state;
  if (isFinished(state) || state === "B" || state === "F" || state === "X" || state === "M")
    return stay(job, `job is ${state}`);
  const body: Msg<"JOB_STATE"> = {
    type: "JOB_STATE",
    transferId: ib.transferId,
    newId: job.id,
    state,
    at: now,
    server,
  };
  if (job.state === "R" || job.state === "E") {
    if (job.stime !== undefined) body.stime = job.stime;
    if (job.execHost !== undefined) body.execHost = job.execHost;
  }
  return stay(job, undefined, send(body));
}

/** The sweep's resend: a copy still held asks for the decision again; an ended one re-reports. */
function tick(job: JobRecord | undefined): Step {
  const ib = job?.inbound;
  if (!job || !ib) return stay(job, "not a received copy");
  // Still waiting for the origin's decision: ask again (it answers COMMIT or ABORT).
  if (job.state === "T" && !ib.committed)
    return stay(job, undefined, send(acceptOf(ib.transferId, ib.originId, job.id)));
  if (isFinished(job.state) && !ib.endAcked) return localEnd(job);
  return stay(job, "nothing outstanding");
}

function acceptOf(transferId: string, originId: string, newId: string): PeerBody {
  return { type: "ACCEPT", transferId, originId, newId };
}

/**
 * REJECT. `transient` when only this transfer is refused (too late, cancelled): the job itself
 * would be welcome, and the origin must not stop offering it here.
 */
function rejectOf(m: Msg<"FORWARD">, reason: string, transient?: true): PeerBody {
  return {
    type: "REJECT",
    transferId: m.transferId,
    originId: m.originId,
    reason,
    ...(transient && { transient }),
  };
}

function jobEndOf(job: JobRecord): PeerBody {
  const ib = job.inbound;
  if (!ib) throw new Error(`job ${job.id} was not received`);
  return {
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
  };
}

/** What this site's receive policy settled for a FORWARD it admits (receiver.ts). */
export interface Admission {
  m: Msg<"FORWARD">;
  /** the sending peer's short name and server */
  from: { short: string; server: string };
  /** this site's short name, and the sequence number the copy takes */
  site: string;
  seq: number;
  now: number;
  queue: { name: string; partition: string };
  rl: Record<string, string>;
  sel: JobRecord["sel"];
  walltime: JobRecord["walltime"];
  /** the owner and account here (identity-map.ts) */
  user: string;
  account?: string;
}

/**
 * The copy to create for an admitted FORWARD: held in T until the origin's COMMIT (the origin
 * may still take the job back; a copy that could run now might run twice).
 */
export function receivedCopy(a: Admission): JobRecord {
  const p = a.m.job;
  // The job keeps its origin's ID here (as PBS's jobs keep `seq.origin-server` wherever they
  // run), under a key of its own (`103@casper`, keyOfId); `seq` is this site's number, which
  // only orders the indexes.
  const id = a.m.originId;
  return {
    id,
    key: keyOfId(id, a.site),
    seq: a.seq,
    site: a.site,
    state: "T",
    // a held job moved by qmove stays held here (COMMIT makes it H)
    holds: p.holds ?? "",
    queue: a.queue.name,
    partition: a.queue.partition,
    name: p.name,
    owner: `${a.user}@${p.submitHost}`,
    user: a.user,
    account: a.account,
    project: p.project,
    script: p.script,
    submitDir: p.submitDir,
    submitHost: p.submitHost,
    rl: a.rl,
    sel: a.sel,
    walltime: a.walltime,
    priority: p.priority,
    rerunnable: p.rerunnable,
    join: p.join,
    outPath: p.outPath,
    errPath: p.errPath,
    env: { ...p.env, PBS_O_QUEUE: a.queue.name },
    extra: p.extra,
    ctime: p.ctime,
    qtime: a.now,
    mtime: a.now,
    runCount: 0,
    // someone (the origin) must hear when this job ends: the end path looks at hasDeps
    hasDeps: true,
    inbound: {
      transferId: a.m.transferId,
      originId: a.m.originId,
      from: a.from.short,
      committed: false,
      originUser: p.user,
      originAccount: p.account,
    },
    hist: [
      {
        time: a.now,
        source: "S",
        message: `Job received from ${a.from.server} as ${a.m.originId}, owner = ${a.user}${a.account ? `, account = ${a.account}` : ""}; waiting for the origin to commit`,
      },
    ],
    ver: 0,
  };
}
