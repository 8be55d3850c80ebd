/**
 * Dependency edges against a job's end, on DynamoDB Local with the real store and the real
 * end/repair code (no SQS needed: every step here is a table write).
 *
 * - The race of issue 10: an end reads the parent, an edge is added, the end writes. The edge
 *   must change the parent's version, so the end's write fails, it re-reads, and it sees
 *   `hasDeps` (else the child is never released).
 * - The repair sweep finds, through the wait index only, a child held on a parent that ended
 *   without releasing it, a child whose parent does not exist, and a subjob never counted.
 */
import { systemClock } from "../../shared/ports/clock.js";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DynamoDbLocal, localAwsCredentials, startDynamoDbLocal } from "../../infra/local/dynamodb.js";
import { ConflictError } from "../../shared/errors.js";
import type { SiteContext } from "../../shared/server/context.js";
import { DEFAULT_SETTINGS } from "../../shared/server/settings.js";
import { handleObituary } from "../../shared/server/job-end.js";
import type { JobRecord } from "../../shared/server/job.js";
import { repairStranded } from "../../shared/server/repair.js";
import {
  makeDynamoClients,
  requestCounts,
  resetRequestCounts,
  summarizeCounts,
} from "../../shared/adapters/aws-clients.js";
import { DynamoSiteStore } from "../../shared/adapters/dynamodb/index.js";
import { jobItem } from "../../shared/adapters/dynamodb/items.js";
import { createTableInput } from "../../shared/adapters/dynamodb/table.js";
import { jobRecord } from "../fixtures/job.js";

let ddb: DynamoDbLocal;
let store: DynamoSiteStore;
let ctx: SiteContext;
let seq = 100;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-deps-race-"));

function job(over: Partial<JobRecord> = {}): JobRecord {
  return jobRecord(over.seq ?? ++seq, over);
}

/**
 * Jobs as the code leaves them in states no job is created in (F, B, X): written straight to
 * the table, since the store's create paths refuse them (shared/pbs/states.ts, CREATED_IN).
 */
async function seed(...jobs: JobRecord[]): Promise<void> {
  for (const j of jobs) await store.doc.send(new PutCommand({ TableName: store.table, Item: jobItem(j) }));
}

/** A running parent, as the scheduler leaves it. */
async function runningParent(): Promise<JobRecord> {
  const p = job({ state: "R", stime: 5, runCount: 1, momId: "m1" });
  await store.createJob(p);
  return p;
}

/** A child submitted with afterok on `parent`: held, its edge under the parent (as submit.ts writes it). */
function childOf(
  parent: JobRecord,
  type = "afterok",
): { child: JobRecord; edge: Parameters<DynamoSiteStore["addEdge"]>[0] } {
  const child = job({
    state: "H",
    holds: "s",
    depend: `${type}:${parent.id}`,
    depPending: [parent.id],
  });
  return { child, edge: { parentKey: parent.key, childId: child.id, type } };
}

const obit = (p: JobRecord) => ({
  type: "obit" as const,
  jobId: p.id,
  runCount: p.runCount,
  momId: "m1",
  exitStatus: 0,
  startedAt: 5,
  endedAt: 6,
  resourcesUsed: { walltime: 1, cput: 0, mem: 0, ncpus: 1 },
});

/**
 * The store, except that the first read of `key` is followed, before the caller can act on
 * it, by `between()`: an edge landing between the end's read and its write.
 */
function interleave(key: string, between: () => Promise<void>): SiteContext {
  let done = false;
  const s = Object.create(store) as DynamoSiteStore;
  s.getJob = async (k: string, consistent?: boolean) => {
    const j = await store.getJob(k, consistent);
    if (k === key && !done) {
      done = true;
      await between();
    }
    return j;
  };
  // the obituary's first read is a batch read (group commit, shared/server/group-commit.ts)
  s.getJobs = async (ks: string[]) => {
    const js = await store.getJobs(ks);
    if (ks.includes(key) && !done) {
      done = true;
      await between();
    }
    return js;
  };
  return { ...ctx, store: s };
}

beforeAll(async () => {
  ddb = await startDynamoDbLocal({ dataDir: path.join(dir, "ddb") });
  const { ddb: raw, doc } = makeDynamoClients({
    endpoint: ddb.endpoint,
    region: "us-east-1",
    credentials: localAwsCredentials,
  });
  await raw.send(new CreateTableCommand(createTableInput("site")));
  store = new DynamoSiteStore(doc, "site");
  ctx = {
    site: { server: "casper-pbs", short: "casper" },
    store,
    bus: undefined as never, // nothing here sends a message
    queueUrls: { sched: "", events: "" },
    executor: undefined as never,
    clock: systemClock,
    settings: { ...DEFAULT_SETTINGS },
    log: { info: () => {}, warn: () => {}, error: () => {}, debug: () => {} },
  };
}, 60_000);

