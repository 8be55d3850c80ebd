/**
 * The HTTP API as the PBS commands use it: JSON over HTTP/1.1 (http1.ts), one server per call. Errors come back
 * as MetaqueueError subclasses carrying the server's `error.message` (printed after `cmd: `).
 */
import type {
  ErrorBody,
  JobView,
  NodeView,
  QueueView,
  ServerView,
  SessionResponse,
  SubmitRequest,
  SubmitResponse,
  TraceEvent,
} from "../../shared/api/views.js";
import { defaultCredentialPath, readCredentialFile } from "../../shared/auth/credential-file.js";
import {
  InvalidStateError,
  type MetaqueueError,
  NotFoundError,
  PbsParseError,
  RejectedError,
  UnauthenticatedError,
  UnauthorizedError,
} from "../../shared/errors.js";
import type { AccountingReport } from "../../shared/accounting/allocations.js";
import { pbsErrorName, pbsExitStatus } from "../../shared/pbs/errno.js";
import type { QsubOptions } from "../../shared/pbs/types.js";
import { ClientError, cliEnv, type ServerEntry } from "./config.js";
import { http1Request } from "./http1.js";

export type HoldType = "u" | "o" | "s";

export interface JobQuery {
  /** include finished jobs (qstat -x) */
  history?: boolean;
  queue?: string;
  user?: string;
  /** the page after this job sequence number (a page's `next`) */
  after?: number;
}

/** One page of a job listing, oldest first; `next` is the cursor of the following page, if any. */
export interface JobListPage {
  jobs: JobView[];
  next?: number;
}

/** Everything the commands ask a server. `target` is the server to ask. */
export interface Api {
  getServer(target: ServerEntry): Promise<ServerView>;
  submit(target: ServerEntry, request: SubmitRequest): Promise<string>;
  /** qsub -I: the job ID and the session's one-time secret (for this caller alone) */
  submitInteractive(target: ServerEntry, request: SubmitRequest): Promise<SubmitResponse>;
  /** where a running interactive job's MOM listens for its submitter */
  jobSession(target: ServerEntry, id: string): Promise<SessionResponse>;
  /** One page of the server's jobs, oldest first (jobPages follows them). */
  listJobs(target: ServerEntry, query?: JobQuery): Promise<JobListPage>;
  getJob(target: ServerEntry, id: string, history?: boolean): Promise<JobView>;
  /** The subjobs an array (`12[]`), subjob (`12[3]`) or range (`12[1-5]`) ID names. */
  listSubjobs(target: ServerEntry, id: string): Promise<JobView[]>;
  /** qdel; `history`: -x (a finished job's record goes too); `force`: -W force */
  /** qdel; `nomail`: no abort mail for this one (-W suppress_email) */
  deleteJob(
    target: ServerEntry,
    id: string,
    opts?: { history?: boolean; force?: boolean; nomail?: boolean },
  ): Promise<void>;
  holdJob(target: ServerEntry, id: string, holdType?: HoldType): Promise<void>;
  releaseJob(target: ServerEntry, id: string, holdType?: HoldType): Promise<void>;
  rerunJob(target: ServerEntry, id: string): Promise<void>;
  moveJob(target: ServerEntry, id: string, destination: string): Promise<void>;
  /** qrun [-H host] */
  runJob(target: ServerEntry, id: string, host?: string): Promise<void>;
  /** qsig -s signal */
  signalJob(target: ServerEntry, id: string, signal: string): Promise<void>;
  /** qorder: swap two jobs' places */
  orderJobs(target: ServerEntry, id: string, other: string): Promise<void>;
  alterJob(target: ServerEntry, id: string, options: QsubOptions): Promise<void>;
  traceJob(target: ServerEntry, id: string): Promise<TraceEvent[]>;
  listQueues(target: ServerEntry): Promise<QueueView[]>;
  getQueue(target: ServerEntry, name: string): Promise<QueueView>;
  listNodes(target: ServerEntry): Promise<NodeView[]>;
  qmgr(target: ServerEntry, command: string): Promise<string>;
  accounting(target: ServerEntry, project?: string): Promise<AccountingReport>;
  peers(target: ServerEntry): Promise<PeersView>;
}

