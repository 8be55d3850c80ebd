/**
 * The origin's side of the transfer protocol, as the pure machine states it
 * (shared/peers/origin-machine.ts): one test per transition and per refused input. The shells
 * around it, and the protocol under faults, are proven by transfer.property.test.ts.
 */
import { describe, expect, it } from "vitest";
import { originDue, originStep } from "../../../shared/peers/origin-machine.js";
import { type Effect, type Step, sendsOf, storeEffectOf } from "../../../shared/peers/step.js";
import type { JobRecord } from "../../../shared/server/job.js";
import { jobRecord } from "../../fixtures/job.js";

const peer = { short: "derecho", server: "desched1" };
const X = "casper-1-aaaa";
const NOW = 50_000;

const queued = (over: Partial<JobRecord> = {}) => jobRecord(1, over);
const inTransit = (over: Partial<JobRecord> = {}) =>
  jobRecord(1, { state: "T", xfer: { id: X, peer: "derecho", into: "main", deadline: 40_000 }, ...over });
const moved = (over: Partial<JobRecord> = {}) =>
  jobRecord(1, {
    state: "M",
    movedTo: "7.derecho",
    hasDeps: true,
    account: "P1",
    xfer: { id: X, peer: "derecho", into: "main", deadline: 40_000, newId: "7.derecho" },
    ...over,
  });

const accept = (transferId = X) =>
  ({
    kind: "accept",
    now: NOW,
    peer,
    m: { type: "ACCEPT", transferId, originId: "1.casper", newId: "7.derecho" },
  }) as const;
const reject = (transferId = X, transient?: true) =>
  ({
    kind: "reject",
    now: NOW,
    peer,
    m: {
      type: "REJECT",
      transferId,
      originId: "1.casper",
      reason: "no room",
      ...(transient && { transient }),
    },
  }) as const;
const timeout = (transferId = X, peerKnown = true) =>
  ({ kind: "timeout", now: NOW, peer, transferId, peerKnown }) as const;
const jobEnd = (transferId = X) =>
  ({
    kind: "jobEnd",
    now: NOW,
    peer,
    m: {
      type: "JOB_END",
      transferId,
      originId: "1.casper",
      newId: "7.derecho",
      exitStatus: 0,
      deleted: false,
      stime: 45_000,
      obittime: 49_000,
      used: { walltime: 4, cput: 4, mem: 1024, ncpus: 1 },
      account: "P1",
      user: "alice",
    },
  }) as const;

const kinds = (s: Step) => s.effects.map((e: Effect) => e.kind);
const written = (s: Step) => {
  const e = storeEffectOf(s);
  return e?.kind === "write" ? e : undefined;
};

describe("origin: forward", () => {
  const fwd = (job: JobRecord | undefined) =>
    originStep(job, {
      kind: "forward",
      now: NOW,
      peer,
      transferId: X,
      deadline: NOW + 10_000,
      into: "main",
      why: "push",
    });

  it("a queued job goes in transit under the new transfer, with its deadline, and its FORWARD is sent", () => {
    const s = fwd(queued());
    expect(written(s)?.after).toMatchObject({
      state: "T",
      xfer: { id: X, peer: "derecho", into: "main", deadline: NOW + 10_000 },
    });
    expect(sendsOf(s)).toEqual([
      expect.objectContaining({
        type: "FORWARD",
        transferId: X,
        originId: "1.casper",
        into: "main",
        deadline: NOW + 10_000,
      }),
    ]);
    // the write comes before the send: a FORWARD for a job not marked T could be accepted twice
    expect(kinds(s).indexOf("write")).toBeLessThan(kinds(s).indexOf("send"));
  });

  it.each(["R", "T", "M"] as const)("a job in state %s is refused: it does not leave", (state) => {
    const s = fwd(queued({ state }));
    expect(s.ignored).toBe(`job is ${state}, not queued`);
    expect(s.effects).toEqual([]);
  });

  it("a held job leaves (qmove; pinnedReason keeps pulls away) and its holds travel with it", () => {
    const s = fwd(queued({ state: "H", holds: "u" }));
    expect(s.ignored).toBeUndefined();
    expect(written(s)?.after).toMatchObject({ state: "T", holds: "u" });
    expect(sendsOf(s)).toEqual([
      expect.objectContaining({ type: "FORWARD", job: expect.objectContaining({ holds: "u" }) }),
    ]);
  });
});

