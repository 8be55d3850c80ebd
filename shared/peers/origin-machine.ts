/**
 * The origin's side of moving a queued job to a peer, as a pure state machine: (job record,
 * input) -> (record after, effects). No I/O, no clock (time comes in the input); the shells
 * (origin.ts, outbox.ts) read, run it, write conditionally and send.
 *
 * A job's transfer state here is its record:
 *
 *   queued here (Q/H)  --forward-->  in transit under X (T, xfer.id = X, deadline)
 *   in transit under X --ACCEPT X-->  moved to P (M, xfer.id = X)            sends COMMIT X
 *   in transit under X --REJECT X-->  back (Q/H, refusedBy += P)
 *   in transit under X --timeout X->  back (Q/H)                             sends ABORT X
 *   moved under X      --JOB_END X->  moved, outcome recorded (obittime)     sends JOB_END_ACK
 *
 * The protocol (the receiver's side is receiver-machine.ts):
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
 * Invariants, and the guard that keeps each (test/unit/peers/MUTANTS.md names a mutant per guard):
 * - The origin is the coordinator: exactly one of COMMIT or ABORT is ever decided for a transfer.
 *   ACCEPT, REJECT and the timeout change the job only while it is in transit *under that
 *   transfer* (`inTransitUnder`): state T (a job back in the queue has been taken back: settling
 *   it would say "moved" of a job whose copy was aborted; `accept-not-in-transit`) and the same
 *   transfer ID (an earlier, timed-out transfer of the same job must not settle the current one;
 *   `settle-any-transfer`). The shells write conditionally on the record read, so of two
 *   settlements racing (the inbox's ACCEPT and the sweep's timeout) one wins and the other
 *   re-reads and finds the job no longer in transit under X.
 * - COMMIT is sent only for a job moved under *this* transfer (`movedUnder`): a duplicate ACCEPT of
 *   the committed transfer is answered COMMIT again, any other ACCEPT (late, after a timeout took
 *   the job back: `late-accept-commit`; of an earlier transfer of a job since moved by another:
 *   `commit-other-transfer`) is answered ABORT, or its copy would run next to the job here.
 * - The timeout sends ABORT unless the transfer got committed meanwhile: an ACCEPT handled
 *   between the sweep's read and its write wins (T -> M, COMMIT sent), and an ABORT then would
 *   drop the copy the origin now counts on (`sweep-abort-after-commit`). The timeout re-checks
 *   `inTransitUnder` on the fresh record for the same reason (`sweep-timeout-no-recheck`).
 * - A JOB_END is recorded once (`obittime` unset): the usage is charged in the same write, so a
 *   re-sent JOB_END must not charge it again (`job-end-charged-twice`). Every JOB_END is
 *   acknowledged, recorded now or before, known or not, or the peer would re-send it forever.
 * - An array subjob moves as a record of its own (subjob-transit.ts materialises it in T), so
 *   all of the above holds for it; its recorded end is also counted on its array, which stays
 *   here: asked for at every JOB_END once recorded (a crash may come between record and count),
 *   done once (`countOnArray`: job-end.ts subjobEnded, guarded by the subjob's `counted` mark).
 */
import { formatSize } from "../pbs/size.js";
import { formatWalltime } from "../pbs/walltime.js";
import { type JobRecord, withTrace } from "../server/job.js";
import type { JobPayload, PeerBody } from "./messages.js";
import { type Effect, type Msg, type Step, send, stay } from "./step.js";

/** The peer a step is about: its short name (messages, metrics) and server (comments). */
export interface PeerName {
  short: string;
  server: string;
}

export type OriginInput =
  /** hand this queued job to `peer`'s queue `into` under the new transfer `transferId` */
  | {
      kind: "forward";
      now: number;
      peer: PeerName;
      transferId: string;
      deadline: number;
      into: string;
      why: string;
    }
  | { kind: "accept"; now: number; peer: PeerName; m: Msg<"ACCEPT"> }
  | { kind: "reject"; now: number; peer: PeerName; m: Msg<"REJECT"> }
  | { kind: "jobEnd"; now: number; peer: PeerName; m: Msg<"JOB_END"> }
  | { kind: "jobState"; now: number; peer: PeerName; m: Msg<"JOB_STATE"> }
  /** the sweep found transfer `transferId` past its deadline, or its peer gone from the config */
  | { kind: "timeout"; now: number; peer: PeerName; transferId: string; peerKnown: boolean };

