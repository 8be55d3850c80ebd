/**
 * What the HTTP API returns. Attribute maps use PBS attribute names and the value shapes of
 * OpenPBS `qstat -f -F json`, so the CLI prints them with no knowledge of the store.
 * Nested objects (Resource_List, resources_used, Variable_List) print as `Parent.child = v`
 * in `qstat -f`.
 */
import type { TraceEvent } from "../server/job.js";
import type { StatSample } from "../server/records.js";
import type { SiteSummary } from "./overview.js";
export type PbsValue = string | number | boolean | Record<string, string | number>;
export type PbsAttributes = Record<string, PbsValue>;

export interface JobView {
  /** full job ID, e.g. "123.casper" or "45[].casper" */
  id: string;
  attributes: PbsAttributes;
}

export interface QueueView {
  name: string;
  attributes: PbsAttributes;
}

export interface NodeView {
  name: string;
  attributes: PbsAttributes;
}

export interface ServerView {
  /** server name, e.g. "casper-pbs" */
  name: string;
  /** short name used in job IDs, e.g. "casper" */
  short: string;
  attributes: PbsAttributes;
}

// what the domain defines, the API shows as is
export type { TraceEvent };
export type { SubmitRequest } from "../pbs/types.js";

/** Error body of every 4xx/5xx answer. `message` is what the CLI prints after `cmd: `. */
export interface ErrorBody {
  /**
   * `exitCode`: the PBS exit status the command should end with; `pbsError`/`pbsErrno`: the PBS
   * error it is (`PBSE_UNKJOBID`, 15001) when PBS has one (the command exits `pbsErrno & 0xff`);
   * `requestId`: for a 500, the id the server logged it under
   */
  error: {
    code: string;
    message: string;
    exitCode?: number;
    pbsError?: string;
    pbsErrno?: number;
    requestId?: string;
  };
}

/**
 * The longest Submit_arguments kept. PBS keeps any command line; here it counts toward the job's
 * size limit (maxJobBytes) beside the script and variables, and a long command line is long
 * because of its -v values, which Variable_List already holds: a full copy would halve what a
 * job may carry. So qsub cuts the copy it sends at this length (real command lines are far
 * shorter).
 */
export const MAX_SUBMIT_ARGUMENTS = 4096;

export interface SubmitResponse {
  jobId: string;
  /** qsub -I: the session's one-time secret, for the submitter alone (shared/auth/session-key.ts) */
  sessionKey?: string;
}

/** GET /v1/jobs/:id/session: where qsub -I attaches (its owner only, once the job runs) */
export interface SessionResponse {
  jobId: string;
  runCount: number;
  /** `unix:<path>` of the socket the job's MOM listens on for this run */
  address: string;
}

// The dashboard's endpoints (shared/api/web-routes.ts answers them; web/src imports these types,
// type-only, so the browser bundle gets none of the server's code).

/** GET /v1/jobs: the dashboard's pages (newest first) and qstat's (oldest first) */
export interface JobPageResponse {
  jobs: JobView[];
  /** pass as `before` (the dashboard's form) or `after` (qstat's) for the next page; null on the last page */
  next?: number | null;
}

/** GET /v1/jobs/:id */
export interface JobResponse {
  job: JobView;
}

/** GET /v1/jobs/:id/trace */
export interface TraceResponse {
  events: TraceEvent[];
}

/** GET /v1/jobs/:id/deps: dependencies both ways */
export interface JobDeps {
  jobId: string;
  /** the job's -W depend= value */
  depend: string | null;
  /** its parents; pending: not yet decided */
  dependsOn: { type: string; jobId: string; pending: boolean }[];
  /** the jobs that wait on it, and the site each waits at */
  dependents: { type: string; jobId: string; site: string }[];
}

/** GET /v1/jobs/:id/output: the tail of a stream, from `offset` (follow with `from=offset+size`) */
export interface OutputTail {
  jobId: string;
  stream: "o" | "e";
  path: string;
  /** the stream is the other one's file (qsub -j) */
  joined: boolean;
  running: boolean;
  size: number;
  offset: number;
  text: string;
  exists: boolean;
  /**
   * true: `text` is from a snapshot of the output taken at `asOf` while the job ran (on AWS, the
   * MOM's periodic upload), not the file as it is now; false: the file itself (locally, or the
   * whole output once the job has ended)
   */
  partial: boolean;
  /** epoch ms of the snapshot when partial, else null */
  asOf: number | null;
}

/** GET /v1/whoami */
export interface Whoami {
  user: string;
  privileged: boolean;
}

/** GET /v1/federation */
export interface FederationResponse {
  self: string;
  sites: SiteSummary[];
}

/** GET /v1/stats */
export interface StatsResponse {
  site: string;
  samples: StatSample[];
}

export type { Overview, SiteSummary, Usage } from "./overview.js";
export type { StatSample } from "../server/records.js";
export type { AccountingReport, AllocationRow } from "../accounting/allocations.js";
