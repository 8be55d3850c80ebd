/**
 * The store checks every job write against the state table (shared/pbs/states.ts): a write the
 * table forbids throws IllegalTransitionError before anything is sent to DynamoDB.
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { describe, expect, it } from "vitest";
import { ConflictError, IllegalTransitionError, StoreError } from "../../../shared/errors.js";
import { TRANSITIONS } from "../../../shared/pbs/states.js";
import type { JobState } from "../../../shared/pbs/types.js";
import type { JobRecord } from "../../../shared/server/job.js";
import { DynamoSiteStore } from "../../../shared/adapters/dynamodb/index.js";
import { buildJobUpdate } from "../../../shared/adapters/dynamodb/items.js";
import { jobRecord } from "../../fixtures/job.js";

const job = (state: JobState, over: Partial<JobRecord> = {}): JobRecord =>
  jobRecord(7, { state, ver: 3, ...over });

/** A store whose client records what it would send, and sends nothing. */
function recordingStore(): { store: DynamoSiteStore; sent: unknown[] } {
  const sent: unknown[] = [];
  const doc = {
    send: async (cmd: unknown) => {
      sent.push(cmd);
      return {};
    },
  } as unknown as DynamoDBDocumentClient;
  return { store: new DynamoSiteStore(doc, "tbl"), sent };
}

describe("buildJobUpdate checks the state table", () => {
  it("accepts every transition of the table, and any write that keeps the state", () => {
    for (const [from, tos] of Object.entries(TRANSITIONS) as [JobState, JobState[]][]) {
      for (const to of tos) expect(() => buildJobUpdate("tbl", job(from), job(to))).not.toThrow();
      expect(() => buildJobUpdate("tbl", job(from), job(from, { comment: "c" }))).not.toThrow();
    }
  });

  it("accepts what the operations write (one example each)", () => {
    const now = 100;
    const examples: [string, JobRecord, JobRecord][] = [
      ["run", job("Q"), job("R", { stime: now, runCount: 1 })],
      ["array begun", job("Q", { array: undefined }), job("B", { stime: now })],
      ["qhold", job("Q"), job("H", { holds: "u" })],
      ["pulled by a peer", job("Q"), job("T", { xfer: { id: "x", peer: "p", deadline: 1, into: "q" } })],
      ["qdel queued", job("Q"), job("F", { obittime: now })],
      ["qrls", job("H", { holds: "u" }), job("Q", { holds: "" })],
      ["dependency never satisfied", job("H", { holds: "s" }), job("F", { holds: "s", obittime: now })],
      ["ACCEPT", job("T"), job("M", { movedTo: "1.p" })],
      ["REJECT / timeout", job("T"), job("Q", { comment: "rejected" })],
      ["REJECT of a held job", job("T", { holds: "u" }), job("H", { holds: "u" })],
      ["qdel in transit", job("T"), job("F", { obittime: now })],
      ["obituary", job("R"), job("F", { exitStatus: 0, obittime: now })],
      ["subjob obituary", job("R", { parentKey: "6" }), job("X", { parentKey: "6", exitStatus: 0 })],
      ["qrerun / node lost", job("R"), job("Q", { runCount: 1 })],
      ["array finished", job("B"), job("F", { obittime: now })],
      ["JOB_END on a moved job", job("M"), job("M", { obittime: now })],
      ["subjob counted", job("X", { parentKey: "6" }), job("X", { parentKey: "6", extra: { counted: "1" } })],
    ];
    for (const [, before, after] of examples)
      expect(() => buildJobUpdate("tbl", before, after)).not.toThrow();
  });

  it.each([
    ["F", "R"],
    ["M", "Q"],
    ["X", "Q"],
    ["R", "T"],
    ["Q", "E"],
    ["H", "R"],
  ] as [JobState, JobState][])(
    "refuses %s -> %s with IllegalTransitionError (500, not a conflict)",
    (from, to) => {
      let err: unknown;
      try {
        buildJobUpdate("tbl", job(from), job(to));
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(IllegalTransitionError);
      expect(err).not.toBeInstanceOf(ConflictError);
      expect(err).not.toBeInstanceOf(StoreError);
      expect((err as IllegalTransitionError).status).toBe(500);
      expect((err as Error).message).toContain(`${from} -> ${to}`);
    },
  );
});

describe("every job write of the store passes the check before sending", () => {
  it("updateJob, alone or with an accounting record", async () => {
    const { store, sent } = recordingStore();
    await expect(store.updateJob(job("F"), job("R"))).rejects.toBeInstanceOf(IllegalTransitionError);
    const acct = { time: 1, jobId: "7.casper", type: "S", data: {} };
    await expect(store.updateJob(job("M"), job("Q"), acct)).rejects.toBeInstanceOf(IllegalTransitionError);
    expect(sent).toHaveLength(0);
    await store.updateJob(job("Q"), job("R"), acct);
    expect(sent).toHaveLength(1);
  });

  it("transactJobs: updates and created jobs", async () => {
    const { store, sent } = recordingStore();
    await expect(store.transactJobs([{ before: job("F"), after: job("B") }])).rejects.toBeInstanceOf(
      IllegalTransitionError,
    );
    const sub = job("X", { key: "7[1]", id: "7[1].casper", parentKey: "7" });
    await expect(store.transactJobs([{ before: job("Q"), after: job("B") }], [sub])).rejects.toBeInstanceOf(
      IllegalTransitionError,
    );
    expect(sent).toHaveLength(0);
    await store.transactJobs([{ before: job("Q"), after: job("B") }], [{ ...sub, state: "R" }]);
    expect(sent).toHaveLength(1);
  });

  it("createJob (alone and with updates) and createInbound", async () => {
    const { store, sent } = recordingStore();
    await expect(store.createJob(job("F"))).rejects.toBeInstanceOf(IllegalTransitionError);
    await expect(
      store.createJob(job("B"), [], { time: 1, jobId: "7.casper", type: "Q", data: {} }),
    ).rejects.toBeInstanceOf(IllegalTransitionError);
    const parent = jobRecord(5, { state: "R" });
    await expect(
      store.createJob(job("Q"), [], undefined, [{ before: parent, after: { ...parent, state: "T" } }]),
    ).rejects.toBeInstanceOf(IllegalTransitionError);
    await expect(store.createInbound(job("M"), "x-1")).rejects.toBeInstanceOf(IllegalTransitionError);
    expect(sent).toHaveLength(0);
    await store.createJob(job("H", { holds: "u" }));
    await store.createInbound(job("T"), "x-1");
    // createJob: the script item (dynamodb/job-script.ts), then the job; createInbound: one transaction
    expect(sent).toHaveLength(3);
  });
});
