/**
 * What a job operation costs the store (issue 14, point 4: qdel as a process per job): a qdel,
 * qhold or qrls of a job here reads the job once and writes it once, guarded by its `ver`. The
 * look for a moved job (ops.ts forwardOp) is the first attempt's read of the guarded write
 * (mutateJob given the record), and the API's audit of a manager's action takes the owner from
 * the operation instead of reading the job again. Counted on the real in-memory store, under the
 * site's history wrapper, through the API handler, as the CLI reaches it.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { inspectStore, type MemorySiteStore } from "../../../shared/adapters/memory/index.js";
import { keyOfId, mutateJob } from "../../../shared/server/mutate.js";
import { type MemorySite, memorySite, startJob } from "../../fixtures/memory-site.js";

let s: MemorySite;
let calls: string[];
beforeEach(async () => {
  s = await memorySite();
  calls = countCalls(s.store);
});

/** Records the name of every store method called from now on (the store still does the work). */
function countCalls(store: MemorySiteStore): string[] {
  const names: string[] = [];
  const target = store as unknown as Record<string, unknown>;
  for (
    let proto = Object.getPrototypeOf(store);
    proto && proto !== Object.prototype;
    proto = Object.getPrototypeOf(proto)
  )
    for (const name of Object.getOwnPropertyNames(proto)) {
      const fn = target[name];
      if (name === "constructor" || typeof fn !== "function" || Object.hasOwn(target, name)) continue;
      target[name] = (...a: unknown[]) => {
        names.push(name);
        return (fn as (...x: unknown[]) => unknown).apply(store, a);
      };
    }
  return names;
}

/** The job reads and writes among the calls since `from`: what DynamoDB bills per request. */
function jobCalls(from: number): string[] {
  return calls
    .slice(from)
    .filter((n) => /^(get|list|find)\w*Jobs?\w*$|^updateJob|^transactJobs|^createJob/.test(n));
}

async function measured(op: () => Promise<unknown>): Promise<string[]> {
  const from = calls.length;
  await op();
  return jobCalls(from);
}

describe("the store requests of a job operation", () => {
  it("qdel of a queued job: one read, one guarded write (the D record with it), as its owner or a manager", async () => {
    const mine = await s.submit("alice", "true\n", { hold: true });
    const theirs = await s.submit("alice", "true\n");
    const del = (id: string, as: string) =>
      measured(async () => expect((await s.api("DELETE", `/v1/jobs/${id}`, { as })).status).toBe(200));
    expect(await del(mine, "alice")).toEqual(["getJob", "updateJob"]);
    // a manager's delete of another user's job is audited, from the owner the delete read
    expect(await del(theirs, "root")).toEqual(["getJob", "updateJob"]);
    const audit = await s.ctx.store.jobAudit(keyOfId(theirs, s.ctx.site.short));
    expect(audit).toMatchObject([
      { user: "root", outcome: "allowed", reason: "manager privilege on a job of alice" },
    ]);
    for (const id of [mine, theirs]) {
      expect(await s.job(id)).toMatchObject({ state: "F" });
      expect(
        inspectStore(s.store)
          .acct.filter((a) => a.jobId === id)
          .map((a) => a.type),
      ).toEqual(["Q", "D"]);
    }
  });

  it("qhold and qrls: one read, one guarded write each", async () => {
    const id = await s.submit("alice", "true\n");
    for (const [action, as] of [
      ["hold", "alice"],
      ["release", "alice"],
      ["hold", "root"],
    ])
      expect(
        await measured(async () =>
          expect((await s.api("POST", `/v1/jobs/${id}/${action}`, { as, body: {} })).status).toBe(200),
        ),
      ).toEqual(["getJob", "updateJob"]);
    expect(await s.job(id)).toMatchObject({ state: "H", holds: "u" });
  });

  it("qsig and qdel of a running job, qdel of a subjob not started: one read of each record there is", async () => {
    const run = await startJob(s, "alice");
    expect(
      await measured(async () =>
        expect(
          (await s.api("POST", `/v1/jobs/${run.id}/signal`, { as: "alice", body: { signal: "SIGUSR1" } }))
            .status,
        ).toBe(200),
      ),
    ).toEqual(["getJob", "updateJob"]);
    expect(
      await measured(async () =>
        expect((await s.api("DELETE", `/v1/jobs/${run.id}`, { as: "alice" })).status).toBe(200),
      ),
    ).toEqual(["getJob", "updateJob"]);
    expect(s.executor.kills).toMatchObject([{ jobId: run.id, reason: "qdel" }]);
    // the subjob has no record of its own: that read finds none, the array's is the guarded one
    const arr = await s.submit("alice", "true\n", { arrayRange: "1-2", hold: true });
    const sub = arr.replace("[]", "[1]");
    expect(
      await measured(async () =>
        expect((await s.api("DELETE", `/v1/jobs/${sub}`, { as: "alice" })).status).toBe(200),
      ),
    ).toEqual(["getJob", "getJob", "updateJob"]);
    expect((await s.job(arr)).array).toMatchObject({ indices: [2], deleted: [1] });
  });

  it("a manager's qalter, qsig and qrerun of another user's job: one read, one guarded write, audited", async () => {
    const held = await s.submit("alice", "true\n", { hold: true });
    const run = await startJob(s, "alice");
    const asRoot = (method: string, path: string, body: unknown) =>
      measured(async () => expect((await s.api(method, path, { as: "root", body })).status).toBe(200));
    expect(await asRoot("PATCH", `/v1/jobs/${held}`, { options: { name: "renamed" } })).toEqual([
      "getJob",
      "updateJob",
    ]);
    expect(await asRoot("POST", `/v1/jobs/${run.id}/signal`, { signal: "SIGUSR1" })).toEqual([
      "getJob",
      "updateJob",
    ]);
    expect(await asRoot("POST", `/v1/jobs/${run.id}/rerun`, {})).toEqual(["getJob", "updateJob"]);
    expect(s.executor.kills).toMatchObject([{ jobId: run.id, reason: "rerun" }]);
    const audit = async (id: string) =>
      (await s.ctx.store.jobAudit(keyOfId(id, s.ctx.site.short))).map(
        (a) => `${a.action} ${a.outcome} ${a.reason}`,
      );
    expect(await audit(held)).toEqual(["qalter allowed manager privilege on a job of alice"]);
    expect(await audit(run.id)).toEqual([
      "qsig allowed manager privilege on a job of alice",
      "qrerun allowed manager privilege on a job of alice",
    ]);
  });

  it("a record changed since it was read loses on ver: the retry reads afresh and decides again", async () => {
    const id = await s.submit("alice", "true\n", { hold: true });
    const stale = await s.job(id);
    await s.api("POST", `/v1/jobs/${id}/release`, { as: "alice", body: {} });
    const seen: string[] = [];
    const { after } = await mutateJob(s.ctx, stale, (cur) => {
      seen.push(cur.state);
      return { kind: "write", after: { ...cur, name: "renamed" } };
    });
    // decided first on the stale H, which the guarded write refused; then on the Q now stored
    expect(seen).toEqual(["H", "Q"]);
    expect(after).toMatchObject({ state: "Q", name: "renamed", ver: stale.ver + 2 });
  });
});
