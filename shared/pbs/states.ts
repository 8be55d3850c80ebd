/**
 * The PBS job state machine as data.
 *
 * States: Q queued, H held, W waiting (execution time in the future), T in transit (being moved
 * to a peer), R running, E exiting, F finished, M moved (the origin keeps a record, the job
 * lives on elsewhere), B array begun (parent of an array with at least one subjob started),
 * X subjob finished.
 *
 * Transitions (from -> to, and why):
 * - Q -> R run; Q -> H hold; Q -> W execution time set in the future (qalter -a); Q -> T move to
 *   a peer (qmove/federation); Q -> B first subjob of an array started; Q -> F qdel of a queued
 *   job; Q -> X qdel of a queued subjob.
 * - H -> Q release; H -> W release while the execution time is still in the future; H -> F qdel.
 * - W -> Q execution time reached; W -> H hold; W -> F qdel.
 * - T -> Q transfer failed, job is back in its queue; T -> M transfer succeeded; T -> F deleted
 *   while in transit.
 * - R -> E job script ended, epilogue/staging running; R -> F killed / node lost without rerun;
 *   R -> Q requeue (qrerun, node failure with a rerunnable job); R -> X subjob killed.
 * - E -> F done; E -> Q requeued on exit (rerun exit status); E -> X subjob done.
 * - B -> F all subjobs finished or the array was deleted.
 * - F, M, X are terminal.
 *
 * Not modelled: suspend (S/U), checkpoint-hold of a running job (R -> H).
 */
import { PbsParseError } from "../errors.js";
import type { JobState } from "./types.js";

export const JOB_STATES: readonly JobState[] = ["Q", "H", "W", "T", "R", "E", "F", "M", "B", "X"];

export const TRANSITIONS: Readonly<Record<JobState, readonly JobState[]>> = {
  Q: ["R", "H", "W", "T", "B", "F", "X"],
  H: ["Q", "W", "F"],
  W: ["Q", "H", "F"],
  T: ["Q", "M", "F"],
  R: ["E", "F", "Q", "X"],
  E: ["F", "Q", "X"],
  B: ["F"],
  F: [],
  M: [],
  X: [],
};

/** True when `from -> to` is a legal transition (a state never "transitions" to itself). */
export function canTransition(from: JobState, to: JobState): boolean {
  return TRANSITIONS[from]?.includes(to) ?? false;
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
