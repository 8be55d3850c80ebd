/**
 * GET /v1/jobs/:id/output (shared/api/web-routes.ts): which file is read (only one the MOM was
 * given or delivered), as whom (always the job's owner, whoever asks), and what a refusal
 * answers. The OutputReader is a recording stub here; the real one has its own tests.
 */
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { describe, expect, it } from "vitest";
import { outputFile, webRoute } from "../../../shared/api/web-routes.js";
import { MetaqueueError } from "../../../shared/errors.js";
import type { OutputReader, OutputTail } from "../../../shared/ports/index.js";
import type { SiteContext } from "../../../shared/server/context.js";
import type { JobRecord } from "../../../shared/server/job.js";
import type { Actor } from "../../../shared/server/ops.js";

const base = {
  id: "7.casper",
  key: "7",
  user: "bob",
  join: "n",
  outPath: "/etc/shadow",
  errPath: "/root/.metaqueue/credential",
  runCount: 0,
  state: "H",
} as unknown as JobRecord;

function setup(job: JobRecord, answer: OutputTail = { exists: true, size: 2, offset: 0, text: "hi" }) {
  const calls: [string, string][] = [];
  const reader: OutputReader = {
    tail: async (owner, file) => {
      calls.push([owner, file]);
      return answer;
    },
  };
  const ctx = {
    site: { server: "casper-pbs", short: "casper" },
    store: { getJob: async () => job },
    output: reader,
  } as unknown as SiteContext;
  return { ctx, calls };
}

const ev = (stream: string) =>
  ({
    rawPath: "/v1/jobs/7.casper/output",
    queryStringParameters: { stream },
    headers: {},
    requestContext: { http: { method: "GET" } },
  }) as unknown as APIGatewayProxyEventV2;

async function get(ctx: SiteContext, stream: string, who: Actor = { user: "bob" }) {
  try {
    const r = await webRoute(ctx, ev(stream), who.user, async () => who);
    return { status: r?.statusCode, body: JSON.parse(String(r?.body)) };
  } catch (e) {
    if (e instanceof MetaqueueError) return { status: e.status, body: { error: e.message } };
    throw e;
  }
}

describe("output route", () => {
  it("a job that never ran has no output: 404, and no file is opened", async () => {
    const { ctx, calls } = setup(base);
    for (const s of ["o", "e"]) {
      const r = await get(ctx, s);
      expect(r.status).toBe(404);
      expect(r.body.error).toMatch(/no output yet/);
    }
    // nor a requeued job (ran before, queued now), nor a finished one with no obituary
    expect((await get(setup({ ...base, state: "Q", runCount: 1 }).ctx, "o")).status).toBe(404);
    expect((await get(setup({ ...base, state: "F", runCount: 1 }).ctx, "o")).status).toBe(404);
    expect(calls).toEqual([]);
  });

  it("a running job: the paths the MOM was given, read as the owner, also for a manager", async () => {
    const job = {
      ...base,
      state: "R",
      runCount: 1,
      outPath: "/home/bob/x.o7",
      errPath: "/home/bob/x.e7",
    } as JobRecord;
    const { ctx, calls } = setup(job);
    expect((await get(ctx, "o")).status).toBe(200);
    expect((await get(ctx, "e", { user: "root", privileged: true, manager: true })).status).toBe(200);
    expect(calls).toEqual([
      ["bob", "/home/bob/x.o7"],
      ["bob", "/home/bob/x.e7"],
    ]);
    // another user is refused before anything is opened
    expect((await get(ctx, "o", { user: "alice" })).status).toBe(403);
    expect(calls).toHaveLength(2);
  });

  it("a finished job: only where the MOM delivered (the undelivered/ copy), nothing for a discarded stream", async () => {
    const job = {
      ...base,
      state: "F",
      runCount: 1,
      delivered: { o: "/var/mq/mom/n1/undelivered/7.casper.1.shadow" },
    } as JobRecord;
    const { ctx, calls } = setup(job);
    const r = await get(ctx, "o");
    expect(r.status).toBe(200);
    expect(r.body.path).toBe("/var/mq/mom/n1/undelivered/7.casper.1.shadow");
    const e = await get(ctx, "e");
    expect(e.status).toBe(404);
    expect(e.body.error).toMatch(/discarded/);
    expect(calls).toEqual([["bob", "/var/mq/mom/n1/undelivered/7.casper.1.shadow"]]);
  });

  it("joined streams name the shared file", () => {
    const run = { ...base, state: "R", runCount: 1 } as JobRecord;
    expect(outputFile({ ...run, join: "oe" }, "e")).toEqual({ file: base.outPath });
    expect(outputFile({ ...run, join: "eo" }, "o")).toEqual({ file: base.errPath });
  });

  it("answers 403 for a refusal, 500 for a reader failure, exists: false for no file yet", async () => {
    const job = { ...base, state: "R", runCount: 1 } as JobRecord;
    const link = await get(
      setup(job, { exists: false, refused: "link", message: "a symbolic link" }).ctx,
      "o",
    );
    expect(link.status).toBe(403);
    expect(link.body.error).toBe("cannot read /etc/shadow as bob: a symbolic link");
    expect((await get(setup(job, { exists: false, refused: "error", message: "x" }).ctx, "o")).status).toBe(
      500,
    );
    const none = await get(setup(job, { exists: false }).ctx, "o");
    expect(none.status).toBe(200);
    expect(none.body).toMatchObject({ exists: false, text: "", size: 0 });
  });

  it("answers 501 where no reader is wired (AWS)", async () => {
    const { ctx } = setup({ ...base, state: "R", runCount: 1 } as JobRecord);
    const r = await get({ ...ctx, output: undefined }, "o");
    expect(r.status).toBe(501);
  });
});
