/**
 * Array subjobs addressed as PBS addresses them (`12[3]`, `12[1-5]`, `12[]`), over the
 * in-memory site: qdel of a subjob not started yet (it never runs: the cycle after the qdel
 * does not dispatch it), of a range, of an array under way; qhold/qrls/qalter/qmove refused
 * on subjobs and ranges (PBSE_IVALREQ) and allowed on the array; what qstat shows of each
 * (the /subjobs route, X for a deleted subjob, the array's counts).
 */
import { beforeEach, describe, expect, it } from "vitest";
import { MetaqueueError } from "../../../shared/errors.js";
import { moveJob } from "../../../shared/server/move.js";
import { alterJob, deleteJob, holdJob, releaseJob, rerunJob } from "../../../shared/server/ops.js";
import { type MemorySite, memorySite } from "../../fixtures/memory-site.js";

let s: MemorySite;
beforeEach(async () => {
  s = await memorySite();
});

const enc = encodeURIComponent;

/** An array of `range` whose subjobs take a whole 4-core node: two run at a time. */
async function array(range: string, hold = false): Promise<{ id: string; seq: string }> {
  const id = await s.submit("alice", "true\n", {
    arrayRange: range,
    resources: { select: "1:ncpus=4" },
    ...(hold ? { hold: true } : {}),
  });
  return { id, seq: id.split("[")[0] };
}

async function subjobStates(id: string): Promise<Record<string, string>> {
  const r = await s.api("GET", `/v1/jobs/${enc(id)}/subjobs`, { as: "alice" });
  expect(r.status, JSON.stringify(r.body)).toBe(200);
  return Object.fromEntries(
    r.body.jobs.map((j: { id: string; attributes: { job_state: string } }) => [j.id, j.attributes.job_state]),
  );
}

/** Obituaries (exit 0) for every subjob dispatched and not ended yet, then settle. */
async function endRunning(): Promise<void> {
  for (const d of s.executor.dispatched) {
    const j = await s.job(d.jobId);
    if (j.state === "R") await s.obit(d.jobId);
  }
  await s.settle();
}

async function errorOf(p: Promise<unknown>): Promise<MetaqueueError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "the operation should have been refused").toBeInstanceOf(MetaqueueError);
  return err as MetaqueueError;
}

