import { describe, expect, it } from "vitest";
import {
  beatIsGenuine,
  MomReportError,
  momKey,
  newMomId,
  nodeOfMomId,
  signBeat,
  signReport,
  verifyReport,
} from "../../../shared/auth/mom-report.js";

const secret = "s".repeat(64);
const WINDOW = 15 * 60_000;

function refusal(f: () => unknown): string | undefined {
  try {
    f();
  } catch (e) {
    if (e instanceof MomReportError) return e.reason;
    throw e;
  }
  return undefined;
}

describe("MOM report signatures", () => {
  const momId = newMomId("n1");
  const key = momKey(secret, momId);
  const body = { type: "obit", jobId: "12.casper", runCount: 1, momId, exitStatus: 0 };

  it("names MOMs <node>:<random> and binds the key to that id", () => {
    expect(momId).toMatch(/^n1:[0-9a-f]{12}$/);
    expect(nodeOfMomId(momId)).toBe("n1");
    expect(nodeOfMomId("ecs:12:1")).toBe("ecs:12");
    expect(momKey(secret, momId)).not.toBe(momKey(secret, newMomId("n1")));
  });

  it("accepts a report signed with the MOM's key, whatever the order of the body's keys", () => {
    const e = signReport(key, momId, "obit", body, 1000);
    const reordered = JSON.parse(
      JSON.stringify({ ...e, body: Object.fromEntries(Object.entries(body).reverse()) }),
    );
    expect(verifyReport(secret, reordered, 2000, WINDOW).body).toEqual(body);
  });

  it("refuses forged ones: no signature, a changed body, another MOM's key, a guessed secret, a bad id", () => {
    const e = signReport(key, momId, "obit", body, 1000);
    expect(refusal(() => verifyReport(secret, body, 1000, WINDOW))).toBe("forged");
    expect(refusal(() => verifyReport(secret, { ...e, sig: undefined }, 1000, WINDOW))).toBe("forged");
    expect(
      refusal(() => verifyReport(secret, { ...e, body: { ...body, exitStatus: 1 } }, 1000, WINDOW)),
    ).toBe("forged");
    // signed by n2's MOM but claiming to be n1's
    const other = signReport(momKey(secret, "n2:abc"), momId, "obit", body, 1000);
    expect(refusal(() => verifyReport(secret, other, 1000, WINDOW))).toBe("forged");
    const guessed = signReport(momKey("guess", momId), momId, "obit", body, 1000);
    expect(refusal(() => verifyReport(secret, guessed, 1000, WINDOW))).toBe("forged");
    const badId = signReport(momKey(secret, "no id"), "no id", "obit", body, 1000);
    expect(refusal(() => verifyReport(secret, badId, 1000, WINDOW))).toBe("forged");
    // a kind changed after signing
    expect(refusal(() => verifyReport(secret, { ...e, kind: "hello" }, 1000, WINDOW))).toBe("forged");
  });

  it("refuses a genuine report signed outside the window (replayed later, or from the future)", () => {
    const e = signReport(key, momId, "obit", body, 1000);
    expect(refusal(() => verifyReport(secret, e, 1000 + WINDOW + 1, WINDOW))).toBe("stale");
    expect(refusal(() => verifyReport(secret, e, 1000 - WINDOW - 1, WINDOW))).toBe("stale");
    expect(refusal(() => verifyReport(secret, e, 1000 + WINDOW, WINDOW))).toBeUndefined();
  });

  it("heartbeats: genuine only as written by the MOM they name", () => {
    const jobs = [{ jobId: "12.casper", runCount: 1 }];
    const b = signBeat(key, momId, jobs, 5000);
    expect(beatIsGenuine(secret, JSON.parse(JSON.stringify(b)))).toBe(true);
    expect(beatIsGenuine(secret, { ...b, jobs: [] })).toBe(false); // a beat that omits a job
    expect(beatIsGenuine(secret, { ...b, at: 6000 })).toBe(false);
    expect(beatIsGenuine(secret, { momId, jobs: [], at: 5000 })).toBe(false);
    expect(beatIsGenuine("other", b)).toBe(false);
  });
});
