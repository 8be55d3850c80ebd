/**
 * The HTTP API: API Gateway HTTP API (payload v2) events in, JSON out. The local runtime feeds
 * it the same events from a node:http server. Routes parse and validate, call shared/server,
 * and map typed errors to 4xx JSON.
 */
import { ensureAwake } from "../server/dormancy.js";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { randomUUID } from "node:crypto";
import type { z } from "zod";
import {
  InvalidStateError,
  MetaqueueError,
  NotFoundError,
  PbsParseError,
  StoreError,
  UnauthorizedError,
} from "../errors.js";
import { PBS_ERRORS } from "../pbs/errno.js";
import { parseJobId } from "../pbs/jobid.js";
import { findPeer, isThisSite, type SiteContext } from "../server/context.js";
import { loadServerState } from "../server/server-state.js";
import { isFinished, type JobRecord, listedFinished } from "../server/job.js";
import { keyOfId } from "../server/mutate.js";
import { moveJob } from "../server/move.js";
import { type Actor, alterJob, holdJob, releaseJob, rerunJob } from "../server/ops.js";
import { deleteJobWith } from "../server/qdel-options.js";
import { actorFor, audit, levelOf } from "../server/privilege.js";
import { runQmgr } from "../server/qmgr.js";
import { submitJob } from "../server/submit.js";
import { arraySubjobs, indexFilter, subjobRef, unrecordedSubjob } from "../server/subjobs.js";
import { type ActiveJobs, activeJobsCapped, mergeActive } from "./counts.js";
import { jobView, nodeView, queueView, serverView } from "./render.js";
import { openApiDocument } from "./openapi.js";
import { reportState } from "../peers/receiver.js";
import { type Identity, refuseAll } from "./identity.js";
import {
  AlterSchema,
  EmptySchema,
  HoldSchema,
  MoveSchema,
  QmgrSchema,
  QuerySchema,
  SubmitRequestSchema,
} from "./schemas.js";
import type {
  ErrorBody,
  JobPageResponse,
  JobResponse,
  SessionResponse,
  TraceEvent,
  TraceResponse,
} from "./views.js";
import { publicWebRoute, webRoute, withCors } from "./web-routes.js";

type Result = APIGatewayProxyStructuredResultV2;
import { federationRoute } from "./federation-routes.js";
import { commandRoute } from "./command-routes.js";