export interface PeersView {
  site: string;
  server: string;
  state: string;
  peers: { site: string; server: string; state: string; lastSeen?: number; pulls: string[] }[];
}

/**
 * Maps an error body to the shared error class with the PBS exit code: `pbsErrno & 0xff` when the
 * server names the PBS error (as OpenPBS's commands exit with pbs_errno), else its `exitCode`.
 */
export function errorFromBody(status: number, body: Partial<ErrorBody> | undefined): MetaqueueError {
  const code = body?.error?.code ?? `Http${status}`;
  const message = body?.error?.message ?? `server answered HTTP ${status}`;
  const raw = body?.error?.pbsErrno;
  const errno = typeof raw === "number" && Number.isInteger(raw) && raw > 0 ? raw : undefined;
  const pbs = errno === undefined ? undefined : pbsErrorName(errno);
  switch (code) {
    case "UnknownObject":
      if (errno === undefined || pbs) return new NotFoundError(message, pbs);
      break;
    case "InvalidState":
      if (errno === undefined || pbs) return new InvalidStateError(message, pbs);
      break;
    case "Unauthorized":
      return new UnauthorizedError(message);
    case "Unauthenticated":
      return new UnauthenticatedError(`${message} (the credential is ${credentialName(cliEnv())})`);
    case "BadValue":
      return new PbsParseError(message, body?.error?.exitCode ?? 2);
    default:
      if (errno === undefined && status === 404) return new NotFoundError(message);
      if (errno === undefined && status === 403) return new UnauthorizedError(message);
      break;
  }
  // a PBS error this client does not list yet still exits as PBS's commands would
  if (errno !== undefined) return new RejectedError(code, message, status, pbsExitStatus(errno));
  // the server says which PBS exit status its refusal carries (e.g. 166 for a bad value)
  return new RejectedError(code, message, status, body?.error?.exitCode ?? 1);
}

const enc = encodeURIComponent;

export interface HttpRequest {
  method: string;
  headers: Record<string, string>;
  body?: string;
}

export interface HttpResponse {
  status: number;
  text: string;
}

/** Sends one request; rejects only when no answer came (connection refused, reset, timeout). */
export type Transport = (url: string, req: HttpRequest) => Promise<HttpResponse>;

/** Fails a request that got no answer in this many milliseconds. */
export const REQUEST_TIMEOUT_MS = 120_000;

/**
 * The default transport: one HTTP/1.1 request over a plain socket (http1.ts). A CLI process
 * makes one or two requests: node:http's client costs about 6 ms more CPU than this in a fresh
 * process, and fetch (undici, loaded on first use) about 100 ms more. No keep-alive: the
 * process exits at once.
 */
export const nodeTransport: Transport = async (url, req) => {
  const res = await http1Request(url, req, { timeoutMs: REQUEST_TIMEOUT_MS });
  return { status: res.status, text: res.text };
};

/** A transport over fetch (for runtimes without node:http, or to compare). */
export function fetchTransport(fetchImpl: typeof fetch = fetch): Transport {
  return async (url, req) => {
    const res = await fetchImpl(url, {
      method: req.method,
      headers: req.headers,
      body: req.body,
      signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
    });
    return { status: res.status, text: await res.text() };
  };
}

/**
 * The token this user proves who they are with: `METAQUEUE_TOKEN` (a deployed site's JWT,
 * docs/deploy.md), else the local credential file (`METAQUEUE_CREDENTIAL` or
 * ~/.metaqueue/credential, mode 0600). Undefined when there is neither: the server answers 401.
 */
