import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { formatSize, parseSize } from "../../../shared/pbs/size.js";
import { formatWalltime, parseWalltime } from "../../../shared/pbs/walltime.js";
import { expectParseError } from "./helpers.js";

describe("parseSize", () => {
  it.each([
    ["100mb", 100 * 1024 ** 2],
    ["8GB", 8 * 1024 ** 3],
    ["2g", 2 * 1024 ** 3],
    ["512kb", 512 * 1024],
    ["512K", 512 * 1024],
    ["1024", 1024],
    ["1024b", 1024],
    ["1.5gb", 1.5 * 1024 ** 3],
    ["10w", 80],
    ["2kw", 2 * 1024 * 8],
    ["1tb", 1024 ** 4],
    ["1p", 1024 ** 5],
    ["0", 0],
    [" 4mb ", 4 * 1024 ** 2],
    ["0.5b", 1],
  ])("%s -> %d", (text, bytes) => {
    expect(parseSize(text)).toBe(bytes);
  });

  it.each(["", "  ", "-1mb", "mb", "1xb", "1 mb", "1e3", "abc", "1.2.3gb", "1mbb"])("rejects %j", (text) => {
    expectParseError(() => parseSize(text), /Illegal attribute or resource value: size/);
  });

  it("rejects values beyond the safe integer range", () => {
    expectParseError(() => parseSize("99999999999pb"), "too large");
  });
});

describe("formatSize", () => {
  it.each([
    [1073741824, "1gb"],
    [104857600, "100mb"],
    [1536, "1536b"],
    [2048, "2kb"],
    [0, "0b"],
    [1, "1b"],
    [1536 * 1024, "1536kb"],
    [1024 ** 5, "1pb"],
    [2 * 1024 ** 5, "2pb"],
  ])("%d -> %s", (bytes, text) => {
    expect(formatSize(bytes)).toBe(text);
  });

  it.each([-1, 1.5, Number.NaN, Number.POSITIVE_INFINITY])("rejects %d", (n) => {
    expectParseError(() => formatSize(n), "must be a whole number");
  });

  it("round-trips any byte count", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        (n) => parseSize(formatSize(n)) === n,
      ),
    );
  });

  it("round-trips multiples of units", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 1_000_000 }), fc.integer({ min: 0, max: 3 }), (k, p) => {
        const n = k * 1024 ** p;
        return parseSize(formatSize(n)) === n;
      }),
    );
  });
});

describe("parseWalltime", () => {
  it.each([
    ["10", 10],
    ["1:30", 90],
    ["01:00:00", 3600],
    ["100:00:00", 360000],
    ["90:00", 5400],
    ["3600", 3600],
    ["0", 0],
    ["00:00:00", 0],
    ["1:02:03", 3723],
    ["10.5", 11],
    ["1:00:00.0", 3600],
    [" 5:00 ", 300],
  ])("%s -> %d s", (text, sec) => {
    expect(parseWalltime(text)).toBe(sec);
  });

  it.each(["", "abc", "-10", "1:60", "1:00:60", "1:2:3:4", ":30", "1::2", "1:30:", "1h", "1 :30", "1.5:00"])(
    "rejects %j",
    (text) => {
      expectParseError(() => parseWalltime(text), /Illegal attribute or resource value: time/);
    },
  );

  it("explains the field range rule", () => {
    expectParseError(() => parseWalltime("10:75:00"), "0-59");
  });
});

describe("formatWalltime", () => {
  it.each([
    [0, "00:00:00"],
    [59, "00:00:59"],
    [3600, "01:00:00"],
    [3723, "01:02:03"],
    [360000, "100:00:00"],
    [3599.9, "00:59:59"],
  ])("%d -> %s", (sec, text) => {
    expect(formatWalltime(sec)).toBe(text);
  });

  it.each([-1, Number.NaN])("rejects %d", (n) => {
    expectParseError(() => formatWalltime(n), ">= 0");
  });

  it("round-trips", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000_000_000 }), (s) => parseWalltime(formatWalltime(s)) === s),
    );
  });
});