/** True while the job is in transit under this transfer: the only state a transfer settles in. */
export function inTransitUnder(
  job: JobRecord | undefined,
  transferId: string,
): job is JobRecord & { state: "T" } {
  return job?.state === "T" && job.xfer?.id === transferId;
}

/** True once the job moved under this transfer (ACCEPT of it won). */
export function movedUnder(
  job: JobRecord | undefined,
  transferId: string,
): job is JobRecord & { state: "M" } {
  return job?.state === "M" && job.xfer?.id === transferId;
}

/** One step of the origin's machine for a job (undefined: no such job here). */
export function originStep(job: JobRecord | undefined, input: OriginInput): Step {
  switch (input.kind) {
    case "forward":
      return forward(job, input);
    case "accept":
      return accept(job, input);
    case "reject":
      return reject(job, input);
    case "jobEnd":
      return jobEnd(job, input);
    case "jobState":
      return jobState(job, input);
    case "timeout":
      return timeout(job, input);
  }
}

function forward(job: JobRecord | undefined, i: Extract<OriginInput, { kind: "forward" }>): Step {
  // Only a waiting job leaves (the callers check pinnedReason first, which lets a held one go by
  // qmove only; this is the machine's own word on it): any other state is running or moving.
  if (job?.state !== "Q" && job?.state !== "H")
    return stay(job, job ? `job is ${job.state}, not queued` : "no such job");
  const xfer = { id: i.transferId, peer: i.peer.short, deadline: i.deadline, into: i.into };
  const after: JobRecord = {
    ...job,
    state: "T",
    xfer,
    mtime: i.now,
    comment: `Job in transit to ${i.into}@${i.peer.server}`,
    hist: withTrace(job.hist, {
      time: i.now,
      source: "S",
      message: `Job being moved to ${i.into}@${i.peer.server} (${i.why}), transfer ${xfer.id}`,
    }),
  };
  return {
    state: after,
    effects: [
      { kind: "write", after },
      { kind: "count", metric: "TransfersStarted" },
      send(forwardOf(after)),
    ],
  };
}

/** ACCEPT: the decision point. T -> M once; anything else about this transfer is answered ABORT. */
function accept(job: JobRecord | undefined, i: Extract<OriginInput, { kind: "accept" }>): Step {
  const { m } = i;
  const commit = send({ type: "COMMIT", transferId: m.transferId, newId: m.newId });
  if (inTransitUnder(job, m.transferId)) {
    const after: JobRecord = {
      ...job,
      state: "M",
      movedTo: m.newId,
      xfer: job.xfer ? { ...job.xfer, newId: m.newId } : undefined,
      mtime: i.now,
      comment: `Job moved to ${job.xfer?.into}@${i.peer.server}`,
      hist: withTrace(job.hist, {
        time: i.now,
        source: "S",
        message: `Job moved to ${job.xfer?.into}@${i.peer.server} (${m.newId} there)`,
      }),
    };
    const acct = {
      time: i.now,
      jobId: job.id,
      type: "M",
      data: {
        user: job.user,
        queue: job.queue,
        destination: m.newId,
        ...(job.account ? { account: job.account } : {}),
      },
    };
    return {
      state: after,
      effects: [{ kind: "write", after, acct }, { kind: "count", metric: "JobsMoved" }, commit],
    };
  }
  // A duplicate ACCEPT (the COMMIT was lost, or the receiver's sweep asks again): same answer.
  if (movedUnder(job, m.transferId)) return stay(job, "already moved under this transfer", commit);
  // Too late (timed out and back in the queue, deleted) or never ours: the copy must not run.
  const reason = job ? `job ${job.id} is no longer in transit to ${i.peer.short}` : "unknown transfer";
  return stay(job, reason, send({ type: "ABORT", transferId: m.transferId, reason }));
}