const json = (status: number, body: unknown): Result => ({
  statusCode: status,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

/**
 * A typed error becomes its status and PBS message (and exit code); anything else is a 500
 * that names the request it was logged under, never the error's text or stack.
 */
export function errorResult(err: unknown, requestId: string = randomUUID()): Result {
  if (err instanceof MetaqueueError) {
    // the PBS error's name and number travel too, so any client can exit as PBS's commands do
    const pbs =
      err.pbs === undefined ? {} : { pbsError: `PBSE_${err.pbs}`, pbsErrno: PBS_ERRORS[err.pbs].errno };
    return json(err.status, {
      error: { code: err.code, message: err.message, exitCode: err.exitCode, ...pbs },
    } satisfies ErrorBody);
  }
  return json(500, {
    error: { code: "Internal", message: `internal server error (request ${requestId})`, requestId },
  } satisfies ErrorBody);
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

/** Query parameters pass a schema too: known names, bounded values. */
function parseQuery(event: APIGatewayProxyEventV2): z.infer<typeof QuerySchema> {
  const r = QuerySchema.safeParse(event.queryStringParameters ?? {});
  if (!r.success) {
    const first = r.error.issues[0];
    throw new PbsParseError(`invalid request: query ${first.path.join(".") || ""}: ${first.message}`);
  }
  return r.data;
}

/** Path segments are percent-decoded; a malformed escape is the client's error, not a 500. */
function decodeSegment(seg: string): string {
  try {
    return decodeURIComponent(seg);
  } catch {
    throw new PbsParseError("invalid request: malformed path");
  }
}

/** Who is asking, or 401. Failures are logged and counted, not written to the table (see README). */
async function authenticate(ctx: SiteContext, event: APIGatewayProxyEventV2): Promise<Identity> {
  try {
    return await (ctx.authenticate ?? refuseAll)(event);
  } catch (err) {
    ctx.metrics?.count("RequestsUnauthenticated", 1);
    ctx.log.warn(
      `audit: refused unauthenticated ${event.requestContext.http.method} ${event.rawPath.slice(0, 200)} from ${event.requestContext.http.sourceIp}: ${(err as Error).message}`,
    );
    throw err;
  }
}

const JOB_ACTIONS: Record<string, string> = {
  DELETE: "qdel",
  PATCH: "qalter",
  hold: "qhold",
  release: "qrls",
  rerun: "qrerun",
  move: "qmove",
};

/**
 * Runs a job operation and writes the audit trail: a refusal (with the job's trace when the
 * job exists), or a manager's or operator's action on someone else's job.
 *
 * `ownerOf`: the owner of the job's record as the operation itself read it, when it says (a
 * job's user never changes), so a privileged action costs no read of its own; undefined: read.
 */
async function guardedJobOp<T>(
  ctx: SiteContext,
  actor: Actor,
  action: string,
  jid: string,
  key: string,
  op: () => Promise<T>,
  alwaysPrivileged = false,
  ownerOf?: (out: T) => string | undefined,
): Promise<T> {
  try {
    const out = await op();
    if (actor.privileged) {
      const owner = ownerOf?.(out) ?? (await ctx.store.getJob(key, false))?.user;
      if (owner !== undefined && (alwaysPrivileged || owner !== actor.user))
        await audit(ctx, {
          user: actor.user,
          action,
          target: jid,
          outcome: "allowed",
          reason: `${levelOf(actor)} privilege${owner !== actor.user ? ` on a job of ${owner}` : ""}`,
          jobKey: key,
        });
    }
    return out;
  } catch (err) {
    // the store names a missing job by its key; PBS's commands name it as the user gave it,
    // completed with the server (`qdel: Unknown Job Id 12.casper`)
    if (err instanceof NotFoundError && err.pbs === "UNKJOBID" && err.message === `Unknown Job Id ${key}`)
      throw new NotFoundError(`Unknown Job Id ${jid}`);
    if (err instanceof UnauthorizedError) {
      const job = await ctx.store.getJob(key, false).catch(() => undefined);
      await audit(ctx, {
        user: actor.user,
        action,
        target: jid,
        outcome: "refused",
        reason: err.message,
        ...(job ? { jobKey: key } : {}),
      });
    }
    throw err;
  }
}

/**
 * The ID a user gave, as stored here: this site's jobs as `seq.short`; a job received from a
 * peer keeps its origin's ID (`103.casper`, named by the peer's short or server name).
 */
function canonicalId(ctx: SiteContext, id: string): string {
  const ref = parseJobId(id);
  const idx = ref.arrayIndex === undefined ? "" : `[${ref.arrayIndex}]`;
  const short = isThisSite(ctx, ref.server) ? ctx.site.short : findPeer(ctx, ref.server)?.short;
  if (!short) throw new NotFoundError(`Unknown Job Id ${id}`);
  return `${ref.seq}${idx}.${short}`;
}

function localJobKey(ctx: SiteContext, id: string): string {
  return keyOfId(canonicalId(ctx, id), ctx.site.short);
}

/**
 * GET /v1/jobs/{id}/session: where qsub -I attaches to its running job. Its owner only (nobody
 * else holds the session's secret either); 409 until the job runs, as PBS's qsub waits for R.
 */
function interactiveSession(ctx: SiteContext, job: JobRecord, user: string): SessionResponse {
  if (job.user !== user) throw new UnauthorizedError(`Unauthorized Request: ${job.id} is not your job`);
  if (!job.interactive) throw new InvalidStateError(`job ${job.id} is not an interactive job`);
  if (job.state !== "R" || !job.momId)
    throw new InvalidStateError(`Request invalid for state of job ${job.id} (${job.state})`);
  const run = { jobId: job.id, momId: job.momId, runCount: job.runCount };
  const address = ctx.executor.sessionAddress?.(run);
  if (!address)
    throw new InvalidStateError(`interactive jobs (-I) are not available at this site (job ${job.id})`);
  return { jobId: job.id, runCount: job.runCount, address };
}

async function findJob(ctx: SiteContext, id: string): Promise<JobRecord> {
  if (id.length > 256) throw new PbsParseError("invalid request: job ID too long");
  const key = localJobKey(ctx, id);
  const job = (await ctx.store.getJob(key, false)) ?? (await unrecordedSubjob(ctx, key));
  if (!job) throw new NotFoundError(`Unknown Job Id ${id}`);
  return job;
}

/**
 * qstat -t and subjob ranges: the subjobs an ID names (`12[]` all of them, `12[3]` one,
 * `12[1-5]` a range), started or not, and those deleted before they started (X).
 */
async function findSubjobs(ctx: SiteContext, id: string): Promise<JobRecord[]> {
  if (id.length > 256) throw new PbsParseError("invalid request: job ID too long");
  const key = localJobKey(ctx, id);
  const ref = subjobRef(key);
  const parent = await ctx.store.getJob(ref?.parentKey ?? key, false);
  if (!parent) throw new NotFoundError(`Unknown Job Id ${id}`);
  const subs = await arraySubjobs(ctx, parent, ref ? indexFilter(ref.part) : undefined);
  if (ref && subs.length === 0) throw new NotFoundError(`Unknown Job Id ${id}`);
  return subs;
}

async function arrayListed(ctx: SiteContext, parentKey: string): Promise<boolean> {
  const parent = await ctx.store.getJob(parentKey, false);
  return !!parent && !isFinished(parent.state);
}

/** Full job ID for a user-given one (bare seq -> seq.short). */
function fullId(ctx: SiteContext, id: string): string {
  return canonicalId(ctx, id);
}

export async function handleApi(ctx: SiteContext, event: APIGatewayProxyEventV2): Promise<Result> {
  try {
    return withCors(ctx, event, publicWebRoute(ctx, event) ?? (await route(ctx, event)));
  } catch (err) {
    const requestId = event.requestContext?.requestId || randomUUID();
    if (err instanceof StoreError) ctx.log.warn(`request ${requestId}: ${err.message}`, err.cause);
    else if (!(err instanceof MetaqueueError)) ctx.log.error(`request ${requestId} failed`, err);
    return withCors(ctx, event, errorResult(err, requestId));
  }
}

/** Jobs per page of GET /v1/jobs (qstat's listing): a few MB of views at most. */
export const QSTAT_PAGE = 500;

async function route(ctx: SiteContext, event: APIGatewayProxyEventV2): Promise<Result> {
  const method = event.requestContext.http.method.toUpperCase();
  const path = event.rawPath.replace(/\/+$/, "") || "/";
  if (method === "GET" && path === "/openapi.json") return json(200, openApiDocument());
  if (method === "GET" && path === "/health") return json(200, { ok: true, server: ctx.site.server });
  const identity = await authenticate(ctx, event);
  // A request that may make work (qsub, qrls, qmgr, a deferred or held job's later release...)
  // resumes a sleeping site first (shared/server/dormancy.ts); reads never wake it, nor does
  // anyone the site does not know.
  if (method !== "GET" && method !== "HEAD") await ensureAwake(ctx);
  const user = identity.user;
  const q = parseQuery(event);
  const web = await webRoute(ctx, event, user, () => actorFor(ctx, identity));
  if (web) return web;
  const fed = await federationRoute(
    ctx,
    { method, path, query: q, body: (schema) => parseBody(schema, event) },
    () => actorFor(ctx, identity),
    json,
  );
  if (fed) return fed;

  if (path === "/v1/server" && method === "GET") {
    const st = await loadServerState(ctx);
    // counted up to JOB_COUNT_CAP a queue (counts.ts): the same reads at 1,000 queued as at 1,000,000
    const active = mergeActive((await activeJobsCapped(ctx, st.queues.keys())).values());
    return json(200, { server: serverView(ctx.site, st.server, active) });
  }
  if (path === "/v1/jobs" && method === "POST") {
    const req = parseBody(SubmitRequestSchema, event);
    try {
      return json(201, await submitJob(ctx, req, identity));
    } catch (err) {
      if (err instanceof UnauthorizedError)
        await audit(ctx, {
          user,
          action: "qsub",
          target: req.options.queue ?? "(default queue)",
          outcome: "refused",
          reason: err.message,
        });
      throw err;
    }
  }
  if (path === "/v1/jobs" && method === "GET") {
    // qstat's listing, oldest first, a page at a time (QSTAT_PAGE): the CLI follows `next` and
    // prints each page as it comes, so a request costs a page whatever is queued, and an answer
    // stays far below Lambda's 6 MB
    const st = await loadServerState(ctx);
    const history = q.history === "1" || q.history === "true";
    const after = q.after === undefined || q.after === "" ? undefined : Number(q.after);
    if (after !== undefined && !(/^\d+$/.test(String(q.after)) && Number.isSafeInteger(after)))
      throw new PbsParseError(`invalid after: ${q.after} (a job sequence number)`);
    const page = await ctx.store.listJobPage({
      queues: q.queue ? [q.queue] : [...st.queues.keys()],
      history,
      limit: QSTAT_PAGE,
      order: "oldest",
      after,
      user: q.user || undefined,
    });
    return json(200, {
      jobs: page.jobs.map((j) => jobView(j, ctx.site)),
      next: page.next ?? null,
    } satisfies JobPageResponse);
  }
  if (path === "/v1/queues" && method === "GET") {
    const st = await loadServerState(ctx);
    const active = await activeJobsCapped(ctx, st.queues.keys());
    const out = [...st.queues.values()].map((qu) => queueView(qu, active.get(qu.name) as ActiveJobs));
    return json(200, { queues: out });
  }
  let m = /^\/v1\/queues\/([^/]+)$/.exec(path);
  if (m && method === "GET") {
    const st = await loadServerState(ctx);
    const name = decodeSegment(m[1]);
    const qu = st.queues.get(name);
    if (!qu) throw new NotFoundError(`Unknown queue ${name.slice(0, 256)}`, "UNKQUE");
    const active = (await activeJobsCapped(ctx, [qu.name])).get(qu.name) as ActiveJobs;
    return json(200, { queue: queueView(qu, active) });
  }
  if (path === "/v1/nodes" && method === "GET") {
    const st = await loadServerState(ctx);
    const parts = new Set([...st.nodes.values()].map((n) => String(n.attrs.partition || "default")));
    const running = (await Promise.all([...parts].map((p) => ctx.store.queryRunning(p)))).flat();
    return json(200, { nodes: [...st.nodes.values()].map((n) => nodeView(n, running)) });
  }
  if (path === "/v1/qmgr" && method === "POST") {
    const { command } = parseBody(QmgrSchema, event);
    const actor = await actorFor(ctx, identity);
    const changes = !/^\s*(l|li|lis|list|p|pr|pri|prin|print)\b/i.test(command);
    try {
      const output = await runQmgr(ctx, command, {
        user,
        manager: actor.manager === true,
        operator: actor.operator === true,
      });
      if (changes)
        await audit(ctx, {
          user,
          action: "qmgr",
          target: command.slice(0, 512),
          outcome: "allowed",
          reason: `${levelOf(actor)} privilege`,
        });
      return json(200, { output });
    } catch (err) {
      if (err instanceof UnauthorizedError)
        await audit(ctx, {
          user,
          action: "qmgr",
          target: command.slice(0, 512),
          outcome: "refused",
          reason: err.message,
        });
      throw err;
    }
  }
  m = /^\/v1\/jobs\/([^/]+)(?:\/(hold|release|rerun|move|trace|subjobs|run|signal|order|session))?$/.exec(
    path,
  );
  if (m) {
    const id = decodeSegment(m[1]);
    const action = m[2];
    if (action === "subjobs" && method === "GET") {
      const jobs = await findSubjobs(ctx, id);
      return json(200, { jobs: jobs.map((j) => jobView(j, ctx.site)) });
    }
    if (!action && method === "GET") {
      const job = await findJob(ctx, id);
      const history = q.history === "1" || q.history === "true";
      // an X subjob is shown with its array while the array is listed (as PBS does)
      // (X, or ended at a peer: M with its end back)
      const shownWithArray =
        listedFinished(job) && !!job.parentKey && (await arrayListed(ctx, job.parentKey));
      if (listedFinished(job) && !history && !shownWithArray) {
        throw new MetaqueueError(
          "JobFinished",
          `${job.id} Job has finished, use -x or -H to obtain historical job information`,
          404,
          undefined,
          { pbs: "HISTJOBID" },
        );
      }
      return json(200, { job: jobView(job, ctx.site) } satisfies JobResponse);
    }
    if (action === "session" && method === "GET") {
      const job = await findJob(ctx, id);
      return json(200, interactiveSession(ctx, job, user));
    }
    if (action === "trace" && method === "GET") {
      const job = await findJob(ctx, id);
      // the job's own trace, with the audit lines about it (refusals, privileged actions)
      const lines = await ctx.store.jobAudit(job.key);
      const events: TraceEvent[] = [
        ...job.hist,
        ...lines.map((a) => ({
          time: a.time,
          source: "S" as const,
          message: `audit: ${a.action} ${a.outcome} for ${a.user}${a.reason ? ` (${a.reason})` : ""}`,
        })),
      ].sort((a, b) => a.time - b.time);
      return json(200, { events } satisfies TraceResponse);
    }
    const name = action ?? method;
    const jid = fullId(ctx, id);
    const key = keyOfId(jid, ctx.site.short);
    const actor = await actorFor(ctx, identity);
    const guarded = <T>(
      op: () => Promise<T>,
      alwaysPrivileged = false,
      ownerOf?: (out: T) => string | undefined,
    ) => guardedJobOp(ctx, actor, JOB_ACTIONS[name] ?? name, jid, key, op, alwaysPrivileged, ownerOf);
    const cmd = await commandRoute(
      ctx,
      {
        method,
        action,
        jid,
        actor,
        body: (schema) => parseBody(schema, event),
        fullId: (other) => fullId(ctx, other),
        guarded: (what, op, always, ownerOf) => guardedJobOp(ctx, actor, what, jid, key, op, always, ownerOf),
      },
      json,
    );
    if (cmd) return cmd;
    if (!action && method === "DELETE") {
      const opts = { history: q.purge === "1", force: q.force === "1", nomail: q.nomail === "1" };
      const out = await guarded(
        () => deleteJobWith(ctx, jid, actor, opts),
        false,
        (d) => d.owner,
      );
      return json(200, { jobId: out.jobId, movedTo: out.movedTo });
    }
    if (!action && method === "PATCH") {
      const { options } = parseBody(AlterSchema, event);
      await guarded(
        () => alterJob(ctx, jid, actor, options),
        false,
        (j) => j?.user,
      );
      return json(200, { jobId: jid });
    }
    if (method === "POST" && (action === "hold" || action === "release")) {
      const { holdType } = parseBody(HoldSchema, event);
      const op = action === "hold" ? holdJob : releaseJob;
      const after = await guarded(
        () => op(ctx, jid, actor, holdType),
        holdType === "o" || holdType === "s",
        (j) => j?.user,
      );
      // held or released here, a job moved here from a peer: its origin shows the live state
      if (after?.inbound) await reportState(ctx, after);
      return json(200, { jobId: jid });
    }
    if (method === "POST" && action === "rerun") {
      parseBody(EmptySchema, event);
      await guarded(
        () => rerunJob(ctx, jid, actor),
        true,
        (j) => j?.user,
      );
      return json(200, { jobId: jid });
    }
    if (method === "POST" && action === "move") {
      const { destination } = parseBody(MoveSchema, event);
      await guarded(() => moveJob(ctx, jid, actor, destination));
      return json(200, { jobId: jid });
    }
  }
  return json(404, { error: { code: "NoRoute", message: `no route ${method} ${path}` } } satisfies ErrorBody);
}
