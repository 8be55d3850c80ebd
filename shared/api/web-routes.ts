/**
 * The dashboard's routes, served by the same handler as the API (locally and on AWS):
 *   GET /, /ui           redirect to /ui/
 *   GET /ui/*            the built page (web/, embedded at build time: no file system needed)
 *   OPTIONS *            CORS preflight for the other sites' dashboards
 *   GET /v1/whoami       who the API thinks you are, and whether you may act on any job
 *   GET /v1/federation   this site and its peers: names, API URLs, health
 *   GET /v1/overview     queues, nodes, last cycles (overview.ts)
 *   GET /v1/stats        per-minute job counts for the charts
 *   GET /v1/jobs?limit=  one page of jobs, filtered on the server (adapters/dynamodb/job-indexes.ts)
 *   GET /v1/jobs/:id/deps    dependencies both ways
 *   GET /v1/jobs/:id/output  the tail of the job's stdout or stderr
 *
 * The page reads every site's API directly from the browser (CORS, below), so each site answers
 * for its own jobs and applies its own rules, as it does for the CLI.
 */
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";
import { MetaqueueError, NotFoundError, PbsParseError, UnauthorizedError } from "../errors.js";
import { parseJobId } from "../pbs/jobid.js";
import type { JobState } from "../pbs/types.js";
import { isThisSite, type SiteContext } from "../server/context.js";
import { loadServerState } from "../server/server-state.js";
import { isFinished, type JobRecord } from "../server/job.js";
import type { Actor } from "../server/ops.js";
import { jobView } from "./render.js";
import type {
  FederationResponse,
  JobDeps,
  JobPageResponse,
  OutputTail,
  StatsResponse,
  Whoami,
} from "./views.js";
import { buildOverview, federation, statsSince } from "./overview.js";
import { WEB_ASSETS } from "./web-assets.gen.js";

type Result = APIGatewayProxyStructuredResultV2;

const json = (status: number, body: unknown): Result => ({
  statusCode: status,
  headers: { "content-type": "application/json", "cache-control": "no-store" },
  body: JSON.stringify(body),
});

const JOB_STATES = new Set(["Q", "H", "W", "T", "R", "E", "F", "M", "B", "X"]);
export const PAGE_MAX = 500;
const TAIL_DEFAULT = 64 * 1024;
const TAIL_MAX = 1024 * 1024;

/** Origins allowed to call this API from a browser: the peers' dashboards. */
function allowedOrigins(ctx: SiteContext): Set<string> {
  const out = new Set<string>();
  for (const p of ctx.peers?.values() ?? []) {
    if (!p.apiUrl) continue;
    try {
      out.add(new URL(p.apiUrl).origin);
    } catch {
      // a malformed URL allows nothing
    }
  }
  return out;
}

function header(event: APIGatewayProxyEventV2, name: string): string | undefined {
  const h = event.headers ?? {};
  return h[name] ?? Object.entries(h).find(([k]) => k.toLowerCase() === name)?.[1];
}

/** CORS headers for a request from a peer's dashboard (none for any other origin). */
export function withCors(ctx: SiteContext, event: APIGatewayProxyEventV2, res: Result): Result {
  const origin = header(event, "origin");
  if (!origin || !allowedOrigins(ctx).has(origin)) return res;
  return {
    ...res,
    headers: {
      ...(res.headers ?? {}),
      "access-control-allow-origin": origin,
      "access-control-allow-methods": "GET, POST, PATCH, DELETE, OPTIONS",
      "access-control-allow-headers": "authorization, content-type, x-metaqueue-user",
      "access-control-max-age": "600",
      vary: "Origin",
    },
  };
}

/** Routes that need no identity: the page itself and CORS preflights. */
export function publicWebRoute(ctx: SiteContext, event: APIGatewayProxyEventV2): Result | undefined {
  const method = event.requestContext.http.method.toUpperCase();
  const path = event.rawPath;
  if (method === "OPTIONS") return withCors(ctx, event, { statusCode: 204, body: "" });
  if (method !== "GET" && method !== "HEAD") return undefined;
  if (path === "/" || path === "/ui") return { statusCode: 302, headers: { location: "/ui/" }, body: "" };
  if (!path.startsWith("/ui/")) return undefined;
  const name = path.slice(4) || "index.html";
  const asset = WEB_ASSETS[name];
  if (!asset) return json(404, { error: { code: "NoRoute", message: `no dashboard file ${name}` } });
  const connect = ["'self'", ...allowedOrigins(ctx)].join(" ");
  return {
    statusCode: 200,
    headers: {
      "content-type": asset.type,
      "cache-control": "no-cache",
      "x-content-type-options": "nosniff",
      "content-security-policy": `default-src 'self'; connect-src ${connect}; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'`,
    },
    body: method === "HEAD" ? "" : asset.body,
  };
}