/** REJECT: back to the queue with the receiver's reason as the comment. */
function reject(job: JobRecord | undefined, i: Extract<OriginInput, { kind: "reject" }>): Step {
  if (!inTransitUnder(job, i.m.transferId)) return stay(job, "not in transit under this transfer");
  const back = backToQueue(job, i.now, `Transfer to ${i.peer.server} rejected: ${i.m.reason}`);
  // A policy refusal will say the same next time: do not hand this job to that peer again. A
  // transient one (this transfer came too late, e.g. its FORWARD was lost in a restart) says
  // nothing of the job: marking the peer would leave the job waiting for a site that is full
  // (the federation SIGKILL test caught jobs stranded that way).
  const after: JobRecord = i.m.transient
    ? back
    : { ...back, refusedBy: [...new Set([...(job.refusedBy ?? []), i.peer.short])] };
  return {
    state: after,
    effects: [
      { kind: "write", after },
      { kind: "count", metric: "TransfersRejected" },
      { kind: "cycle", partition: after.partition },
    ],
  };
}

/** The sweep's timeout: back to the queue, and ABORT unless an ACCEPT committed it meanwhile. */
function timeout(job: JobRecord | undefined, i: Extract<OriginInput, { kind: "timeout" }>): Step {
  const abort: Effect[] = i.peerKnown
    ? [send({ type: "ABORT", transferId: i.transferId, reason: "transfer timed out" })]
    : [];
  if (inTransitUnder(job, i.transferId)) {
    const after = backToQueue(job, i.now, `Transfer to ${i.peer.short} timed out; job back in queue`);
    return {
      state: after,
      effects: [
        { kind: "write", after },
        { kind: "count", metric: "TransfersTimedOut" },
        { kind: "cycle", partition: after.partition },
        ...abort,
      ],
    };
  }
  // An ACCEPT handled since the sweep's read won (T -> M, COMMIT sent): an ABORT would drop the
  // copy the origin now counts on (or contradict its COMMIT).
  if (movedUnder(job, i.transferId)) return stay(job, "committed since the sweep read it");
  // Already back (REJECT) or gone: the receiver may still hold a copy, which must not run.
  return stay(job, "no longer in transit under this transfer", ...abort);
}

/**
 * JOB_END: the moved job ended at the peer. The M record takes the outcome (qstat -x shows it,
 * dependents are released) and the usage is charged to the project here, once: the charge is in
 * the same write as the record of the end.
 */
