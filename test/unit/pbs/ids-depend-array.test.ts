import { describe, expect, it } from "vitest";
import {
  arrayIndices,
  countIndices,
  formatArrayRange,
  inRange,
  MAX_ARRAY_SIZE,
  parseArrayPart,
  parseArrayRange,
} from "../../../shared/pbs/array.js";
import { formatDepend, MAX_DEPEND_JOBS, parseDepend } from "../../../shared/pbs/depend.js";
import { formatJobId, parseDestination, parseJobId } from "../../../shared/pbs/jobid.js";
import { expectParseError } from "./helpers.js";

describe("parseJobId", () => {
  it.each([
    ["123", { seq: "123" }],
    ["123.casper", { seq: "123", server: "casper" }],
    ["123.casper-pbs", { seq: "123", server: "casper-pbs" }],
    ["123.casper.ucar.edu", { seq: "123", server: "casper.ucar.edu" }],
    ["123[]", { seq: "123", arrayIndex: "" }],
    ["123[].casper", { seq: "123", server: "casper", arrayIndex: "" }],
    ["123[7].casper", { seq: "123", server: "casper", arrayIndex: "7" }],
    // subjob ranges, as PBS's qstat, qdel and qrerun take them
    ["123[1-5]", { seq: "123", arrayIndex: "1-5" }],
    ["123[0-100:5].casper", { seq: "123", server: "casper", arrayIndex: "0-100:5" }],
  ])("%s", (text, ref) => {
    expect(parseJobId(text)).toEqual(ref);
  });

  it.each([
    "foo",
    "",
    "123.",
    ".casper",
    "123[a]",
    "123[1",
    "123 .casper",
    " 123",
    "123[]. casper",
    "-1",
    "12x",
    "123[1-]",
    "123[-5]",
    "123[1-5:]",
    "123[1-5%2]",
  ])("rejects %j", (text) => {
    expectParseError(() => parseJobId(text), `illegally formed job identifier: ${text}`);
  });
});

describe("parseArrayPart (what a job ID's brackets name)", () => {
  it("reads the array, one subjob or a range", () => {
    expect(parseArrayPart("")).toEqual({ kind: "array" });
    expect(parseArrayPart("7")).toEqual({ kind: "subjob", index: 7 });
    expect(parseArrayPart("3-3")).toEqual({ kind: "range", range: { start: 3, end: 3, step: 1 } });
    expect(parseArrayPart("1-9:4")).toEqual({ kind: "range", range: { start: 1, end: 9, step: 4 } });
  });
  it.each(["5-1", "1-5:0", "x"])("rejects %j", (text) => {
    expectParseError(() => parseArrayPart(text), "illegally formed job identifier");
  });
  it("inRange: the range's own indices only", () => {
    const r = { start: 1, end: 9, step: 4 };
    expect([0, 1, 2, 5, 9, 10, 13].filter((i) => inRange(r, i))).toEqual([1, 5, 9]);
  });
});

describe("formatJobId", () => {
  it("formats plain, array parent and subjob ids", () => {
    expect(formatJobId("123", "casper")).toBe("123.casper");
    expect(formatJobId("123", "casper", "")).toBe("123[].casper");
    expect(formatJobId("123", "casper", "7")).toBe("123[7].casper");
    expect(formatJobId("123", "")).toBe("123");
  });
  it("round-trips through parseJobId", () => {
    const r = parseJobId(formatJobId("42", "desched1", "3"));
    expect(r).toEqual({ seq: "42", server: "desched1", arrayIndex: "3" });
  });
});

describe("parseDestination", () => {
  it.each([
    ["main", { queue: "main" }],
    ["main@desched1", { queue: "main", server: "desched1" }],
    ["@casper-pbs", { server: "casper-pbs" }],
    ["q.gpu-1_x", { queue: "q.gpu-1_x" }],
    ["abcdefghijklmno", { queue: "abcdefghijklmno" }],
  ])("%s", (text, dest) => {
    expect(parseDestination(text)).toEqual(dest);
  });

  it.each([
    ["", "empty"],
    ["@", "bad server name"],
    ["main@", "bad server name"],
    ["1main", "start with a letter"],
    ["abcdefghijklmnop", "at most 15"],
    ["ma in", "start with a letter"],
    ["main@-x", "bad server name"],
    ["a@b@c", "bad server name"],
  ])("rejects %j", (text, msg) => {
    expectParseError(() => parseDestination(text), msg);
  });
});

