/**
 * The HTTP API (shared/api/routes.ts, web-routes.ts) through the API handler, over the
 * in-memory site: who is asking (401), what is refused (4xx JSON with the PBS code, message
 * and exit code), who may act on whose job (403, a manager on any), and the audit trail of
 * refusals and privileged actions. The integration suite's auth.test.ts and input.test.ts
 * API checks, without the stack.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { inspectStore } from "../../../shared/adapters/memory/index.js";
import { type MemorySite, memorySite, startJob } from "../../fixtures/memory-site.js";
import { jobRecord } from "../../fixtures/job.js";
import { QSTAT_PAGE } from "../../../shared/api/routes.js";

let s: MemorySite;
beforeEach(async () => {
  s = await memorySite();
});

const submitBody = (over: Record<string, unknown> = {}) => ({
  script: "#!/bin/bash\necho hi\n",
  submitDir: "/home/alice",
  ...over,
});

async function submit(as: string, options: Record<string, unknown> = {}): Promise<string> {
  const r = await s.api("POST", "/v1/jobs", { as, body: submitBody({ submitDir: `/home/${as}`, options }) });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.jobId;
}

const day = () => new Date(s.clock.now()).toISOString().slice(0, 10);

describe("identity", () => {
  it("refuses a request with no credential or an unknown one (401); /health and /openapi.json stay public", async () => {
    for (const as of [undefined, "mallory"]) {
      const r = await s.api("GET", "/v1/jobs", { as });
      expect(r.status).toBe(401);
      expect(r.body.error).toMatchObject({ code: "Unauthenticated", exitCode: 159 });
    }
    expect(await s.api("GET", "/health")).toMatchObject({
      status: 200,
      body: { ok: true, server: "casper-pbs" },
    });
    expect((await s.api("GET", "/openapi.json")).status).toBe(200);
    // refusals of unknown callers are logged, never written to the table
    expect(await s.store.listAudit(day())).toEqual([]);
  });

  it("says who you are and whether you may act on any job", async () => {
    expect((await s.api("GET", "/v1/whoami", { as: "alice" })).body).toEqual({
      user: "alice",
      privileged: false,
    });
    expect((await s.api("GET", "/v1/whoami", { as: "root" })).body).toEqual({
      user: "root",
      privileged: true,
    });
  });
});

describe("bad input", () => {
  it("answers 400 BadValue for malformed JSON, unknown fields, unknown query parameters and bad escapes", async () => {
    const cases = [
      await s.api("POST", "/v1/jobs", { as: "alice", body: "{not json" }),
      await s.api("POST", "/v1/jobs", { as: "alice", body: { ...submitBody(), extra: 1 } }),
      await s.api("POST", "/v1/jobs", { as: "alice", body: submitBody({ options: { name: "a\nb" } }) }),
      await s.api("GET", "/v1/jobs", { as: "alice", query: { nosuch: "1" } }),
      await s.api("GET", "/v1/jobs/%E0%A4%A", { as: "alice" }),
      await s.api("GET", "/v1/jobs", { as: "alice", query: { limit: "0" } }),
    ];
    for (const r of cases) {
      expect(r.status, JSON.stringify(r.body)).toBe(400);
      expect(r.body.error.code).toBe("BadValue");
    }
    expect(inspectStore(s.store).jobs).toEqual([]);
  });

  it("answers a refused submit with its code and PBS exit code, and stores nothing", async () => {
    const vars: Record<string, string> = {};
    for (let i = 0; i < 7; i++) vars[`V${i}`] = "y".repeat(60 * 1024);
    const cases: [Record<string, unknown>, number, string, number?][] = [
      [{ options: { queue: "nosuch" } }, 400, "UnknownQueue"],
      [{ options: { resources: { walltime: "02:00:00" } } }, 400, "ExceedsQueueLimit"],
      [{ options: { variables: vars } }, 413, "JobTooLarge", 166],
      [{ script: "  \n" }, 400, "EmptyScript", 156],
      [{ submitDir: "relative/dir" }, 400, "BadValue"],
    ];
    for (const [over, status, code, exitCode] of cases) {
      const r = await s.api("POST", "/v1/jobs", { as: "alice", body: submitBody(over) });
      expect(r.status, code).toBe(status);
      expect(r.body.error.code).toBe(code);
      if (exitCode) expect(r.body.error.exitCode).toBe(exitCode);
    }
    expect(inspectStore(s.store).jobs).toEqual([]);
  });

  it("answers 404 for unknown jobs, jobs of other servers, unknown queues and unknown routes", async () => {
    for (const path of [
      "/v1/jobs/99999",
      "/v1/jobs/1.elsewhere",
      "/v1/jobs/99999/trace",
      "/v1/jobs/99999/deps",
    ]) {
      const r = await s.api("GET", path, { as: "alice" });
      expect(r.status, path).toBe(404);
      expect(r.body.error).toMatchObject({ code: "UnknownObject", exitCode: 153 });
      expect(r.body.error.message).toMatch(/^Unknown Job Id /);
    }
    expect((await s.api("DELETE", "/v1/jobs/99999", { as: "alice" })).status).toBe(404);
    expect((await s.api("GET", "/v1/queues/nosuch", { as: "alice" })).status).toBe(404);
    expect((await s.api("GET", "/v1/nosuch", { as: "alice" })).body.error.code).toBe("NoRoute");
  });

  it("a finished job answers 404 JobFinished (exit 35) unless history is asked for", async () => {
    const id = await submit("alice", { hold: true });
    expect((await s.api("DELETE", `/v1/jobs/${id}`, { as: "alice" })).status).toBe(200);
    const r = await s.api("GET", `/v1/jobs/${id}`, { as: "alice" });
    expect(r.status).toBe(404);
    expect(r.body.error).toMatchObject({ code: "JobFinished", exitCode: 35 });
    const h = await s.api("GET", `/v1/jobs/${id}`, { as: "alice", query: { history: "1" } });
    expect(h.status).toBe(200);
    expect(h.body.job.attributes).toMatchObject({ job_state: "F", Job_Owner: "alice@localhost" });
  });

  it("a job operation in the wrong state answers 409 InvalidState", async () => {
    const j = await startJob(s, "alice");
    const alter = await s.api("PATCH", `/v1/jobs/${j.id}`, {
      as: "alice",
      body: { options: { name: "late" } },
    });
    expect(alter.status).toBe(409);
    expect(alter.body.error).toMatchObject({ code: "InvalidState", exitCode: 168 });
    const nothing = await s.api("PATCH", `/v1/jobs/${j.id}`, { as: "alice", body: { options: {} } });
    expect(nothing.status).toBe(400);
    expect((await s.api("POST", `/v1/jobs/${j.id}/hold`, { as: "alice", body: {} })).status).toBe(409);
  });
});

describe("jobs and privilege", () => {
  it("everyone sees every job; the owner's submit, qstat and trace", async () => {
    const id = await submit("alice", { name: "mine" });
    const view = await s.api("GET", `/v1/jobs/${id}`, { as: "bob" });
    expect(view.status).toBe(200);
    expect(view.body.job).toMatchObject({
      id,
      attributes: expect.objectContaining({
        Job_Name: "mine",
        job_state: "Q",
        queue: "casper",
        euser: "alice",
      }),
    });
    const list = await s.api("GET", "/v1/jobs", { as: "bob", query: { user: "alice" } });
    expect(list.body.jobs.map((j: { id: string }) => j.id)).toEqual([id]);
    const trace = await s.api("GET", `/v1/jobs/${id}/trace`, { as: "bob" });
    expect(trace.body.events[0].message).toMatch(/^Job Queued at request of alice@localhost/);
  });

  it("another user may not change someone's job (403, exit 159), nothing changes, and each refusal is audited", async () => {
    const mine = await submit("alice", { hold: true, name: "mine" });
    const before = await s.job(mine);
    const attempts: [string, string, unknown][] = [
      ["DELETE", `/v1/jobs/${mine}`, undefined],
      ["POST", `/v1/jobs/${mine}/hold`, {}],
      ["POST", `/v1/jobs/${mine}/release`, {}],
      ["PATCH", `/v1/jobs/${mine}`, { options: { name: "stolen" } }],
      ["POST", `/v1/jobs/${mine}/move`, { destination: "casper" }],
      ["POST", `/v1/jobs/${mine}/rerun`, {}],
      ["POST", `/v1/jobs/${mine}/hold`, { holdType: "o" }],
    ];
    for (const [method, path, body] of attempts) {
      const r = await s.api(method, path, { as: "bob", body });
      expect(r.status, `${method} ${path}`).toBe(403);
      expect(r.body.error).toMatchObject({ code: "Unauthorized", exitCode: 159 });
      expect(r.body.error.message).toMatch(/^Unauthorized Request/);
    }
    const after = await s.job(mine);
    expect(after).toMatchObject({ ver: before.ver, name: "mine", holds: "u", state: "H" });
    const refused = (await s.store.listAudit(day())).filter((a) => a.outcome === "refused");
    expect(refused.map((a) => a.action).sort()).toEqual(
      ["qalter", "qdel", "qhold", "qhold", "qmove", "qrerun", "qrls"].sort(),
    );
    expect(refused.every((a) => a.user === "bob" && a.jobKey === before.key)).toBe(true);
    const trace = await s.api("GET", `/v1/jobs/${mine}/trace`, { as: "alice" });
    expect(trace.body.events.map((e: { message: string }) => e.message)).toContain(
      `audit: qdel refused for bob (Unauthorized Request  ${mine})`,
    );
  });

  it("the owner may act on their own job; a manager on any, which is audited as privileged", async () => {
    const theirs = await submit("bob", { hold: true });
    const ok = (r: { status: number }) => expect(r.status).toBe(200);
    ok(await s.api("PATCH", `/v1/jobs/${theirs}`, { as: "bob", body: { options: { name: "renamed" } } }));
    ok(await s.api("POST", `/v1/jobs/${theirs}/release`, { as: "bob", body: {} }));
    ok(await s.api("POST", `/v1/jobs/${theirs}/hold`, { as: "bob", body: {} }));
    expect((await s.job(theirs)).name).toBe("renamed");
    ok(await s.api("POST", `/v1/jobs/${theirs}/hold`, { as: "root", body: { holdType: "s" } }));
    ok(await s.api("DELETE", `/v1/jobs/${theirs}`, { as: "root" }));
    expect((await s.job(theirs)).state).toBe("F");
    const allowed = (await s.store.listAudit(day())).filter((a) => a.outcome === "allowed");
    expect(allowed.map((a) => [a.action, a.user, a.reason])).toEqual([
      ["qhold", "root", "manager privilege on a job of bob"],
      ["qdel", "root", "manager privilege on a job of bob"],
    ]);
    // bob's own actions needed no privilege: nothing audited for them
    expect((await s.store.listAudit(day())).some((a) => a.user === "bob")).toBe(false);
  });

  it("an operator may set only the operator attributes with qmgr", async () => {
    const set = (as: string, command: string) => s.api("POST", "/v1/qmgr", { as, body: { command } });
    expect((await set("root", "set server operators += bob@*")).status).toBe(200);
    expect((await set("bob", "set queue casper enabled = True")).status).toBe(200);
    expect((await set("bob", "set server managers += bob@*")).status).toBe(403);
    expect((await set("bob", "create queue bobq queue_type = Execution")).status).toBe(403);
    expect((await set("root", "set server operators -= bob@*")).status).toBe(200);
    expect((await set("bob", "set queue casper enabled = True")).status).toBe(403);
  });

  it("a queue ACL refusal of a submit is 403 and audited", async () => {
    await s.setAttrs("queue", "casper", { acl_user_enable: true, acl_users: "alice" });
    const r = await s.api("POST", "/v1/jobs", { as: "bob", body: submitBody({ submitDir: "/home/bob" }) });
    expect(r.status).toBe(403);
    expect(r.body.error.message).toMatch(/not in the access list of queue casper/);
    expect((await s.store.listAudit(day())).map((a) => [a.action, a.user, a.outcome])).toEqual([
      ["qsub", "bob", "refused"],
    ]);
    expect(inspectStore(s.store).jobs).toEqual([]);
  });

  it("qmgr changes need a manager (403 for a user, audited); reading is for everyone", async () => {
    const r = await s.api("POST", "/v1/qmgr", {
      as: "alice",
      body: { command: "set server scheduling = False" },
    });
    expect(r.status).toBe(403);
    expect(r.body.error.message).toMatch(/alice is not a manager/);
    expect(
      (await s.api("POST", "/v1/qmgr", { as: "alice", body: { command: "list queue casper" } })).status,
    ).toBe(200);
    const m = await s.api("POST", "/v1/qmgr", {
      as: "root",
      body: { command: "create queue fast queue_type=execution,priority=10,enabled=true,started=true" },
    });
    expect(m.status).toBe(200);
    // the new queue takes jobs at once (qmgr refreshes the cached server objects), and runs them
    const fast = await submit("alice", { queue: "fast" });
    await s.settle();
    expect(await s.job(fast)).toMatchObject({ state: "R", queue: "fast" });
    expect((await s.store.listAudit(day())).map((a) => [a.action, a.user, a.outcome])).toEqual([
      ["qmgr", "alice", "refused"],
      ["qmgr", "root", "allowed"],
    ]);
  });
});

describe("listings and arrays", () => {
  it("lists queues, nodes and the server with their job counts, and jobs by queue", async () => {
    const id = await submit("alice", { hold: true });
    const j = await startJob(s, "bob");
    const queues = await s.api("GET", "/v1/queues", { as: "bob" });
    expect(queues.body.queues.map((q: { name: string }) => q.name)).toEqual(["casper"]);
    expect(JSON.stringify(queues.body)).toMatch(/Held:1/);
    const nodes = await s.api("GET", "/v1/nodes", { as: "bob" });
    expect(nodes.body.nodes.map((n: { name: string }) => n.name).sort()).toEqual(["n1", "n2"]);
    expect(JSON.stringify(nodes.body)).toContain(j.id);
    const server = await s.api("GET", "/v1/server", { as: "bob" });
    expect(server.status).toBe(200);
    expect(JSON.stringify(server.body)).toContain("casper-pbs");
    const byQueue = await s.api("GET", "/v1/jobs", { as: "bob", query: { queue: "casper" } });
    expect(byQueue.body.jobs.map((x: { id: string }) => x.id)).toEqual([id, j.id]);
  });

  it("hands qstat the whole queue a page at a time, oldest first, with the cursor of the next page", async () => {
    const made: string[] = [];
    for (let seq = 1; seq <= QSTAT_PAGE + 20; seq++) {
      const job = jobRecord(seq, { queue: "casper", user: seq % 2 ? "alice" : "bob", owner: "x@h" });
      await s.store.createJob(job);
      made.push(job.id);
    }
    const first = await s.api("GET", "/v1/jobs", { as: "bob" });
    expect(first.status).toBe(200);
    expect(first.body.jobs.map((x: { id: string }) => x.id)).toEqual(made.slice(0, QSTAT_PAGE));
    expect(first.body.next).toBe(QSTAT_PAGE);
    // the full record: what qstat -f prints of each job
    expect(first.body.jobs[0].attributes).toMatchObject({ job_state: "Q", Job_Name: "j1" });
    const rest = await s.api("GET", "/v1/jobs", { as: "bob", query: { after: String(first.body.next) } });
    expect(rest.body).toEqual({ jobs: expect.any(Array), next: null });
    expect(rest.body.jobs.map((x: { id: string }) => x.id)).toEqual(made.slice(QSTAT_PAGE));
    const bobs = await s.api("GET", "/v1/jobs", { as: "bob", query: { user: "bob", after: "500" } });
    expect(bobs.body.jobs.map((x: { id: string }) => x.id)).toEqual(
      made.slice(QSTAT_PAGE).filter((_, i) => (QSTAT_PAGE + i + 1) % 2 === 0),
    );
    for (const after of ["-1", "1e3", "x"]) {
      const bad = await s.api("GET", "/v1/jobs", { as: "bob", query: { after } });
      expect(bad.status, after).toBe(400);
      expect(bad.body.error.message).toContain("invalid after");
    }
  });

  it("takes the array ID qsub prints in every command; a subjob that has not started shows as its array", async () => {
    const id = await submit("alice", { hold: true, arrayRange: "1-4" });
    const seq = id.split("[")[0];
    const enc = encodeURIComponent;
    expect((await s.api("GET", `/v1/jobs/${enc(id)}`, { as: "alice" })).status).toBe(200);
    for (const [method, path, body] of [
      ["POST", `/v1/jobs/${enc(id)}/hold`, { holdType: "o" }],
      ["POST", `/v1/jobs/${enc(`${seq}[]`)}/release`, { holdType: "u" }],
      ["PATCH", `/v1/jobs/${enc(id)}`, { options: { name: "arr" } }],
      ["POST", `/v1/jobs/${enc(id)}/move`, { destination: "casper" }],
      ["DELETE", `/v1/jobs/${enc(`${seq}[2].casper`)}`, undefined],
    ] as const) {
      const r = await s.api(method, path, { as: "root", body });
      expect(r.status, `${method} ${path}: ${JSON.stringify(r.body)}`).toBe(200);
    }
    const parent = await s.job(id);
    expect(parent).toMatchObject({
      name: "arr",
      holds: "o",
      array: expect.objectContaining({ indices: [1, 3, 4] }),
    });
    const sub = await s.api("GET", `/v1/jobs/${enc(`${seq}[3].casper`)}`, { as: "alice" });
    expect(sub.body.job.attributes).toMatchObject({ job_state: "H" });
    // deleted before it started: X, shown with its array
    const deleted = await s.api("GET", `/v1/jobs/${enc(`${seq}[2].casper`)}`, { as: "alice" });
    expect(deleted.body.job.attributes).toMatchObject({ job_state: "X" });
    expect((await s.api("GET", `/v1/jobs/${enc(`${seq}[9].casper`)}`, { as: "alice" })).status).toBe(404);
    // PBS holds an array, never one of its subjobs (PBSE_IVALREQ)
    const hold = await s.api("POST", `/v1/jobs/${enc(`${seq}[3].casper`)}/hold`, { as: "alice", body: {} });
    expect(hold.status).toBe(409);
    expect(hold.body.error).toMatchObject({
      message: `Invalid request ${seq}[3].casper`,
      pbsError: "PBSE_IVALREQ",
    });
  });
});

describe("the dashboard's routes", () => {
  it("pages jobs newest first, shows dependencies both ways, and answers 501 for output where no reader is wired", async () => {
    const parent = await submit("alice", { hold: true });
    const child = await submit("alice", { depend: `afterok:${parent}` });
    const page = await s.api("GET", "/v1/jobs", { as: "bob", query: { limit: "1" } });
    expect(page.body.jobs.map((j: { id: string }) => j.id)).toEqual([child]);
    expect(page.body.next).not.toBeNull();
    const deps = await s.api("GET", `/v1/jobs/${parent}/deps`, { as: "bob" });
    expect(deps.body.dependents).toEqual([{ type: "afterok", jobId: child, site: "casper" }]);
    const up = await s.api("GET", `/v1/jobs/${child}/deps`, { as: "bob" });
    expect(up.body.dependsOn).toEqual([{ type: "afterok", jobId: parent, pending: true }]);
    const j = await startJob(s, "alice");
    expect((await s.api("GET", `/v1/jobs/${j.id}/output`, { as: "alice" })).status).toBe(501);
    expect((await s.api("GET", `/v1/jobs/${j.id}/output`, { as: "bob" })).status).toBe(403);
  });
});
