/**
 * The HTTP API: API Gateway HTTP API (payload v2) events in, JSON out. The local runtime feeds
 * it the same events from a node:http server. Routes parse and validate, call shared/server,
 * and map typed errors to 4xx JSON.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import type { z } from "zod";
import { MetaqueueError, NotFoundError, PbsParseError } from "../errors.js";
import { parseJobId } from "../pbs/jobid.js";
import { isThisSite, loadServerState, type SiteContext } from "../server/context.js";
import { isFinished, type JobRecord } from "../server/job.js";
import { alterJob, deleteJob, holdJob, moveJob, releaseJob, rerunJob, type Actor } from "../server/ops.js";
import { runQmgr } from "../server/qmgr.js";
import { submitJob } from "../server/submit.js";
import { jobView, nodeView, queueView, serverView } from "../server/views.js";
import { openApiDocument } from "./openapi.js";
import { publicWebRoute, webRoute, withCors } from "./web-routes.js";
import { AlterSchema, HoldSchema, MoveSchema, QmgrSchema, SubmitRequestSchema } from "./schemas.js";
import type { ErrorBody } from "./views.js";

type Result = APIGatewayProxyStructuredResultV2;

const json = (status: number, body: unknown): Result => ({
  statusCode: status,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

export function errorResult(err: unknown): Result {
  if (err instanceof MetaqueueError) {
    return json(err.status, { error: { code: err.code, message: err.message } } satisfies ErrorBody);
  }
  return json(500, { error: { code: "Internal", message: "internal server error" } } satisfies ErrorBody);
}

function parseBody<T extends z.ZodTypeAny>(schema: T, event: APIGatewayProxyEventV2): z.infer<T> {
  let raw: unknown = {};
  if (event.body) {
    const text = event.isBase64Encoded ? Buffer.from(event.body, "base64").toString("utf8") : event.body;
    try {
      raw = JSON.parse(text);
    } catch {
      throw new PbsParseError("request body is not valid JSON");
    }
  }
  const r = schema.safeParse(raw);
  if (!r.success) {
    const first = r.error.issues[0];
    throw new PbsParseError(`invalid request: ${first.path.join(".") || "body"}: ${first.message}`);
  }
  return r.data;
}

/** Who is asking. Locally a header the CLI sets; on AWS the authorizer's claims (see docs). */
export function identify(event: APIGatewayProxyEventV2, trustHeader: boolean): string {
  const claims = (event.requestContext as { authorizer?: { jwt?: { claims?: Record<string, unknown> } } })
    .authorizer?.jwt?.claims;
  const fromClaims = claims?.["pbs_user"] ?? claims?.["username"] ?? claims?.["cognito:username"];
  const fromHeader = trustHeader ? event.headers?.["x-metaqueue-user"] : undefined;
  const user = String(fromClaims ?? fromHeader ?? "");
  if (!/^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/.test(user)) {
    throw new MetaqueueError("Unauthenticated", "Unauthorized Request: no user identity", 401);
  }
  return user;
}

async function actorFor(ctx: SiteContext, user: string): Promise<Actor & { manager: boolean }> {
  const st = await loadServerState(ctx);
  const list = (a: unknown) =>
    String(a ?? "")
      .split(",")
      .map((s) => s.trim().replace(/@.*$/, ""))
      .filter(Boolean);
  const manager = list(st.server.attrs.managers).includes(user);
  const operator = list(st.server.attrs.operators).includes(user);
  return { user, privileged: manager || operator, manager };
}

function localJobKey(ctx: SiteContext, id: string): string {
  const ref = parseJobId(id);
  if (!isThisSite(ctx, ref.server)) throw new NotFoundError(`Unknown Job Id ${id}`);
  return ref.arrayIndex !== undefined
    ? ref.arrayIndex === ""
      ? ref.seq
      : `${ref.seq}[${ref.arrayIndex}]`
    : ref.seq;
}

async function findJob(ctx: SiteContext, id: string): Promise<JobRecord> {
  const job = await ctx.store.getJob(localJobKey(ctx, id), false);
  if (!job) throw new NotFoundError(`Unknown Job Id ${id}`);
  return job;
}

/** Full job ID for a user-given one (bare seq -> seq.short). */
function fullId(ctx: SiteContext, id: string): string {
  return `${localJobKey(ctx, id)}${parseJobId(id).arrayIndex === "" ? "[]" : ""}.${ctx.site.short}`;
}

export async function handleApi(ctx: SiteContext, event: APIGatewayProxyEventV2): Promise<Result> {
  try {
    return withCors(ctx, event, publicWebRoute(ctx, event) ?? (await route(ctx, event)));
  } catch (err) {
    if (!(err instanceof MetaqueueError)) ctx.log.error(err);
    return withCors(ctx, event, errorResult(err));
  }
}

