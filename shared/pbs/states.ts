/**
 * The PBS job state machine as data. The store checks every job write against it (a job item
 * is created only in a state of CREATED_IN, and changes only along TRANSITIONS), so this table
 * is what the code does, not a description of it: a write that breaks it fails loudly.
 *
 * States: Q queued, H held, W waiting (execution time in the future), T in transit (being moved
 * to a peer, or received from one and not yet committed), R running, E exiting, F finished,
 * M moved (the origin keeps a record, the job lives on elsewhere), B array begun (parent of an
 * array with at least one subjob started), X subjob finished.
 *
 * A job is created in (CREATED_IN):
 * - Q or H by qsub (H when it carries a user hold or waits on other jobs); W by qsub -a with
 *   an Execution_Time still ahead (and no hold);
 * - T on the receiving site of a transfer, until the origin's COMMIT;
 * - R for an array subjob: it exists as a record only from its start, written with its
 *   parent's Q/B -> B in one transaction.
 *
 * Transitions (from -> to: the operation that makes it):
 * - Q -> R the scheduler starts the job (cycle claim).
 * - Q -> B the scheduler starts the first subjobs of an array (claimSubjobs).
 * - Q -> H qhold; qalter -h; qsub of a job with a before* dependency on this one (submit).
 * - Q -> T a peer's OFFER pulls the job, or qmove to a queue at a peer (markInTransit; only a
 *   queued job without holds or pending dependencies is handed over: pinnedReason).
 * - Q -> F qdel; a dependency that can never be satisfied (a job whose s hold an operator
 *   released); qdel of the last index an array had left to run (deleteQueuedSubjob).
 * - H -> Q qrls, or the last dependency satisfied, removes the last hold (withHolds).
 * - H -> W the same, for a job whose Execution_Time (-a) is still ahead.
 * - Q -> W qalter -a to a time ahead; W -> Q the sweeper (Execution_Time reached) or qalter -a
 *   to a time past; W -> H qhold; W -> F qdel.
 * - H -> T qmove of a held job to a queue at a peer (PBS allows it): it arrives held.
 * - H -> F qdel; a dependency that can never be satisfied; qdel of the last unstarted index of
 *   a held array.
 * - T -> M the peer ACCEPTed the transfer (origin).
 * - T may also be a subjob's creation state at its origin: handed to a peer, it gets its record
 *   (in transit) with its parent's Q/B -> B in one transaction, as a start does.
 * - T -> Q, T -> H the peer REJECTed it or it timed out: back in its queue, held if it has holds
 *   (origin, backToQueue); the origin COMMITted (receiver, onCommit). Only an unheld Q job is
 *   handed over (pinnedReason), so T -> H needs a hold added in transit, which no operation does
 *   today; the code writes it and PBS allows it, so the table does too.
 * - T -> F qdel of a job in transit (at the origin, or its uncommitted copy at the receiver).
 * - T -> X, Q -> X the same for an array subjob at its origin: handed to a peer it is a record
 *   in transit (peers/subjob-transit.ts), and Q again if the peer refused it or the transfer
 *   timed out (a subjob record in Q runs here like any job).
 * - R -> F the job ended (obituary), was deleted, or its MOM was lost and it may not rerun.
 * - R -> X the same for an array subjob.
 * - R -> Q requeue: qrerun, a lost MOM with a rerunnable job, a dispatch that failed.
 * - R -> H a `-W stagein` the MOM could not do: held (hold s) as PBS holds it (STAGEFAIL); the
 *   MOM stages after the dispatch, so the job is R here where PBS's is still queued.
 * - B -> F the last subjob was counted (subjobEnded), qdel of the last unstarted index, or qdel
 *   of the array when none of its subjobs runs (deleteArray).
 * - F, M, X are terminal (M still records the end reported by the peer, but stays M).
 * - A write that keeps the state (a comment, a hold type added, a subjob counted) is always
 *   allowed.
 *
 * E is a PBS state the tools accept (qstat, qselect) but this server never enters: a MOM
 * reports a job's end in one step, so R goes straight to F/X/Q with no exiting phase. Its row
 * is empty; entering it fails the store's check.
 *
 * Not modelled: suspend (S/U), checkpoint-hold of a running job.
 */
import { IllegalTransitionError, PbsParseError } from "../errors.js";
import type { JobState } from "./types.js";

export const JOB_STATES: readonly JobState[] = ["Q", "H", "W", "T", "R", "E", "F", "M", "B", "X"];

/** States a job item may be created in (see above). */
export const CREATED_IN: readonly JobState[] = ["Q", "H", "W", "T", "R"];