describe("qdel of subjobs", () => {
  it("a queued subjob deleted before its start never runs, shows X, and the array ends on the others", async () => {
    const { id, seq } = await array("1-4", true);
    await deleteJob(s.ctx, `${seq}[3].casper`, s.actor("alice"));
    await releaseJob(s.ctx, id, s.actor("alice"));
    await s.settle();
    // every cycle until the array ends: index 3 is never dispatched
    for (let round = 0; round < 4; round++) await endRunning();
    expect(s.executor.ids()).toEqual([`${seq}[1].casper`, `${seq}[2].casper`, `${seq}[4].casper`]);
    expect(await s.job(id)).toMatchObject({ state: "F", exitStatus: 0 });
    const sub = await s.api("GET", `/v1/jobs/${enc(`${seq}[3].casper`)}`, {
      as: "alice",
      query: { history: "1" },
    });
    expect(sub.body.job.attributes).toMatchObject({
      job_state: "X",
      array_id: `${seq}[].casper`,
      array_index: 3,
    });
  });

  it("qstat shows a subjob not started as Q and a deleted one as X with its array; the array counts it Expired", async () => {
    const { id, seq } = await array("1-5", true);
    await releaseJob(s.ctx, id, s.actor("alice"));
    await s.settle(); // 1 and 2 run
    await deleteJob(s.ctx, `${seq}[4]`, s.actor("alice"));
    expect(await subjobStates(id)).toEqual({
      [`${seq}[1].casper`]: "R",
      [`${seq}[2].casper`]: "R",
      [`${seq}[3].casper`]: "Q",
      [`${seq}[4].casper`]: "X",
      [`${seq}[5].casper`]: "Q",
    });
    // the X subjob is shown while its array is listed, without -x
    const x = await s.api("GET", `/v1/jobs/${enc(`${seq}[4].casper`)}`, { as: "alice" });
    expect(x.body.job.attributes.job_state).toBe("X");
    const q = await s.api("GET", `/v1/jobs/${enc(`${seq}[5].casper`)}`, { as: "alice" });
    expect(q.body.job.attributes).toMatchObject({ job_state: "Q", array_index: 5 });
    const parent = (await s.api("GET", `/v1/jobs/${enc(id)}`, { as: "alice" })).body.job.attributes;
    expect(parent).toMatchObject({
      job_state: "B",
      array: "True",
      array_indices_submitted: "1-5",
      array_indices_remaining: "3,5",
      array_state_count: "Queued:2 Running:2 Exiting:0 Expired:1 ",
    });
    // a range names only the subjobs in it
    expect(Object.keys(await subjobStates(`${seq}[2-5:2].casper`))).toEqual([
      `${seq}[2].casper`,
      `${seq}[4].casper`,
    ]);
    expect((await s.api("GET", `/v1/jobs/${enc(`${seq}[9]`)}/subjobs`, { as: "alice" })).status).toBe(404);
    expect((await s.api("GET", `/v1/jobs/${enc(`${seq}[9]`)}`, { as: "alice" })).status).toBe(404);
  });

  it("qdel of a range deletes the queued subjobs in it and kills the running ones", async () => {
    const { id, seq } = await array("1-6", true);
    await releaseJob(s.ctx, id, s.actor("alice"));
    await s.settle(); // 1 and 2 run
    const r = await s.api("DELETE", `/v1/jobs/${enc(`${seq}[2-4]`)}`, { as: "alice" });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(s.executor.kills.map((k) => k.jobId)).toEqual([`${seq}[2].casper`]);
    await s.obit(`${seq}[2].casper`, { exitStatus: 271, killedFor: "qdel" });
    await endRunning();
    for (let round = 0; round < 4; round++) await endRunning();
    expect(s.executor.ids().sort()).toEqual(
      [`${seq}[1].casper`, `${seq}[2].casper`, `${seq}[5].casper`, `${seq}[6].casper`].sort(),
    );
    expect((await s.job(id)).state).toBe("F");
  });

  it("qdel of an array under way: no further subjob starts, the running ones are killed, the array ends", async () => {
    const { id, seq } = await array("1-6", true);
    await releaseJob(s.ctx, id, s.actor("alice"));
    await s.settle();
    expect((await s.job(id)).state).toBe("B");
    const r = await s.api("DELETE", `/v1/jobs/${enc(id)}`, { as: "alice" });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    expect(s.executor.kills.map((k) => k.jobId).sort()).toEqual([`${seq}[1].casper`, `${seq}[2].casper`]);
    for (const k of s.executor.kills) await s.obit(k.jobId, { exitStatus: 271, killedFor: "qdel" });
    await s.settle();
    await s.settle();
    expect(s.executor.dispatched).toHaveLength(2);
    expect(await s.job(id)).toMatchObject({ state: "F" });
    expect(await subjobStates(id)).toMatchObject({ [`${seq}[6].casper`]: "X" });
  });

  it("another user's subjob or range is refused; a subjob the array does not have is unknown", async () => {
    const { seq } = await array("1-3", true);
    expect((await errorOf(deleteJob(s.ctx, `${seq}[2].casper`, s.actor("bob")))).code).toBe("Unauthorized");
    expect((await errorOf(deleteJob(s.ctx, `${seq}[1-3].casper`, s.actor("bob")))).code).toBe("Unauthorized");
    const r = await s.api("DELETE", `/v1/jobs/${enc(`${seq}[7]`)}`, { as: "alice" });
    expect(r.status).toBe(404);
    expect(r.body.error.message).toBe(`Unknown Job Id ${seq}[7].casper`);
    expect((await s.job(`${seq}[]`)).array?.indices).toEqual([1, 2, 3]);
  });
});

describe("holds, alters and moves act on the array, never on its subjobs (PBSE_IVALREQ)", () => {
  it("refuses a subjob or a range with Invalid request, and takes the array", async () => {
    const { id, seq } = await array("1-3", true);
    for (const sub of [`${seq}[2].casper`, `${seq}[1-2].casper`]) {
      for (const op of [
        holdJob(s.ctx, sub, s.actor("alice")),
        releaseJob(s.ctx, sub, s.actor("alice")),
        alterJob(s.ctx, sub, s.actor("alice"), { name: "x" }),
        moveJob(s.ctx, sub, s.actor("alice"), "casper"),
      ]) {
        const err = await errorOf(op);
        expect(err.pbs).toBe("IVALREQ");
        expect(err.message).toBe(`Invalid request ${sub}`);
      }
    }
    await alterJob(s.ctx, id, s.actor("alice"), { name: "renamed" });
    await releaseJob(s.ctx, id, s.actor("alice"));
    expect(await s.job(id)).toMatchObject({ name: "renamed", state: "Q" });
  });
});

describe("qrerun of a subjob", () => {
  it("is refused (NORERUN), not accepted and stranded as a Q record no cycle would start", async () => {
    const { id, seq } = await array("1-2", true);
    await releaseJob(s.ctx, id, s.actor("alice"));
    await s.settle();
    const sub = `${seq}[1].casper`;
    expect((await s.job(sub)).state).toBe("R");
    for (const target of [sub, `${seq}[1-2].casper`]) {
      const err = await errorOf(rerunJob(s.ctx, target, s.actor("root")));
      expect(err.pbs).toBe("NORERUN");
    }
    expect(s.executor.kills).toEqual([]);
    expect((await s.job(sub)).rerunReq).toBeUndefined();
  });
});