export function clientToken(env: Record<string, string | undefined> = process.env): string | undefined {
  const e = cliEnv(env);
  if (e.METAQUEUE_TOKEN) return e.METAQUEUE_TOKEN;
  try {
    return readCredentialFile(defaultCredentialPath(e));
  } catch (e) {
    throw new ClientError("BadCredential", (e as Error).message, 159);
  }
}

/** Where the token comes from, for an error message. */
function credentialName(e: ReturnType<typeof cliEnv>): string {
  return e.METAQUEUE_TOKEN ? "$METAQUEUE_TOKEN" : defaultCredentialPath(e);
}

export class HttpApi implements Api {
  private token: string | undefined | null = null;
  constructor(
    private readonly transport: Transport = nodeTransport,
    private readonly credential: () => string | undefined = () => clientToken(),
  ) {}

  private bearer(): string | undefined {
    if (this.token === null) this.token = this.credential();
    return this.token;
  }

  private async call<T>(target: ServerEntry, method: string, path: string, body?: unknown): Promise<T> {
    const url = target.url.replace(/\/+$/, "") + path;
    const headers: Record<string, string> = { accept: "application/json" };
    if (body !== undefined) headers["content-type"] = "application/json";
    const token = this.bearer();
    if (token) headers.authorization = `Bearer ${token}`;
    let res: HttpResponse;
    try {
      res = await this.transport(url, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    } catch {
      throw new ClientError("ConnectionRefused", `cannot connect to server ${target.name} (${target.url})`);
    }
    const ok = res.status >= 200 && res.status < 300;
    let parsed: unknown;
    if (res.text !== "") {
      try {
        parsed = JSON.parse(res.text);
      } catch {
        if (ok)
          throw new ClientError("BadResponse", `invalid response from server ${target.name} (${target.url})`);
      }
    }
    if (!ok) throw errorFromBody(res.status, parsed as Partial<ErrorBody> | undefined);
    return parsed as T;
  }

  async getServer(target: ServerEntry): Promise<ServerView> {
    return (await this.call<{ server: ServerView }>(target, "GET", "/v1/server")).server;
  }
  async submit(target: ServerEntry, request: SubmitRequest): Promise<string> {
    return (await this.call<{ jobId: string }>(target, "POST", "/v1/jobs", request)).jobId;
  }
  async submitInteractive(target: ServerEntry, request: SubmitRequest): Promise<SubmitResponse> {
    return this.call<SubmitResponse>(target, "POST", "/v1/jobs", request);
  }
  async jobSession(target: ServerEntry, id: string): Promise<SessionResponse> {
    return this.call<SessionResponse>(target, "GET", `/v1/jobs/${enc(id)}/session`);
  }
  async listJobs(target: ServerEntry, query: JobQuery = {}): Promise<JobListPage> {
    const qs = new URLSearchParams();
    if (query.history) qs.set("history", "1");
    if (query.queue) qs.set("queue", query.queue);
    if (query.user) qs.set("user", query.user);
    if (query.after !== undefined) qs.set("after", String(query.after));
    const q = qs.toString();
    const r = await this.call<{ jobs: JobView[]; next?: number | null }>(
      target,
      "GET",
      `/v1/jobs${q ? `?${q}` : ""}`,
    );
    return { jobs: r.jobs, next: typeof r.next === "number" ? r.next : undefined };
  }
  async getJob(target: ServerEntry, id: string, history = false): Promise<JobView> {
    const path = `/v1/jobs/${enc(id)}${history ? "?history=1" : ""}`;
    return (await this.call<{ job: JobView }>(target, "GET", path)).job;
  }
  async listSubjobs(target: ServerEntry, id: string): Promise<JobView[]> {
    return (await this.call<{ jobs: JobView[] }>(target, "GET", `/v1/jobs/${enc(id)}/subjobs`)).jobs;
  }
  async deleteJob(
    target: ServerEntry,
    id: string,
    opts: { history?: boolean; force?: boolean; nomail?: boolean } = {},
  ): Promise<void> {
    const qs = new URLSearchParams();
    if (opts.history) qs.set("purge", "1");
    if (opts.force) qs.set("force", "1");
    if (opts.nomail) qs.set("nomail", "1");
    const q = qs.toString();
    await this.call(target, "DELETE", `/v1/jobs/${enc(id)}${q ? `?${q}` : ""}`);
  }
  async holdJob(target: ServerEntry, id: string, holdType?: HoldType): Promise<void> {
    await this.call(target, "POST", `/v1/jobs/${enc(id)}/hold`, holdType ? { holdType } : {});
  }
  async releaseJob(target: ServerEntry, id: string, holdType?: HoldType): Promise<void> {
    await this.call(target, "POST", `/v1/jobs/${enc(id)}/release`, holdType ? { holdType } : {});
  }
  async rerunJob(target: ServerEntry, id: string): Promise<void> {
    await this.call(target, "POST", `/v1/jobs/${enc(id)}/rerun`, {});
  }
  async moveJob(target: ServerEntry, id: string, destination: string): Promise<void> {
    await this.call(target, "POST", `/v1/jobs/${enc(id)}/move`, { destination });
  }
  async runJob(target: ServerEntry, id: string, host?: string): Promise<void> {
    await this.call(target, "POST", `/v1/jobs/${enc(id)}/run`, host === undefined ? {} : { host });
  }
  async signalJob(target: ServerEntry, id: string, signal: string): Promise<void> {
    await this.call(target, "POST", `/v1/jobs/${enc(id)}/signal`, { signal });
  }
  async orderJobs(target: ServerEntry, id: string, other: string): Promise<void> {
    await this.call(target, "POST", `/v1/jobs/${enc(id)}/order`, { with: other });
  }
  async alterJob(target: ServerEntry, id: string, options: QsubOptions): Promise<void> {
    await this.call(target, "PATCH", `/v1/jobs/${enc(id)}`, { options });
  }
  async traceJob(target: ServerEntry, id: string): Promise<TraceEvent[]> {
    return (await this.call<{ events: TraceEvent[] }>(target, "GET", `/v1/jobs/${enc(id)}/trace`)).events;
  }
  async listQueues(target: ServerEntry): Promise<QueueView[]> {
    return (await this.call<{ queues: QueueView[] }>(target, "GET", "/v1/queues")).queues;
  }
  async getQueue(target: ServerEntry, name: string): Promise<QueueView> {
    return (await this.call<{ queue: QueueView }>(target, "GET", `/v1/queues/${enc(name)}`)).queue;
  }
  async listNodes(target: ServerEntry): Promise<NodeView[]> {
    return (await this.call<{ nodes: NodeView[] }>(target, "GET", "/v1/nodes")).nodes;
  }
  async accounting(target: ServerEntry, project?: string): Promise<AccountingReport> {
    const q = project ? `?project=${encodeURIComponent(project)}` : "";
    return this.call<AccountingReport>(target, "GET", `/v1/accounting${q}`);
  }
  async peers(target: ServerEntry): Promise<PeersView> {
    return this.call<PeersView>(target, "GET", "/v1/peers");
  }
  async qmgr(target: ServerEntry, command: string): Promise<string> {
    return (await this.call<{ output: string }>(target, "POST", "/v1/qmgr", { command })).output;
  }
}

/**
 * Every page of a job listing, as the server hands them out: a command prints each as it comes
 * instead of holding the whole queue. A cursor that does not move on ends the listing (a server
 * must never make a command loop).
 */
export async function* jobPages(
  api: Api,
  target: ServerEntry,
  query: JobQuery = {},
): AsyncGenerator<JobView[]> {
  let after: number | undefined;
  for (;;) {
    const page = await api.listJobs(target, after === undefined ? query : { ...query, after });
    yield page.jobs;
    if (page.next === undefined || (after !== undefined && page.next <= after)) return;
    after = page.next;
  }
}