/** PBS states this server never enters (no exiting phase): see above. */
export const UNUSED_STATES: readonly JobState[] = ["E"];

export const TRANSITIONS: Readonly<Record<JobState, readonly JobState[]>> = {
  Q: ["R", "B", "H", "T", "F", "W", "X"],
  H: ["Q", "F", "W", "T"],
  W: ["Q", "H", "F"],
  T: ["M", "Q", "H", "F", "X"],
  R: ["F", "X", "Q", "H"],
  E: [],
  B: ["F"],
  F: [],
  M: [],
  X: [],
};

/** True when `from -> to` is a legal transition (a state never "transitions" to itself). */
export function canTransition(from: JobState, to: JobState): boolean {
  return TRANSITIONS[from]?.includes(to) ?? false;
}

/**
 * Throws IllegalTransitionError unless a job may be written from `from` to `to`: the same state
 * (any other change of the job) or a transition of the table.
 */
export function checkTransition(jobId: string, from: JobState, to: JobState): void {
  if (from !== to && !canTransition(from, to))
    throw new IllegalTransitionError(
      `job ${jobId}: state ${from} -> ${to} is not a transition of the job state table`,
    );
}

/** Throws IllegalTransitionError unless a job may be created in `state`. */
export function checkCreatedIn(jobId: string, state: JobState): void {
  if (!CREATED_IN.includes(state))
    throw new IllegalTransitionError(`job ${jobId}: a job is never created in state ${state}`);
}

/** F (finished), M (moved away) and X (subjob finished) are final. */
export function isTerminal(s: JobState): boolean {
  return s === "F" || s === "M" || s === "X";
}

/** R and E: the job holds execution resources (counts against node/queue usage). */
export function isActive(s: JobState): boolean {
  return s === "R" || s === "E";
}

/** Q, H, W, T: the job has not started yet. */
export function isPending(s: JobState): boolean {
  return s === "Q" || s === "H" || s === "W" || s === "T";
}

export type StateCountKey = "Transit" | "Queued" | "Held" | "Waiting" | "Running" | "Exiting" | "Begun";

/** Order used by PBS in `state_count`. */
export const STATE_COUNT_KEYS: readonly StateCountKey[] = [
  "Transit",
  "Queued",
  "Held",
  "Waiting",
  "Running",
  "Exiting",
  "Begun",
];

const COUNT_KEY: Partial<Record<JobState, StateCountKey>> = {
  T: "Transit",
  Q: "Queued",
  H: "Held",
  W: "Waiting",
  R: "Running",
  E: "Exiting",
  B: "Begun",
};

/** The PBS `state_count` bucket of a state; undefined for F, M, X (not counted). */
export function stateCountKey(s: JobState): StateCountKey | undefined {
  return COUNT_KEY[s];
}

/** `Transit:0 Queued:3 Held:0 Waiting:0 Running:1 Exiting:0 Begun:0` from a list of states. */
export function formatStateCount(states: Iterable<JobState>): string {
  const counts: Record<StateCountKey, number> = {
    Transit: 0,
    Queued: 0,
    Held: 0,
    Waiting: 0,
    Running: 0,
    Exiting: 0,
    Begun: 0,
  };
  for (const s of states) {
    const k = COUNT_KEY[s];
    if (k) counts[k]++;
  }
  return STATE_COUNT_KEYS.map((k) => `${k}:${counts[k]} `)
    .join("")
    .trimEnd();
}

/** Hold types: u user, o other (operator), s system, p bad password. */
export type HoldType = "u" | "o" | "s" | "p";
export const HOLD_TYPES: readonly HoldType[] = ["u", "o", "s", "p"];

/**
 * Parse a Hold_Types / `qhold -h` value: any of `u o s p` (each at most once) or `n` alone (none,
 * returns []). The result is in canonical order u, o, s, p.
 */
export function holdTypesFrom(text: string): HoldType[] {
  const t = text.trim();
  if (t === "n") return [];
  if (t === "" || !/^[uosp]+$/.test(t) || new Set(t).size !== t.length) {
    throw new PbsParseError(
      `Illegal attribute or resource value: hold type "${text}" (use letters u, o, s, p each once, or n for none)`,
    );
  }
  return HOLD_TYPES.filter((h) => t.includes(h));
}

/** Canonical Hold_Types text: `n` when empty, else the letters in order u, o, s, p. */
export function formatHoldTypes(types: Iterable<HoldType>): string {
  const set = new Set(types);
  const s = HOLD_TYPES.filter((h) => set.has(h)).join("");
  return s === "" ? "n" : s;
}
