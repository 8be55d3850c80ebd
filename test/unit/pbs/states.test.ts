import { describe, expect, it } from "vitest";
import {
  canTransition,
  formatHoldTypes,
  formatStateCount,
  holdTypesFrom,
  isActive,
  isPending,
  isTerminal,
  JOB_STATES,
  stateCountKey,
  TRANSITIONS,
} from "../../../shared/pbs/states.js";
import type { JobState } from "../../../shared/pbs/types.js";
import { expectParseError } from "./helpers.js";

describe("canTransition", () => {
  it.each([
    ["Q", "R"],
    ["Q", "H"],
    ["H", "Q"],
    ["W", "Q"],
    ["Q", "W"],
    ["Q", "T"],
    ["T", "Q"],
    ["T", "M"],
    ["R", "E"],
    ["E", "F"],
    ["R", "F"],
    ["R", "Q"],
    ["Q", "F"],
    ["H", "F"],
    ["W", "F"],
    ["B", "F"],
    ["Q", "B"],
    ["E", "X"],
  ] as [JobState, JobState][])("%s -> %s is allowed", (from, to) => {
    expect(canTransition(from, to)).toBe(true);
  });

  it.each([
    ["F", "Q"],
    ["F", "R"],
    ["M", "Q"],
    ["X", "R"],
    ["H", "R"],
    ["W", "R"],
    ["E", "R"],
    ["Q", "E"],
    ["Q", "Q"],
    ["B", "R"],
    ["T", "R"],
  ] as [JobState, JobState][])("%s -> %s is refused", (from, to) => {
    expect(canTransition(from, to)).toBe(false);
  });

  it("terminal states have no way out, and every state is in the table", () => {
    for (const s of JOB_STATES) {
      expect(TRANSITIONS[s]).toBeDefined();
      if (isTerminal(s)) expect(TRANSITIONS[s]).toEqual([]);
      else expect(TRANSITIONS[s].length).toBeGreaterThan(0);
    }
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
