/**
 * The receiver's side of the transfer protocol, as the pure machine states it
 * (shared/peers/receiver-machine.ts): one test per transition and per refused input. The shells
 * around it, and the protocol under faults, are proven by transfer.property.test.ts.
 */
import { describe, expect, it } from "vitest";
import {
  type Admission,
  type Received,
  receivedCopy,
  receiverStep,
} from "../../../shared/peers/receiver-machine.js";
import { type Msg, sendsOf, storeEffectOf } from "../../../shared/peers/step.js";
import type { JobRecord } from "../../../shared/server/job.js";
import { jobRecord } from "../../fixtures/job.js";

const X = "casper-1-aaaa";
const NOW = 50_000;

const forwardMsg: Msg<"FORWARD"> = {
  type: "FORWARD",
  transferId: X,
  originId: "1.casper",
  into: "main",
  deadline: NOW + 1,
  job: {
    name: "j1",
    user: "alice",
    submitHost: "h",
    account: "P1",
    script: "true\n",
    submitDir: "/tmp",
    resources: { select: "1:ncpus=1" },
    priority: 0,
    rerunnable: true,
    join: "n",
    outPath: "/tmp/o",
    errPath: "/tmp/e",
    env: {},
    ctime: 1,
    qtime: 1,
  },
};
const inbound = (over: Partial<NonNullable<JobRecord["inbound"]>> = {}) => ({
  transferId: X,
  originId: "1.casper",
  from: "casper",
  committed: false,
  originUser: "alice",
  originAccount: "P1",
  ...over,
});
/** the copy as created: held in T until COMMIT, under its origin's ID (keyed apart from derecho's own) */
const asOrigin = { id: "1.casper", key: "1@casper" };
const held = (over: Partial<JobRecord> = {}) =>
  jobRecord(7, { ...asOrigin, state: "T", queue: "main", inbound: inbound(), ...over }, "derecho");
const committed = (over: Partial<JobRecord> = {}) =>
  jobRecord(
    7,
    { ...asOrigin, state: "Q", queue: "main", inbound: inbound({ committed: true }), ...over },
    "derecho",
  );
const ended = (over: Partial<JobRecord> = {}) =>
  committed({ state: "F", exitStatus: 0, obittime: 49_000, ...over });

const created = (job = held()): Received => ({
  transfer: { transferId: X, status: "created", key: job.key, newId: job.id },
  job,
});
const tombstoned: Received = { transfer: { transferId: X, status: "aborted" } };

const forward = (r: Received, now = NOW) => receiverStep(r, { kind: "forward", now, m: forwardMsg });
const commit = (job: JobRecord | undefined, transferId = X) =>
  receiverStep({ job }, { kind: "commit", now: NOW, m: { type: "COMMIT", transferId, newId: "1.casper" } });
const abort = (r: Received) =>
  receiverStep(r, { kind: "abort", m: { type: "ABORT", transferId: X, reason: "transfer timed out" } });
const endAck = (job: JobRecord | undefined, transferId = X) =>
  receiverStep({ job }, { kind: "jobEndAck", m: { type: "JOB_END_ACK", transferId, newId: "1.casper" } });

describe("receiver: FORWARD", () => {
  it("unknown and in time: this site's policy decides (nothing written or sent yet)", () => {
    const s = forward({});
    expect(s.effects).toEqual([{ kind: "askPolicy" }]);
  });

  it("unknown and past its deadline: tombstoned first, then REJECT", () => {
    const s = forward({}, forwardMsg.deadline + 1);
    expect(s.effects).toEqual([
      { kind: "tombstone", transferId: X },
      {
        kind: "send",
        body: {
          type: "REJECT",
          transferId: X,
          originId: "1.casper",
          reason: "transfer deadline passed",
          transient: true,
        },
      },
    ]);
  });

  it("a duplicate of a created transfer: no second copy, the first ACCEPT again", () => {
    const s = forward(created());
    expect(storeEffectOf(s)).toBeUndefined();
    expect(sendsOf(s)).toEqual([{ type: "ACCEPT", transferId: X, originId: "1.casper", newId: "1.casper" }]);
  });

  it("after its ABORT (tombstoned): nothing created, REJECT", () => {
    const s = forward(tombstoned);
    expect(storeEffectOf(s)).toBeUndefined();
    expect(sendsOf(s)).toEqual([
      {
        type: "REJECT",
        transferId: X,
        originId: "1.casper",
        reason: "transfer was cancelled",
        transient: true,
      },
    ]);
  });
});

