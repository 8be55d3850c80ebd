/**
 * qsub on the server (shared/server/submit.ts) over the in-memory site: what a submitted job
 * looks like, and what a refused one leaves behind (nothing). The integration suite's
 * "refuses bad input ... creates nothing" and input.test.ts's size limits, without the stack.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { inspectStore } from "../../../shared/adapters/memory/index.js";
import { MetaqueueError } from "../../../shared/errors.js";
import { type MemorySite, memorySite, T0 } from "../../fixtures/memory-site.js";

let s: MemorySite;
beforeEach(async () => {
  s = await memorySite();
});

/** The store's jobs and accounting records, and what waits on the bus. */
const snapshot = () => {
  const c = inspectStore(s.store);
  return { jobs: c.jobs.length, acct: c.acct.length, bus: s.bus.count() };
};

/** The code, status and message of a refusal (and that it was one). */
async function refusal(p: Promise<unknown>): Promise<{ code: string; status: number; message: string }> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "the submit should have been refused").toBeInstanceOf(MetaqueueError);
  const e = err as MetaqueueError;
  return { code: e.code, status: e.status, message: e.message };
}

describe("submit", () => {
  it("queues the job with its attributes, a Q accounting record and a cycle request for its partition", async () => {
    const id = await s.submit(
      "alice",
      "#!/bin/bash\n#PBS -N hello\n#PBS -l select=1:ncpus=2:mem=100mb\n#PBS -v GREETING=hi\necho $GREETING\n",
      { account: "P1", priority: 5 },
    );
    expect(id).toMatch(/^\d+\.casper$/);
    const j = await s.job(id);
    expect(j).toMatchObject({
      state: "Q",
      holds: "",
      queue: "casper",
      partition: "default",
      name: "hello",
      owner: "alice@login1",
      user: "alice",
      account: "P1",
      priority: 5,
      ctime: T0,
      qtime: T0,
      etime: T0,
      runCount: 0,
      outPath: `/home/alice/hello.o${j.seq}`,
      errPath: `/home/alice/hello.e${j.seq}`,
    });
    // the queue's default walltime applies; -l select gives the totals PBS shows
    expect(j.rl).toMatchObject({
      ncpus: "2",
      mem: "100mb",
      walltime: "00:10:00",
      select: "1:ncpus=2:mem=100mb",
    });
    expect(j.walltime).toBe(600);
    expect(j.env).toMatchObject({
      GREETING: "hi",
      PBS_O_WORKDIR: "/home/alice",
      PBS_O_HOST: "login1",
      PBS_O_QUEUE: "casper",
    });
    expect(j.hist[0].message).toMatch(/^Job Queued at request of alice@login1/);

    const acct = inspectStore(s.store).acct;
    // kept acctKeepDays (the table's TTL: shared/server/history.ts)
    const expiresAt = T0 / 1000 + s.ctx.settings.acctKeepDays * 86_400;
    expect(acct).toEqual([
      { time: T0, jobId: id, type: "Q", data: { queue: "casper", user: "alice" }, expiresAt },
    ]);
    const triggers = s.bus.peek("sched").map((m) => JSON.parse(m.body));
    expect(triggers).toEqual([{ type: "cycle", partition: "default", reason: "submit" }]);
  });

  it("numbers jobs in submission order", async () => {
    const a = await s.submit("alice", "true\n");
    const b = await s.submit("bob", "true\n");
    expect(Number(b.split(".")[0])).toBe(Number(a.split(".")[0]) + 1);
  });

  it("a held job (-h) is H with a user hold and asks for no cycle", async () => {
    const id = await s.submit("alice", "true\n", { hold: true });
    const j = await s.job(id);
    expect(j).toMatchObject({ state: "H", holds: "u" });
    expect(j.etime).toBeUndefined();
    expect(s.bus.count("sched")).toBe(0);
  });

  it("an array job gets the [] ID and its indices", async () => {
    const id = await s.submit("alice", "true\n", { arrayRange: "1-5:2" });
    expect(id).toMatch(/^\d+\[\]\.casper$/);
    const j = await s.job(id);
    expect(j.array).toMatchObject({ indices: [1, 3, 5], next: 0, running: 0, done: 0 });
    expect(j.outPath).toBe(`/home/alice/STDIN.o${j.seq}.^array_index^`);
  });

  it("refuses bad submissions with the PBS message, and writes and sends nothing", async () => {
    const cases: [string, string, Parameters<MemorySite["submit"]>[2], string, RegExp][] = [
      ["unknown queue", "true\n", { queue: "nosuch" }, "UnknownQueue", /Unknown queue nosuch/],
      ["unknown server", "true\n", { queue: "casper@elsewhere" }, "UnknownServer", /not this server/],
      ["bad resource", "true\n", { resources: { select: "1:ncpus=two" } }, "BadValue", /ncpus/],
      [
        "over the queue's walltime",
        "true\n",
        { resources: { walltime: "02:00:00" } },
        "ExceedsQueueLimit",
        /Job violates queue and\/or server resource limits/,
      ],
      ["bad directive", "#PBS -l walltime=banana\ntrue\n", {}, "BadValue", /line 1/],
      ["never fits a node", "true\n", { resources: { select: "1:ncpus=64" } }, "NeverRuns", /never run/],
      ["empty script", "   \n", {}, "EmptyScript", /empty/],
      [
        "dependency on an unknown job",
        "true\n",
        { depend: "afterok:999.casper" },
        "UnknownJob",
        /Unknown Job Id/,
      ],
    ];
    const before = snapshot();
    for (const [what, script, options, code, msg] of cases) {
      const r = await refusal(s.submit("alice", script, options));
      expect(r.code, what).toBe(code);
      expect(r.message, what).toMatch(msg);
    }
    expect(snapshot()).toEqual(before);
  });

  it("refuses a script over maxScriptBytes (413) and a job over maxJobBytes (413, PBS exit 166)", async () => {
    const before = snapshot();
    const big = await refusal(s.submit("alice", `#!/bin/bash\n# ${"x".repeat(300 * 1024)}\ntrue\n`));
    expect(big).toMatchObject({ code: "ScriptTooLarge", status: 413 });
    const vars: Record<string, string> = {};
    for (let i = 0; i < 7; i++) vars[`V${i}`] = "y".repeat(60 * 1024);
    const err = await s.submit("alice", "true\n", { variables: vars }).catch((e) => e);
    expect(err).toMatchObject({ code: "JobTooLarge", status: 413, exitCode: 166 });
    expect(err.message).toMatch(
      /^Job too large: 42\d KB \(script 1 KB, variables 42\d KB\); the limit is 300 KB$/,
    );
    expect(snapshot()).toEqual(before);
  });

  it("refuses an array over the queue's max_array_size", async () => {
    await s.setAttrs("queue", "casper", { max_array_size: 3 });
    const before = snapshot();
    const r = await refusal(s.submit("alice", "true\n", { arrayRange: "1-4" }));
    expect(r).toMatchObject({ code: "ArrayTooLarge" });
    expect(r.message).toMatch(/size limit \(4 > 3\)/);
    expect(snapshot()).toEqual(before);
    expect(await s.submit("alice", "true\n", { arrayRange: "1-3" })).toMatch(/\[\]\.casper$/);
  });

  it("refuses a disabled queue, and users outside acl_users or acl_groups", async () => {
    await s.setAttrs("queue", "casper", { acl_user_enable: true, acl_users: "alice@*" });
    const before = snapshot();
    expect(await refusal(s.submit("bob", "true\n"))).toMatchObject({ code: "Unauthorized", status: 403 });
    expect(await s.submit("alice", "true\n")).toMatch(/\.casper$/);
    await s.setAttrs("queue", "casper", {
      acl_user_enable: false,
      acl_group_enable: true,
      acl_groups: "staff",
    });
    const groups = await refusal(s.submit("alice", "true\n"));
    expect(groups.message).toMatch(/group access list of queue casper/);
    await s.setAttrs("queue", "casper", { acl_group_enable: false, enabled: false });
    expect(await refusal(s.submit("alice", "true\n"))).toMatchObject({ code: "QueueDisabled" });
    expect(snapshot().jobs).toBe(before.jobs + 1);
  });

  it("refuses a project whose allocation is used up (403) and takes one with room", async () => {
    await s.store.setAllocation("P1", 1);
    expect(await s.submit("alice", "true\n", { account: "P1" })).toMatch(/\.casper$/);
    await s.store.chargeUsage({ account: "P1", where: "casper", coreSeconds: 3600, walltime: 3600 });
    const r = await refusal(s.submit("alice", "true\n", { account: "P1" }));
    expect(r).toMatchObject({ code: "AllocationExhausted", status: 403 });
  });

  it("dependencies: a job waiting on an unfinished parent is held (s) with an edge under the parent", async () => {
    const parent = await s.submit("alice", "true\n", { hold: true });
    const child = await s.submit("alice", "true\n", { depend: `afterok:${parent}` });
    expect(await s.job(child)).toMatchObject({ state: "H", holds: "s", depPending: [parent] });
    const { job, edges } = await s.store.getJobWithEdges((await s.job(parent)).key);
    expect(job?.hasDeps).toBe(true);
    expect(edges).toEqual([expect.objectContaining({ childId: child, type: "afterok" })]);
  });

  it("dependencies: afterok on a job that failed can never be satisfied, and is refused", async () => {
    const parent = await s.submit("alice", "exit 3\n");
    await s.settle();
    await s.obit(parent, { exitStatus: 3 });
    await s.settle();
    const before = snapshot();
    const r = await refusal(s.submit("alice", "true\n", { depend: `afterok:${parent}` }));
    expect(r).toMatchObject({ code: "BadDependency" });
    expect(r.message).toMatch(/can never be satisfied .*Exit_status 3/);
    expect(snapshot()).toEqual(before);
    // afternotok on it is already satisfied: queued at once
    const ok = await s.submit("alice", "true\n", { depend: `afternotok:${parent}` });
    expect((await s.job(ok)).state).toBe("Q");
  });
});