function jobEnd(job: JobRecord | undefined, i: Extract<OriginInput, { kind: "jobEnd" }>): Step {
  const { m } = i;
  // Acknowledge whenever the end is recorded (now or before); unknown transfers too, or the
  // peer would re-send forever.
  const ack = send({ type: "JOB_END_ACK", transferId: m.transferId, newId: m.newId });
  // Its dependents are released whenever the end is recorded, now or before (the release is
  // idempotent, and a crash may have come between the record and the release).
  const ended = (j: JobRecord | undefined): Effect[] =>
    j?.obittime !== undefined && j.hasDeps ? [{ kind: "ended", key: j.key }] : [];
  // A subjob's recorded end is counted on its array, whenever it is recorded, now or before (a
  // crash may have come between the two): the count is idempotent (the subjob's `counted`).
  const counted = (j: JobRecord): Effect[] =>
    j.parentKey && j.obittime !== undefined && j.extra?.counted !== "1"
      ? [{ kind: "countOnArray", sub: j }]
      : [];
  if (!movedUnder(job, m.transferId)) return stay(job, "not moved under this transfer", ack, ...ended(job));
  // Recorded once: the charge is in the write that records the end, and JOB_END is re-sent
  // until acknowledged, so a second record would charge the usage twice.
  if (job.obittime !== undefined)
    return stay(job, "end already recorded", ack, ...ended(job), ...counted(job));
  const walltime = Math.round(m.used?.walltime ?? 0);
  const ncpus = Number(job.rl.ncpus) || m.used?.ncpus || 1;
  const account = job.account;
  // The peer echoes the account the job left with: a different one is worth a look, and the
  // usage is charged to the account the job was submitted under here either way.
  const warn: Effect[] =
    account !== undefined && m.account !== undefined && m.account !== account
      ? [
          {
            kind: "log",
            level: "warn",
            message: `usage for ${job.id} came back for account ${m.account}, not ${account}: charged to ${account}`,
          },
        ]
      : [];
  const data: Record<string, string | number> = {
    user: job.user,
    queue: job.queue,
    jobname: job.name,
    exec_site: i.peer.short,
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
  const after: JobRecord = {
    ...job,
    exitStatus: m.exitStatus,
    stime: m.stime,
    obittime: m.obittime,
    used: m.used ? { ...m.used, walltime } : undefined,
    mtime: i.now,
    comment: m.comment ? `${message}: ${m.comment}` : message,
    hist: withTrace(job.hist, { time: i.now, source: "S", message }),
  };
  const write: Effect = {
    kind: "write",
    after,
    acct: { time: i.now, jobId: job.id, type: m.deleted ? "D" : "E", data },
    charge:
      account && m.used
        ? { account, where: i.peer.short, coreSeconds: walltime * ncpus, walltime }
        : undefined,
  };
  return { state: after, effects: [write, ...warn, ack, ...ended(after), ...counted(after)] };
}

/**
 * JOB_STATE: the moved job's live state where it runs, so that qstat here lists it under its ID
 * as R (not M) while it runs there. Pushed by the executing site rather than asked for on each
 * qstat: a listing here then costs no round trip to every peer, and a peer that is down cannot
 * stall it. Reports are idempotent and ordered by `at`: a duplicate or one overtaken by a later
 * report changes nothing, and none changes a job whose end is recorded (JOB_END, re-sent until
 * acknowledged, is the word that counts). A lost report leaves the last one heard shown until
 * the next change or the end. No acknowledgement, so nothing is re-sent for it.
 * A job that moved on from here (a second hop) relays the report to its own origin.
 */
function jobState(job: JobRecord | undefined, i: Extract<OriginInput, { kind: "jobState" }>): Step {
  const { m } = i;
  if (!movedUnder(job, m.transferId)) return stay(job, "not moved under this transfer");
  if (job.obittime !== undefined) return stay(job, "end already recorded");
  if (job.remote && job.remote.at >= m.at) return stay(job, "an earlier report");
  const remote: NonNullable<JobRecord["remote"]> = { state: m.state, at: m.at, server: m.server };
  if (m.stime !== undefined) remote.stime = m.stime;
  if (m.execHost !== undefined) remote.execHost = m.execHost;
  const after: JobRecord = { ...job, remote, mtime: i.now };
  const relay: Effect[] =
    job.inbound?.committed && !job.inbound.endAcked
      ? [send({ ...m, transferId: job.inbound.transferId, newId: job.id })]
      : [];
  return { state: after, effects: [{ kind: "write", after }, ...relay] };
}

function backToQueue(cur: JobRecord, now: number, comment: string): JobRecord {
  const state = cur.holds ? "H" : "Q";
  return {
    ...cur,
    state,
    // enqueued again (PBS's etime): and a BACKLOG held back since tells the peers of it (offers.ts)
    etime: state === "Q" ? now : cur.etime,
    xfer: undefined,
    mtime: now,
    comment,
    hist: withTrace(cur.hist, { time: now, source: "S", message: comment }),
  };
}

/** What the origin's sweep owes a job it read in transit: nothing, a resend, or the timeout. */
export function originDue(
  job: JobRecord,
  t: { now: number; marginMs: number; peerKnown: boolean; resendDue: boolean },
): "timeout" | "resend" | undefined {
  if (job.state !== "T" || !job.xfer) return undefined;
  // A margin past the deadline: the receiver refuses by its own clock, which may lag ours.
  if (t.now > job.xfer.deadline + t.marginMs || !t.peerKnown) return "timeout";
  return t.resendDue ? "resend" : undefined;
}

/** The FORWARD for a job in transit (`xfer` set by the forward step). */
export function forwardOf(job: JobRecord): PeerBody {
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
    ...(job.holds ? { holds: job.holds } : {}),
  };
}
