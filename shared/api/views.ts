/**
 * What the HTTP API returns. Attribute maps use PBS attribute names and the value shapes of
 * OpenPBS `qstat -f -F json`, so the CLI prints them with no knowledge of the store.
 * Nested objects (Resource_List, resources_used, Variable_List) print as `Parent.child = v`
 * in `qstat -f`.
 */
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
export type { TraceEvent } from "../server/job.js";
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
}
