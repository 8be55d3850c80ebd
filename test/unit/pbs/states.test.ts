import { describe, expect, it } from "vitest";
import { IllegalTransitionError } from "../../../shared/errors.js";
import {
  CREATED_IN,
  canTransition,
  checkCreatedIn,
  checkTransition,
  formatHoldTypes,
  formatStateCount,
  holdTypesFrom,
  isActive,
  isPending,
  isTerminal,
  JOB_STATES,
  stateCountKey,
  TRANSITIONS,
  UNUSED_STATES,
} from "../../../shared/pbs/states.js";
import type { JobState } from "../../../shared/pbs/types.js";
import { expectParseError } from "./helpers.js";

describe("canTransition", () => {
  // One example per operation that changes a job's state (see the table's comment).
  it.each([
    ["Q", "R", "the scheduler starts a job (cycle claim)"],
    ["Q", "B", "the scheduler starts an array's first subjobs (claimSubjobs)"],
    ["Q", "H", "qhold / qalter -h / a before* dependency added by qsub"],
    ["Q", "T", "a peer's OFFER pulls the job, or qmove to a peer's queue"],
    ["Q", "F", "qdel of a queued job"],
    ["H", "Q", "qrls or the last dependency satisfied (withHolds)"],
    ["H", "F", "qdel of a held job, or a dependency that can never be satisfied"],
    ["H", "W", "qrls of a job whose Execution_Time (-a) is still ahead"],
    ["Q", "W", "qalter -a to a time ahead"],
    ["W", "Q", "Execution_Time reached (sweeper), or qalter -a to a time past"],
    ["W", "H", "qhold of a deferred job"],
    ["W", "F", "qdel of a deferred job"],
    ["T", "M", "the peer ACCEPTed the transfer"],
    ["T", "Q", "the peer REJECTed it or it timed out; COMMIT at the receiver"],
    ["T", "H", "a held job's transfer REJECTed or timed out (backToQueue)"],
    ["T", "F", "qdel of a job in transit"],
    ["T", "X", "qdel of an array subjob in transit to a peer, at its origin"],
    ["Q", "X", "qdel of an array subjob back in its origin's queue from a refused transfer"],
    ["R", "F", "the job ended (obituary), or its MOM was lost and it may not rerun"],
    ["R", "X", "an array subjob ended"],
    ["R", "Q", "qrerun, a lost MOM with a rerunnable job, a failed dispatch"],
    ["R", "H", "the MOM could not stage the job's files in (hold s, PBS's STAGEFAIL)"],
    ["B", "F", "the last subjob was counted, or qdel of the last unstarted index"],
  ] as [JobState, JobState, string][])("%s -> %s is allowed: %s", (from, to) => {
    expect(canTransition(from, to)).toBe(true);
    expect(() => checkTransition("1.s", from, to)).not.toThrow();
  });

  it.each([
    ["F", "Q"],
    ["F", "R"],
    ["M", "Q"],
    ["X", "R"],
    ["H", "R"],
    ["E", "R"],
    ["Q", "E"],
    ["R", "E"],
    ["W", "R"],
    ["W", "T"],
    ["B", "X"],
    ["B", "R"],
    ["T", "R"],
    ["R", "T"],
  ] as [JobState, JobState][])("%s -> %s is refused", (from, to) => {
    expect(canTransition(from, to)).toBe(false);
    expect(() => checkTransition("1.s", from, to)).toThrow(IllegalTransitionError);
  });

  it("a write that keeps the state is always allowed, even in a terminal state", () => {
    for (const s of JOB_STATES) {
      expect(canTransition(s, s)).toBe(false);
      expect(() => checkTransition("1.s", s, s)).not.toThrow();
    }
  });

  it("terminal and unused states have no way out, every other state has one, and every state is in the table", () => {
    for (const s of JOB_STATES) {
      expect(TRANSITIONS[s]).toBeDefined();
      if (isTerminal(s) || UNUSED_STATES.includes(s)) expect(TRANSITIONS[s]).toEqual([]);
      else expect(TRANSITIONS[s].length).toBeGreaterThan(0);
    }
  });

  it("no transition leads into an unused state, and every state but E can be reached", () => {
    const entered = new Set<JobState>([...CREATED_IN, ...Object.values(TRANSITIONS).flat()]);
    for (const s of UNUSED_STATES) expect(entered.has(s)).toBe(false);
    expect(JOB_STATES.filter((s) => !entered.has(s))).toEqual([...UNUSED_STATES]);
  });

  it("a job is created only in Q, H, W (qsub), T (received from a peer) or R (array subjob)", () => {
    for (const s of ["Q", "H", "W", "T", "R"] as JobState[])
      expect(() => checkCreatedIn("1.s", s)).not.toThrow();
    for (const s of ["E", "F", "M", "B", "X"] as JobState[])
      expect(() => checkCreatedIn("1.s", s)).toThrow(IllegalTransitionError);
  });
});

describe("state predicates", () => {
  it("classifies states", () => {
    expect(JOB_STATES.filter(isTerminal)).toEqual(["F", "M", "X"]);
    expect(JOB_STATES.filter(isActive)).toEqual(["R", "E"]);
    expect(JOB_STATES.filter(isPending)).toEqual(["Q", "H", "W", "T"]);
  });

  it("maps to state_count keys", () => {
    expect(stateCountKey("Q")).toBe("Queued");
    expect(stateCountKey("T")).toBe("Transit");
    expect(stateCountKey("B")).toBe("Begun");
    expect(stateCountKey("F")).toBeUndefined();
    expect(formatStateCount(["Q", "Q", "R", "F", "H"])).toBe(
      "Transit:0 Queued:2 Held:1 Waiting:0 Running:1 Exiting:0 Begun:0",
    );
  });
});

describe("hold types", () => {
  it("parses and formats", () => {
    expect(holdTypesFrom("u")).toEqual(["u"]);
    expect(holdTypesFrom("sou")).toEqual(["u", "o", "s"]);
    expect(holdTypesFrom("n")).toEqual([]);
    expect(formatHoldTypes([])).toBe("n");
    expect(formatHoldTypes(["s", "u"])).toBe("us");
    expect(formatHoldTypes(holdTypesFrom("pu"))).toBe("up");
  });

  it.each(["", "x", "uu", "un", "n u", "U"])("rejects %j", (t) => {
    expectParseError(() => holdTypesFrom(t), "hold type");
  });
});