describe("receiver: the policy's verdict on a FORWARD", () => {
  const admission: Admission = {
    m: forwardMsg,
    from: { short: "casper", server: "casper-pbs" },
    site: "derecho",
    seq: 7,
    now: NOW,
    queue: { name: "main", partition: "default" },
    rl: { ncpus: "1" },
    sel: [{ count: 1, ncpus: 1, mem: 0, ngpus: 0, mpiprocs: 1, other: {} }],
    walltime: undefined,
    user: "alice",
    account: "D1",
  };

  it("the copy is created held in T, uncommitted, under its origin's ID (own key), and ACCEPTed with it", () => {
    const copy = receivedCopy(admission);
    expect(copy).toMatchObject({
      id: "1.casper",
      key: "1@casper",
      state: "T",
      account: "D1",
      inbound: { transferId: X, committed: false },
    });
    const s = receiverStep({}, { kind: "admit", m: forwardMsg, copy });
    expect(storeEffectOf(s)).toEqual({ kind: "createInbound", job: copy, transferId: X });
    expect(sendsOf(s)).toEqual([{ type: "ACCEPT", transferId: X, originId: "1.casper", newId: "1.casper" }]);
  });

  it("a job qmoved while held keeps its holds in the copy (COMMIT then makes it H)", () => {
    const heldForward = { ...forwardMsg, job: { ...forwardMsg.job, holds: "uo" } };
    expect(receivedCopy({ ...admission, m: heldForward }).holds).toBe("uo");
    expect(receivedCopy(admission).holds).toBe("");
  });

  it("refused by policy: nothing created, REJECT with the reason", () => {
    const s = receiverStep(
      {},
      { kind: "refuse", m: forwardMsg, reason: "queue main takes no jobs from peers" },
    );
    expect(storeEffectOf(s)).toBeUndefined();
    expect(sendsOf(s)).toEqual([
      { type: "REJECT", transferId: X, originId: "1.casper", reason: "queue main takes no jobs from peers" },
    ]);
  });
});

describe("receiver: COMMIT", () => {
  it("held for this transfer: T -> Q (a Q accounting record), committed, a cycle", () => {
    const s = commit(held());
    const w = storeEffectOf(s);
    expect(w?.kind === "write" && w.after).toMatchObject({ state: "Q", inbound: { committed: true } });
    expect(w?.kind === "write" && w.acct).toMatchObject({ type: "Q", data: { origin: "1.casper" } });
    expect(s.effects).toContainEqual({ kind: "cycle", partition: "default" });
  });

  it("a held copy with a hold goes to H, and no cycle", () => {
    const s = commit(held({ holds: "u" }));
    const w = storeEffectOf(s);
    expect(w?.kind === "write" && w.after.state).toBe("H");
    expect(s.effects.some((e) => e.kind === "cycle")).toBe(false);
  });

  it.each([
    ["already committed (a duplicate COMMIT)", committed(), X],
    ["of another transfer", held(), "casper-1-bbbb"],
    ["unknown (aborted, never created)", undefined, X],
  ])("a COMMIT for a copy %s changes nothing", (_what, job, transferId) => {
    const s = commit(job, transferId);
    expect(s.ignored).toBeDefined();
    expect(s.effects).toEqual([]);
  });
});

describe("receiver: ABORT", () => {
  it("a copy held in T: dropped with a tombstone, conditionally on the copy as read", () => {
    const job = held();
    const s = abort(created(job));
    expect(storeEffectOf(s)).toEqual({ kind: "tombstone", transferId: X, job });
    expect(sendsOf(s)).toEqual([]);
  });

  it("no copy (the FORWARD is still in flight, or was lost): a tombstone, so none is ever created", () => {
    expect(storeEffectOf(abort({}))).toEqual({ kind: "tombstone", transferId: X, job: undefined });
  });

  it("already aborted: nothing more", () => {
    const s = abort(tombstoned);
    expect(s.ignored).toBe("already aborted");
    expect(s.effects).toEqual([]);
  });

  it.each([
    ["committed", committed()],
    ["committed and ended", ended()],
    // committed here, then forwarded onward: T again, and the origin still counts on it
    [
      "committed and in transit onward",
      committed({ state: "T", xfer: { id: "derecho-7-cccc", peer: "gust", into: "main", deadline: 1 } }),
    ],
  ])(
    "a copy %s is kept (logged as an error: a correct origin never aborts what it committed)",
    (_what, job) => {
      const s = abort(created(job));
      expect(s.ignored).toBe("committed");
      expect(storeEffectOf(s)).toBeUndefined();
      expect(s.effects).toEqual([expect.objectContaining({ kind: "log", level: "error" })]);
    },
  );
});