describe("one job named twice in a dependency", () => {
  beforeEach(async () => {
    await s.setAttrs("server", "server", { scheduling: false });
  });

  it("two before-types on one job become one edge asking for both (not a refused transaction)", async () => {
    const a = await s.submit("alice", "true\n");
    const b = await s.submit("alice", "true\n", { depend: `beforeok:${a},beforeany:${a}` });
    const { edges } = await s.store.getJobWithEdges((await s.job(b)).key);
    expect(edges).toEqual([expect.objectContaining({ childId: a, type: "afterok" })]);
    expect((await s.job(a)).state).toBe("H");
  });

  it("afterany then afterok keeps afterok, whatever the order", async () => {
    const a = await s.submit("alice", "true\n");
    for (const depend of [`afterany:${a},afterok:${a}`, `afterok:${a},afterany:${a}`]) {
      const c = await s.submit("alice", "true\n", { depend });
      const { edges } = await s.store.getJobWithEdges((await s.job(a)).key);
      expect(edges.find((e) => e.childId === c)?.type, depend).toBe("afterok");
    }
  });

  it("afterok with afternotok on one job is refused, and nothing is written", async () => {
    const a = await s.submit("alice", "true\n");
    const before = inspectStore(s.store).jobs.length;
    await expect(s.submit("alice", "true\n", { depend: `afterok:${a},afternotok:${a}` })).rejects.toThrow(
      /can never both be satisfied/,
    );
    expect(inspectStore(s.store).jobs.length).toBe(before);
  });
});