describe("origin: ACCEPT", () => {
  it("in transit under this transfer: T -> M (with an M accounting record), COMMIT sent", () => {
    const s = originStep(inTransit(), accept());
    const w = written(s);
    expect(w?.after).toMatchObject({ state: "M", movedTo: "7.derecho", xfer: { id: X, newId: "7.derecho" } });
    expect(w?.acct).toMatchObject({ type: "M", data: { destination: "7.derecho" } });
    expect(sendsOf(s)).toEqual([{ type: "COMMIT", transferId: X, newId: "7.derecho" }]);
  });

  it("a duplicate ACCEPT of the committed transfer: no write, COMMIT again", () => {
    const s = originStep(moved(), accept());
    expect(storeEffectOf(s)).toBeUndefined();
    expect(sendsOf(s)).toEqual([{ type: "COMMIT", transferId: X, newId: "7.derecho" }]);
  });

  it("a late ACCEPT, the job timed out and back in the queue: ABORT, no write", () => {
    const s = originStep(queued(), accept());
    expect(storeEffectOf(s)).toBeUndefined();
    expect(sendsOf(s)).toEqual([expect.objectContaining({ type: "ABORT", transferId: X })]);
  });

  it("an ACCEPT of an earlier transfer of a job now in transit under another: ABORT, the current one untouched", () => {
    const s = originStep(
      inTransit({ xfer: { id: "casper-1-bbbb", peer: "derecho", into: "main", deadline: 60_000 } }),
      accept(),
    );
    expect(storeEffectOf(s)).toBeUndefined();
    expect(sendsOf(s).map((b) => b.type)).toEqual(["ABORT"]);
  });

  it("an ACCEPT of an earlier transfer of a job moved under another: ABORT, not COMMIT", () => {
    const s = originStep(
      moved({
        xfer: { id: "casper-1-bbbb", peer: "derecho", into: "main", deadline: 1, newId: "8.derecho" },
      }),
      accept(),
    );
    expect(sendsOf(s).map((b) => b.type)).toEqual(["ABORT"]);
  });

  it("an ACCEPT for no job here: ABORT 'unknown transfer'", () => {
    const s = originStep(undefined, accept());
    expect(sendsOf(s)).toEqual([{ type: "ABORT", transferId: X, reason: "unknown transfer" }]);
  });
});

describe("origin: REJECT", () => {
  it("in transit under this transfer: back to Q with the reason, the peer remembered as refusing, a cycle", () => {
    const s = originStep(inTransit(), reject());
    // eligible again from now (PBS's etime): a BACKLOG held back since tells the other peers
    expect(written(s)?.after).toMatchObject({
      state: "Q",
      xfer: undefined,
      refusedBy: ["derecho"],
      etime: NOW,
    });
    expect(written(s)?.after.comment).toContain("rejected: no room");
    expect(s.effects).toContainEqual({ kind: "cycle", partition: "default" });
    expect(sendsOf(s)).toEqual([]);
  });

  it("a transient REJECT (this transfer too late): back to Q, the peer may be offered the job again", () => {
    const s = originStep(inTransit({ refusedBy: ["gust"] }), reject(X, true));
    expect(written(s)?.after).toMatchObject({ state: "Q", xfer: undefined, refusedBy: ["gust"] });
    expect(s.effects).toContainEqual({ kind: "cycle", partition: "default" });
  });

  it("a held job goes back to H", () => {
    const after = written(originStep(inTransit({ holds: "u", etime: 5 }), reject()))?.after;
    expect([after?.state, after?.etime]).toEqual(["H", 5]);
  });

  it.each([
    ["back in the queue", queued()],
    ["moved", moved()],
    [
      "in transit under another transfer",
      inTransit({ xfer: { id: "casper-1-bbbb", peer: "derecho", into: "main", deadline: 1 } }),
    ],
    ["unknown", undefined],
  ])("a REJECT for a job %s changes nothing", (_what, job) => {
    const s = originStep(job, reject());
    expect(s.ignored).toBe("not in transit under this transfer");
    expect(s.effects).toEqual([]);
  });
});