function jobKey(ctx: SiteContext, id: string): string {
  const ref = parseJobId(id);
  if (!isThisSite(ctx, ref.server)) throw new NotFoundError(`Unknown Job Id ${id}`);
  return ref.arrayIndex ? `${ref.seq}[${ref.arrayIndex}]` : ref.seq;
}

async function getJob(ctx: SiteContext, id: string): Promise<JobRecord> {
  const job = await ctx.store.getJob(jobKey(ctx, id), false);
  if (!job) throw new NotFoundError(`Unknown Job Id ${id}`);
  return job;
}

function intParam(v: string | undefined, name: string, dflt: number, min: number, max: number): number {
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    throw new PbsParseError(`invalid ${name}: ${v} (an integer from ${min} to ${max})`);
  }
  return n;
}

/** Whether a GET /v1/jobs asks for the dashboard's paged listing (the CLI's form has none of these). */
function isPagedList(q: Record<string, string | undefined>): boolean {
  return [q.limit, q.before, q.state, q.project, q.id].some((v) => v !== undefined);
}

async function pagedJobs(ctx: SiteContext, q: Record<string, string | undefined>): Promise<Result> {
  const limit = intParam(q.limit, "limit", 50, 1, PAGE_MAX);
  const before = q.before ? intParam(q.before, "before", 0, 1, Number.MAX_SAFE_INTEGER) : undefined;
  const states = (q.state ?? "")
    .split(",")
    .map((s) => s.trim().toUpperCase())
    .filter(Boolean);
  for (const s of states) if (!JOB_STATES.has(s)) throw new PbsParseError(`invalid state: ${s}`);
  const history = q.history === undefined ? true : q.history === "1" || q.history === "true";
  if (q.id) {
    // search by job ID: one GetItem, whatever the other filters say
    let job: JobRecord | undefined;
    try {
      job = await ctx.store.getJob(jobKey(ctx, q.id), false);
    } catch (err) {
      if (!(err instanceof MetaqueueError)) throw err;
    }
    return json(200, { jobs: job ? [jobView(job, ctx.site)] : [] } satisfies JobPageResponse);
  }
  const st = await loadServerState(ctx);
  const queues = q.queue ? [q.queue].filter((n) => st.queues.has(n)) : [...st.queues.keys()];
  const page = await ctx.store.listJobPage({
    queues,
    history,
    limit,
    before,
    user: q.user || undefined,
    project: q.project || undefined,
    states: states as JobState[],
  });
  return json(200, {
    jobs: page.jobs.map((j) => jobView(j, ctx.site)),
    next: page.next ?? null,
  } satisfies JobPageResponse);
}

/**
 * The file behind a job's stream, as its MOM knows it: for a finished job, where the MOM wrote
 * it (its obituary); for a running one, the path the MOM was given (a joined stream names the
 * shared file). Never a path only asked for: a job that never ran (`qsub -h -o /etc/shadow`)
 * has no output to read.
 */
export function outputFile(
  job: Pick<JobRecord, "state" | "runCount" | "join" | "outPath" | "errPath" | "delivered">,
  stream: "o" | "e",
): { file: string } | { none: string } {
  if ((job.state === "R" || job.state === "E") && job.runCount > 0) {
    if (stream === "o") return { file: job.join === "eo" ? job.errPath : job.outPath };
    return { file: job.join === "oe" ? job.outPath : job.errPath };
  }
  if (isFinished(job.state) && job.delivered) {
    const file = job.delivered[stream];
    return file ? { file } : { none: "the stream was discarded" };
  }
  return { none: "no output yet" };
}