async function route(ctx: SiteContext, event: APIGatewayProxyEventV2): Promise<Result> {
  const method = event.requestContext.http.method.toUpperCase();
  const path = event.rawPath.replace(/\/+$/, "") || "/";
  const q = event.queryStringParameters ?? {};
  if (method === "GET" && path === "/openapi.json") return json(200, openApiDocument());
  if (method === "GET" && path === "/health") return json(200, { ok: true, server: ctx.site.server });
  const user = identify(event, ctx.settings.trustUserHeader);
  const web = await webRoute(ctx, event, user, () => actorFor(ctx, user));
  if (web) return web;

  if (path === "/v1/server" && method === "GET") {
    const st = await loadServerState(ctx);
    const active = (await Promise.all([...st.queues.keys()].map((n) => ctx.store.listJobs(n, false)))).flat();
    return json(200, { server: serverView(ctx.site, st.server, active) });
  }
  if (path === "/v1/jobs" && method === "POST") {
    const req = parseBody(SubmitRequestSchema, event);
    return json(201, await submitJob(ctx, req, { user }));
  }
  if (path === "/v1/jobs" && method === "GET") {
    const st = await loadServerState(ctx);
    const history = q.history === "1" || q.history === "true";
    const queues = q.queue ? [q.queue] : [...st.queues.keys()];
    const lists = await Promise.all(
      queues.flatMap((n) => [
        ctx.store.listJobs(n, false),
        ...(history ? [ctx.store.listJobs(n, true)] : []),
      ]),
    );
    let jobs = lists.flat().sort((a, b) => a.seq - b.seq);
    if (q.user) jobs = jobs.filter((j) => j.user === q.user);
    return json(200, { jobs: jobs.map((j) => jobView(j, ctx.site)) });
  }
  if (path === "/v1/queues" && method === "GET") {
    const st = await loadServerState(ctx);
    const out = await Promise.all(
      [...st.queues.values()].map(async (qu) => queueView(qu, await ctx.store.listJobs(qu.name, false))),
    );
    return json(200, { queues: out });
  }
  let m = /^\/v1\/queues\/([^/]+)$/.exec(path);
  if (m && method === "GET") {
    const st = await loadServerState(ctx);
    const qu = st.queues.get(decodeURIComponent(m[1]));
    if (!qu) throw new NotFoundError(`Unknown queue ${decodeURIComponent(m[1])}`);
    return json(200, { queue: queueView(qu, await ctx.store.listJobs(qu.name, false)) });
  }
  if (path === "/v1/nodes" && method === "GET") {
    const st = await loadServerState(ctx);
    const parts = new Set([...st.nodes.values()].map((n) => String(n.attrs.partition || "default")));
    const running = (await Promise.all([...parts].map((p) => ctx.store.queryRunning(p)))).flat();
    return json(200, { nodes: [...st.nodes.values()].map((n) => nodeView(n, running)) });
  }
  if (path === "/v1/qmgr" && method === "POST") {
    const { command } = parseBody(QmgrSchema, event);
    const actor = await actorFor(ctx, user);
    return json(200, { output: await runQmgr(ctx, command, { user, manager: actor.manager }) });
  }
  m = /^\/v1\/jobs\/([^/]+)(?:\/(hold|release|rerun|move|trace))?$/.exec(path);
  if (m) {
    const id = decodeURIComponent(m[1]);
    const action = m[2];
    if (!action && method === "GET") {
      const job = await findJob(ctx, id);
      const history = q.history === "1" || q.history === "true";
      if (isFinished(job.state) && !history) {
        throw new MetaqueueError(
          "JobFinished",
          `${job.id} Job has finished, use -x or -H to obtain historical job information`,
          404,
          35,
        );
      }
      return json(200, { job: jobView(job, ctx.site) });
    }
    if (action === "trace" && method === "GET") {
      const job = await findJob(ctx, id);
      return json(200, { events: job.hist });
    }
    const actor = await actorFor(ctx, user);
    const jid = fullId(ctx, id);
    if (!action && method === "DELETE") return json(200, await deleteJob(ctx, jid, actor));
    if (!action && method === "PATCH") {
      const { options } = parseBody(AlterSchema, event);
      await alterJob(ctx, jid, actor, options);
      return json(200, { jobId: jid });
    }
    if (method === "POST" && action === "hold") {
      await holdJob(ctx, jid, actor, parseBody(HoldSchema, event).holdType);
      return json(200, { jobId: jid });
    }
    if (method === "POST" && action === "release") {
      await releaseJob(ctx, jid, actor, parseBody(HoldSchema, event).holdType);
      return json(200, { jobId: jid });
    }
    if (method === "POST" && action === "rerun") {
      await rerunJob(ctx, jid, actor);
      return json(200, { jobId: jid });
    }
    if (method === "POST" && action === "move") {
      await moveJob(ctx, jid, actor, parseBody(MoveSchema, event).destination);
      return json(200, { jobId: jid });
    }
  }
  return json(404, { error: { code: "NoRoute", message: `no route ${method} ${path}` } } satisfies ErrorBody);
}