describe("origin: timeout", () => {
  it("in transit under this transfer: back to Q, ABORT sent, a cycle", () => {
    const s = originStep(inTransit(), timeout());
    expect(written(s)?.after).toMatchObject({ state: "Q", xfer: undefined });
    expect(sendsOf(s)).toEqual([{ type: "ABORT", transferId: X, reason: "transfer timed out" }]);
    expect(s.effects).toContainEqual({ kind: "cycle", partition: "default" });
  });

  it("the peer is gone from the configuration: back to Q, nothing sent", () => {
    const s = originStep(inTransit(), timeout(X, false));
    expect(written(s)?.after.state).toBe("Q");
    expect(sendsOf(s)).toEqual([]);
  });

  it("committed since the sweep read it (the ACCEPT won the race): no write, and no ABORT", () => {
    const s = originStep(moved(), timeout());
    expect(s.ignored).toBe("committed since the sweep read it");
    expect(s.effects).toEqual([]);
  });

  it("already back in the queue (a REJECT won): no write, ABORT still sent (a copy may exist)", () => {
    const s = originStep(queued(), timeout());
    expect(storeEffectOf(s)).toBeUndefined();
    expect(sendsOf(s).map((b) => b.type)).toEqual(["ABORT"]);
  });

  it("in transit under another transfer since: that one is left alone, this one ABORTed", () => {
    const s = originStep(
      inTransit({ xfer: { id: "casper-1-bbbb", peer: "derecho", into: "main", deadline: 1 } }),
      timeout(),
    );
    expect(storeEffectOf(s)).toBeUndefined();
    expect(sendsOf(s).map((b) => b.type)).toEqual(["ABORT"]);
  });
});

describe("origin: JOB_END", () => {
  it("moved under this transfer: the outcome is recorded with an E record and the usage charged, ACK sent, dependents released", () => {
    const s = originStep(moved(), jobEnd());
    const w = written(s);
    expect(w?.after).toMatchObject({ state: "M", exitStatus: 0, obittime: 49_000 });
    expect(w?.acct).toMatchObject({ type: "E", data: { exec_site: "derecho", exec_jobid: "7.derecho" } });
    expect(w?.charge).toEqual({ account: "P1", where: "derecho", coreSeconds: 4, walltime: 4 });
    expect(sendsOf(s)).toEqual([{ type: "JOB_END_ACK", transferId: X, newId: "7.derecho" }]);
    expect(s.effects).toContainEqual({ kind: "ended", key: "1" });
  });

  it("a deleted job's end is a D record", () => {
    const i = jobEnd();
    const s = originStep(moved(), { ...i, m: { ...i.m, deleted: true, exitStatus: undefined } });
    expect(written(s)?.acct?.type).toBe("D");
  });

  it("usage back for another account: charged to the job's own, with a warning", () => {
    const i = jobEnd();
    const s = originStep(moved(), { ...i, m: { ...i.m, account: "OTHER" } });
    expect(written(s)?.charge?.account).toBe("P1");
    expect(kinds(s)).toContain("log");
  });

  it("an end already recorded (a re-sent JOB_END): no second record or charge, ACK again", () => {
    const s = originStep(moved({ obittime: 49_000 }), jobEnd());
    expect(s.ignored).toBe("end already recorded");
    expect(storeEffectOf(s)).toBeUndefined();
    expect(sendsOf(s).map((b) => b.type)).toEqual(["JOB_END_ACK"]);
  });

  it.each([
    ["in transit", inTransit()],
    [
      "moved under another transfer",
      moved({ xfer: { id: "casper-1-bbbb", peer: "derecho", into: "main", deadline: 1 } }),
    ],
    ["unknown", undefined],
  ])("a JOB_END for a job %s records nothing and is still acknowledged", (_what, job) => {
    const s = originStep(job, jobEnd());
    expect(s.ignored).toBe("not moved under this transfer");
    expect(storeEffectOf(s)).toBeUndefined();
    expect(sendsOf(s).map((b) => b.type)).toEqual(["JOB_END_ACK"]);
  });
});