describe("parseDepend", () => {
  it("parses types separated by commas and ids by colons", () => {
    expect(parseDepend("afterok:123.casper:124,afterany:125")).toEqual([
      { type: "afterok", jobs: ["123.casper", "124"] },
      { type: "afterany", jobs: ["125"] },
    ]);
  });

  it("parses every type, case-insensitively", () => {
    const text =
      "after:1,afterok:2,afternotok:3,afterany:4,before:5,beforeok:6,beforenotok:7,beforeany:8[],on:2,AFTEROK:9";
    const deps = parseDepend(text);
    expect(deps.map((d) => d.type)).toEqual([
      "after",
      "afterok",
      "afternotok",
      "afterany",
      "before",
      "beforeok",
      "beforenotok",
      "beforeany",
      "on",
      "afterok",
    ]);
    expect(deps[8]).toEqual({ type: "on", jobs: [], count: 2 });
  });

  it.each([
    ["", "empty"],
    ["afterwards:1", 'unknown dependency type "afterwards"'],
    ["afterok", "needs job IDs"],
    ["afterok:", "needs job IDs"],
    ["afterok:1::2", "needs job IDs"],
    ["afterok:1,", "empty entry"],
    ["afterok:foo", "illegally formed job identifier: foo"],
    ["afterok:12[1-5].casper", "illegally formed job identifier: 12[1-5].casper"],
    ["on", "needs a count"],
    ["on:0", "positive integer"],
    ["on:x", "positive integer"],
    ["on:1:2", "positive integer"],
  ])("rejects %j", (text, msg) => {
    expectParseError(() => parseDepend(text), msg);
  });

  it(`allows ${MAX_DEPEND_JOBS} job ids and rejects more`, () => {
    const ids = Array.from({ length: MAX_DEPEND_JOBS }, (_, i) => String(i + 1));
    expect(parseDepend(`afterok:${ids.join(":")}`)[0].jobs).toHaveLength(MAX_DEPEND_JOBS);
    expectParseError(() => parseDepend(`afterok:${ids.join(":")},afterany:999`), "the limit is 100");
  });

  it("formats canonically and round-trips", () => {
    const deps = parseDepend("AfterOK:1.a:2[].a,on:3,beforeany:7");
    expect(formatDepend(deps)).toBe("afterok:1.a:2[].a,on:3,beforeany:7");
    expect(parseDepend(formatDepend(deps))).toEqual(deps);
  });
});

describe("parseArrayRange", () => {
  it.each([
    ["1-10", { start: 1, end: 10, step: 1 }, 10],
    ["0-100:5", { start: 0, end: 100, step: 5 }, 21],
    ["1-1000%10", { start: 1, end: 1000, step: 1, maxConcurrent: 10 }, 1000],
    ["0-9:3%2", { start: 0, end: 9, step: 3, maxConcurrent: 2 }, 4],
    ["0-1", { start: 0, end: 1, step: 1 }, 2],
  ])("%s", (text, range, count) => {
    const r = parseArrayRange(text);
    expect(r).toEqual(range);
    expect(countIndices(r)).toBe(count);
    expect(arrayIndices(r)).toHaveLength(count);
    expect(formatArrayRange(r)).toBe(text);
  });

  it("lists indices with a step", () => {
    expect(arrayIndices(parseArrayRange("0-10:4"))).toEqual([0, 4, 8]);
  });

  it.each([
    ["", "expected X-Y"],
    ["5", "expected X-Y"],
    ["-1-5", "expected X-Y"],
    ["5-5", "greater than the start"],
    ["10-1", "greater than the start"],
    ["1-10:0", "step must be >= 1"],
    ["1-10%0", "%max must be >= 1"],
    ["1-10:", "expected X-Y"],
    ["a-b", "expected X-Y"],
  ])("rejects %j", (text, msg) => {
    expectParseError(() => parseArrayRange(text), msg);
  });

  it(`limits the size to ${MAX_ARRAY_SIZE}`, () => {
    expect(countIndices(parseArrayRange("1-10000"))).toBe(10000);
    expect(countIndices(parseArrayRange("0-19999:2"))).toBe(10000);
    expectParseError(() => parseArrayRange("0-10000"), "Array job exceeds server or queue size limit");
    expectParseError(() => parseArrayRange("1-20", 10), "the limit is 10");
  });

  it("formatArrayRange omits step 1", () => {
    expect(formatArrayRange({ start: 3, end: 7, step: 1 })).toBe("3-7");
  });

  it("arrayIndices refuses a step below 1", () => {
    expectParseError(() => arrayIndices({ start: 0, end: 3, step: 0 }), "step");
  });
});
