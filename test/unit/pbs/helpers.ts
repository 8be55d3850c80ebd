import { expect } from "vitest";
import { PbsParseError } from "../../../shared/errors.js";

/** Assert that `fn` throws a PbsParseError whose message matches `pattern`. */
export function expectParseError(fn: () => unknown, pattern: RegExp | string): PbsParseError {
  let caught: unknown;
  try {
    fn();
  } catch (e) {
    caught = e;
  }
  expect(caught).toBeInstanceOf(PbsParseError);
  const err = caught as PbsParseError;
  if (typeof pattern === "string") expect(err.message).toContain(pattern);
  else expect(err.message).toMatch(pattern);
  expect(err.code).toBe("BadValue");
  return err;
}