describe("origin: what the sweep owes a job in transit", () => {
  const t = { now: NOW, marginMs: 5_000, peerKnown: true, resendDue: false };
  it("past the deadline plus the clock margin: timeout", () => {
    expect(
      originDue(inTransit({ xfer: { id: X, peer: "derecho", into: "main", deadline: NOW - 5_001 } }), t),
    ).toBe("timeout");
  });
  it("past the deadline but within the margin (the receiver's clock may lag): not yet", () => {
    expect(
      originDue(inTransit({ xfer: { id: X, peer: "derecho", into: "main", deadline: NOW - 5_000 } }), t),
    ).toBeUndefined();
    expect(
      originDue(inTransit({ xfer: { id: X, peer: "derecho", into: "main", deadline: NOW - 5_000 } }), {
        ...t,
        resendDue: true,
      }),
    ).toBe("resend");
  });
  it("its peer gone from the configuration: timeout at once", () => {
    expect(
      originDue(inTransit({ xfer: { id: X, peer: "derecho", into: "main", deadline: NOW + 1 } }), {
        ...t,
        peerKnown: false,
      }),
    ).toBe("timeout");
  });
  it("not in transit: nothing", () => {
    expect(originDue(moved(), { ...t, resendDue: true })).toBeUndefined();
  });
});

describe("origin: JOB_STATE (the moved job's live state, listed under its ID)", () => {
  const report = (at: number, state: "R" | "Q" | "H" = "R", transferId = X) =>
    ({
      kind: "jobState",
      now: NOW,
      peer,
      m: {
        type: "JOB_STATE",
        transferId,
        newId: "1.casper",
        state,
        at,
        server: "desched1",
        stime: at,
        execHost: "d1/0",
      },
    }) as const;

  it("a moved job takes the peer's state, start time and host", () => {
    const s = originStep(moved(), report(45_000));
    const w = storeEffectOf(s);
    expect(w?.kind === "write" && w.after.remote).toEqual({
      state: "R",
      at: 45_000,
      server: "desched1",
      stime: 45_000,
      execHost: "d1/0",
    });
    expect(sendsOf(s)).toEqual([]);
  });

  it("requeued at the peer (R, then Q) and held there: the origin follows, and drops the old start", () => {
    const plain = (at: number, state: "Q" | "H") =>
      ({
        ...report(at, state),
        m: { type: "JOB_STATE", transferId: X, newId: "1.casper", state, at, server: "desched1" },
      }) as const;
    const running = written(originStep(moved(), report(45_000)))?.after;
    const requeued = written(originStep(running, plain(46_000, "Q")))?.after;
    expect(requeued?.remote).toEqual({ state: "Q", at: 46_000, server: "desched1" });
    expect(written(originStep(requeued, plain(47_000, "H")))?.after.remote?.state).toBe("H");
  });

  it("a duplicate or an overtaken report changes nothing", () => {
    const job = moved({ remote: { state: "H", at: 46_000, server: "desched1" } });
    expect(storeEffectOf(originStep(job, report(46_000)))).toBeUndefined();
    expect(storeEffectOf(originStep(job, report(45_000)))).toBeUndefined();
    expect(storeEffectOf(originStep(job, report(47_000)))).toBeDefined();
  });

  it("never after the end is recorded, nor for another transfer or a job not moved", () => {
    expect(storeEffectOf(originStep(moved({ obittime: 49_000 }), report(50_000)))).toBeUndefined();
    expect(storeEffectOf(originStep(moved(), report(45_000, "R", "casper-1-bbbb")))).toBeUndefined();
    expect(storeEffectOf(originStep(queued(), report(45_000)))).toBeUndefined();
  });

  it("a job that moved on from here (second hop) relays it to its own origin, under its ID", () => {
    const hop = moved({
      id: "1.gust",
      key: "1@gust",
      inbound: {
        transferId: "gust-1-cccc",
        originId: "1.gust",
        from: "gust",
        committed: true,
        originUser: "alice",
      },
    });
    expect(sendsOf(originStep(hop, report(45_000)))).toEqual([
      expect.objectContaining({ type: "JOB_STATE", transferId: "gust-1-cccc", newId: "1.gust", state: "R" }),
    ]);
  });
});