async function output(
  ctx: SiteContext,
  id: string,
  q: Record<string, string | undefined>,
  actor: () => Promise<Actor>,
): Promise<Result> {
  const job = await getJob(ctx, id);
  const who = await actor();
  if (!who.privileged && who.user !== job.user) throw new UnauthorizedError();
  // a site without a reader (a deployment without an output bucket) says so
  if (!ctx.output)
    throw new MetaqueueError(
      "NotImplemented",
      "job output is not readable through the API on this site",
      501,
    );
  const stream = q.stream === "e" ? "e" : "o";
  const max = intParam(q.bytes, "bytes", TAIL_DEFAULT, 1, TAIL_MAX);
  const from = q.from ? intParam(q.from, "from", 0, 0, Number.MAX_SAFE_INTEGER) : undefined;
  const where = outputFile(job, stream);
  if ("none" in where)
    throw new NotFoundError(
      `job ${job.id} has no ${stream === "e" ? "error" : "output"} file: ${where.none}`,
    );
  const file = where.file;
  const joined = (stream === "o" && job.join === "eo") || (stream === "e" && job.join === "oe");
  // opened with the owner's rights, whoever asks (a manager gets only what the owner could read)
  const tail = await ctx.output.tail(job.user, file, from, max, job.id);
  if (tail.refused === "error")
    throw new MetaqueueError("OutputUnreadable", `cannot read ${file}: ${tail.message}`, 500);
  if (tail.refused)
    throw new MetaqueueError(
      "OutputRefused",
      `cannot read ${file} as ${job.user}: ${tail.message}`,
      403,
      159,
    );
  const body = tail.exists
    ? { size: tail.size, offset: tail.offset, text: tail.text, exists: true }
    : { size: 0, offset: 0, text: "", exists: false };
  const asOf = tail.exists ? (tail.partialAsOf ?? null) : null;
  return json(200, {
    jobId: job.id,
    stream,
    path: file,
    joined,
    running: job.state === "R" || job.state === "E",
    ...body,
    partial: asOf !== null,
    asOf,
  } satisfies OutputTail);
}

async function deps(ctx: SiteContext, id: string): Promise<Result> {
  const { job, edges } = await ctx.store.getJobWithEdges(jobKey(ctx, id));
  if (!job) throw new NotFoundError(`Unknown Job Id ${id}`);
  const dependsOn: JobDeps["dependsOn"] = [];
  for (const part of (job.depend ?? "").split(",").filter(Boolean)) {
    const [type, ...ids] = part.split(":");
    for (const jid of ids) dependsOn.push({ type, jobId: jid, pending: !!job.depPending?.includes(jid) });
  }
  const dependents = edges.map((e) => ({
    type: e.type,
    jobId: e.site && !e.childId.includes(".") ? `${e.childId}.${e.site}` : e.childId,
    site: e.site ?? ctx.site.short,
  }));
  return json(200, { jobId: job.id, depend: job.depend ?? null, dependsOn, dependents } satisfies JobDeps);
}

/** The dashboard's API routes (after identification); undefined = not one of them. */
export async function webRoute(
  ctx: SiteContext,
  event: APIGatewayProxyEventV2,
  user: string,
  actor: () => Promise<Actor>,
): Promise<Result | undefined> {
  const method = event.requestContext.http.method.toUpperCase();
  if (method !== "GET") return undefined;
  const path = event.rawPath.replace(/\/+$/, "");
  const q = event.queryStringParameters ?? {};
  if (path === "/v1/whoami")
    return json(200, { user, privileged: !!(await actor()).privileged } satisfies Whoami);
  if (path === "/v1/federation")
    return json(200, { self: ctx.site.short, sites: await federation(ctx) } satisfies FederationResponse);
  if (path === "/v1/overview") return json(200, await buildOverview(ctx));
  if (path === "/v1/stats") {
    const now = ctx.clock.now();
    const since = intParam(q.since, "since", now - 3_600_000, 0, now);
    return json(200, { site: ctx.site.short, samples: await statsSince(ctx, since) } satisfies StatsResponse);
  }
  if (path === "/v1/jobs" && isPagedList(q)) return pagedJobs(ctx, q);
  const m = /^\/v1\/jobs\/([^/]+)\/(deps|output)$/.exec(path);
  if (m) {
    const id = decodeURIComponent(m[1]);
    return m[2] === "deps" ? deps(ctx, id) : output(ctx, id, q, actor);
  }
  return undefined;
}