afterAll(async () => {
  await ddb?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe("the repair sweep's cost", () => {
  it("reads the waiting jobs and their parents only: two requests, no writes, whatever else the site holds", async () => {
    const parents: JobRecord[] = [];
    for (let i = 0; i < 4; i++) parents.push(await runningParent());
    for (let i = 0; i < 40; i++) {
      const { child, edge } = childOf(parents[i % 4]);
      await store.createJob(child, [edge]);
    }
    // jobs that wait on nothing are not in the wait index: the sweep never reads them
    for (let i = 0; i < 60; i++) await seed(job({ state: i % 2 ? "Q" : "F" }));
    resetRequestCounts();
    const r = await repairStranded(ctx);
    const counts = { ...requestCounts };
    expect(r.waiting).toBe(40);
    expect(counts).toEqual({ "dynamodb.Query": 1, "dynamodb.BatchGetItem": 1 });
    expect(summarizeCounts(counts)).toEqual({ ddbRead: 2, ddbWrite: 0, sqs: 0 });
  });
});

describe("an edge added while the parent ends", () => {
  it("changes the parent's version: an end that read the parent before cannot write", async () => {
    const p = await runningParent();
    const read = (await store.getJob(p.key)) as JobRecord;
    const { child, edge } = childOf(p);
    await store.createJob(child, [edge]);
    const after = (await store.getJob(p.key)) as JobRecord;
    expect(after.hasDeps).toBe(true);
    expect(after.ver).toBe(read.ver + 1);
    await expect(store.updateJob(read, { ...read, state: "F", obittime: 7 })).rejects.toThrow(ConflictError);
  });

  it("the obituary re-reads and releases a child submitted between its read and its write", async () => {
    const p = await runningParent();
    const { child, edge } = childOf(p);
    const r = await handleObituary(
      interleave(p.key, () => store.createJob(child, [edge])),
      obit(p),
    );
    // the end saw the edge: its dependents are to be released
    expect(r.ended).toEqual([p.key]);
    const ended = (await store.getJob(p.key)) as JobRecord;
    expect([ended.state, ended.hasDeps]).toEqual(["F", true]);
  });

  it("and one registered by a peer (addEdge) between the read and the write", async () => {
    const p = await runningParent();
    const r = await handleObituary(
      interleave(p.key, () =>
        store.addEdge({ parentKey: p.key, childId: "9.derecho", type: "afterany", site: "derecho" }),
      ),
      obit(p),
    );
    expect(r.ended).toEqual([p.key]);
  });

  it("an edge cannot land on a parent that has ended", async () => {
    const p = await runningParent();
    await handleObituary(ctx, obit(p));
    const { child, edge } = childOf(p);
    await expect(store.createJob(child, [edge])).rejects.toThrow(ConflictError);
    await expect(
      store.addEdge({ parentKey: p.key, childId: "10.derecho", type: "afterok", site: "derecho" }),
    ).rejects.toThrow(ConflictError);
  });
});

describe("the repair sweep", () => {
  it("releases a child whose parent ended without releasing it, from the wait index only", async () => {
    const p = await runningParent();
    const { child, edge } = childOf(p);
    await store.createJob(child, [edge]);
    // the crash: the end is written (it would have released the child next)
    expect((await handleObituary(ctx, obit(p))).ended).toEqual([p.key]);
    expect((await store.getJob(child.key))?.state).toBe("H");
    expect((await store.queryWaiting()).map((j) => j.id)).toContain(child.id);

    const r = await repairStranded(ctx);
    expect(r.parentsReleased).toContain(p.id);
    expect(r.partitions).toContain("default");
    const released = (await store.getJob(child.key)) as JobRecord;
    expect([released.state, released.holds, released.depPending]).toEqual(["Q", "", undefined]);
    // released: out of the wait index, so the next sweep does not read it
    expect((await store.queryWaiting()).map((j) => j.id)).not.toContain(child.id);
    // and idempotent: nothing left to do for it
    expect((await repairStranded(ctx)).parentsReleased).not.toContain(p.id);
  });

  it("leaves a child of a parent still running alone (no release, no edge query)", async () => {
    const p = await runningParent();
    const { child, edge } = childOf(p);
    await store.createJob(child, [edge]);
    resetRequestCounts();
    const r = await repairStranded(ctx);
    expect(r.parentsReleased).not.toContain(p.id);
    // every job still waiting here waits on a running parent: the wait index and the parents only
    expect({ ...requestCounts }).toEqual({ "dynamodb.Query": 1, "dynamodb.BatchGetItem": 1 });
    expect((await store.getJob(child.key))?.state).toBe("H");
  });

  it("ends a child whose local parent does not exist (the answer a peer gives)", async () => {
    const child = job({
      state: "H",
      holds: "s",
      depend: "afterok:99999.casper",
      depPending: ["99999.casper"],
    });
    await store.createJob(child);
    const r = await repairStranded(ctx);
    expect(r.missingParents).toBeGreaterThanOrEqual(1);
    const c = (await store.getJob(child.key)) as JobRecord;
    expect(c.state).toBe("F");
    expect(c.comment).toMatch(/can never be satisfied.*Unknown Job Id 99999.casper/);
  });

  it("counts a finished subjob its array never counted", async () => {
    const parent = job({
      state: "B",
      array: { range: "1-2", indices: [1, 2], next: 2, running: 2, done: 0, failed: 0 },
    });
    parent.id = `${parent.seq}[].casper`;
    const sub = (i: number, over: Partial<JobRecord>) =>
      job({
        ...over,
        seq: parent.seq,
        id: `${parent.seq}[${i}].casper`,
        key: `${parent.key}[${i}]`,
        parentKey: parent.key,
        arrayIndex: i,
      });
    await seed(
      parent,
      sub(1, { state: "R", runCount: 1, stime: 5, momId: "m1" }),
      // the crash: subjob 2's end written, its count on the parent not
      sub(2, { state: "X", runCount: 1, stime: 5, obittime: 6, exitStatus: 0 }),
    );
    expect((await store.queryWaiting()).map((j) => j.id)).toContain(parent.id);
    const r = await repairStranded(ctx);
    expect(r.subjobsCounted).toBe(1);
    const a = (await store.getJob(parent.key)) as JobRecord;
    expect([a.state, a.array?.running, a.array?.done]).toEqual(["B", 1, 1]);
    expect((await store.getJob(`${parent.key}[2]`))?.extra?.counted).toBe("1");
    // subjob 1 is really running: nothing more to count
    expect((await repairStranded(ctx)).subjobsCounted).toBe(0);
  });
});