describe("receiver: the copy's end", () => {
  it("a received copy that ended: JOB_END in the origin's names, with its usage", () => {
    const s = receiverStep(
      { job: ended({ used: { walltime: 4.4, cput: 4, mem: 1024, ncpus: 1 } }) },
      { kind: "localEnd" },
    );
    expect(sendsOf(s)).toEqual([
      expect.objectContaining({
        type: "JOB_END",
        transferId: X,
        originId: "1.casper",
        newId: "1.casper",
        exitStatus: 0,
        deleted: false,
        obittime: 49_000,
        used: { walltime: 4, cput: 4, mem: 1024, ncpus: 1 },
        account: "P1",
        user: "alice",
      }),
    ]);
  });

  it.each([
    ["not finished", committed(), "not finished"],
    [
      "acknowledged",
      ended({ inbound: inbound({ committed: true, endAcked: true }) }),
      "end already acknowledged",
    ],
    ["not received from a peer", jobRecord(7, { state: "F" }), "not a received copy"],
  ])("a copy %s sends nothing", (_what, job, why) => {
    const s = receiverStep({ job }, { kind: "localEnd" });
    expect(s.ignored).toBe(why);
    expect(s.effects).toEqual([]);
  });

  it("JOB_END_ACK of this transfer: acknowledged (the sweep stops re-sending)", () => {
    const s = endAck(ended());
    const w = storeEffectOf(s);
    expect(w?.kind === "write" && w.after.inbound?.endAcked).toBe(true);
  });

  it.each([
    ["already acknowledged", ended({ inbound: inbound({ committed: true, endAcked: true }) }), X],
    ["of another transfer", ended(), "casper-1-bbbb"],
    ["unknown", undefined, X],
  ])("a JOB_END_ACK %s changes nothing", (_what, job, transferId) => {
    const s = endAck(job, transferId);
    expect(s.ignored).toBeDefined();
    expect(s.effects).toEqual([]);
  });
});

describe("receiver: the sweep's resend tick", () => {
  it("a copy still held: ACCEPT again (a lost ACCEPT or COMMIT is repaired)", () => {
    const s = receiverStep({ job: held() }, { kind: "tick" });
    expect(sendsOf(s)).toEqual([{ type: "ACCEPT", transferId: X, originId: "1.casper", newId: "1.casper" }]);
  });

  it("an ended copy not acknowledged: JOB_END again", () => {
    expect(sendsOf(receiverStep({ job: ended() }, { kind: "tick" })).map((b) => b.type)).toEqual(["JOB_END"]);
  });

  it.each([
    ["committed and queued", committed()],
    ["ended and acknowledged", ended({ inbound: inbound({ committed: true, endAcked: true }) })],
  ])("a copy %s: nothing outstanding", (_what, job) => {
    const s = receiverStep({ job }, { kind: "tick" });
    expect(s.effects).toEqual([]);
  });
});

describe("receiver: the copy's live state, for its origin", () => {
  const localState = (job: JobRecord | undefined) =>
    receiverStep({ job }, { kind: "localState", now: NOW, server: "desched1" });

  it("a committed copy that started reports R under its origin's ID", () => {
    const s = localState(committed({ state: "R", stime: 45_000, execHost: "d1/0" }));
    expect(sendsOf(s)).toEqual([
      {
        type: "JOB_STATE",
        transferId: X,
        newId: "1.casper",
        state: "R",
        at: NOW,
        server: "desched1",
        stime: 45_000,
        execHost: "d1/0",
      },
    ]);
    expect(storeEffectOf(s)).toBeUndefined();
  });

  it.each([
    ["requeued (qrerun, a lost MOM)", "Q"],
    ["held (qhold at this site)", "H"],
  ] as const)(
    "a committed copy %s reports %s, with no start time or host of the run before",
    (_what, state) => {
      const s = localState(committed({ state, stime: 45_000, execHost: "d1/0" }));
      expect(sendsOf(s)).toEqual([
        { type: "JOB_STATE", transferId: X, newId: "1.casper", state, at: NOW, server: "desched1" },
      ]);
    },
  );

  it("nothing for a copy not committed yet, an ended one (JOB_END tells), or one that moved on", () => {
    expect(sendsOf(localState(held()))).toEqual([]);
    expect(sendsOf(localState(ended()))).toEqual([]);
    expect(sendsOf(localState(committed({ state: "M" })))).toEqual([]);
  });

  it("a copy that moved on reports its end only once that end came back from the next site", () => {
    const tick = (job: JobRecord) => receiverStep({ job }, { kind: "localEnd" });
    expect(sendsOf(tick(committed({ state: "M" })))).toEqual([]);
    expect(sendsOf(tick(committed({ state: "M", obittime: 49_000, exitStatus: 3 })))).toEqual([
      expect.objectContaining({ type: "JOB_END", newId: "1.casper", exitStatus: 3, deleted: false }),
    ]);
  });
});
