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

export interface TraceEvent {
  /** epoch milliseconds */
  time: number;
  /** S = server, L = scheduler, M = MOM, A = accounting (tracejob's letters) */
  source: "S" | "L" | "M" | "A";
  message: string;
}

/** Error body of every 4xx/5xx answer. `message` is what the CLI prints after `cmd: `. */
export interface ErrorBody {
  /** `exitCode`: the PBS exit status the command should end with; `requestId`: for a 500, the id the server logged it under */
  error: { code: string; message: string; exitCode?: number; requestId?: string };
}

export interface SubmitRequest {
  /** the script text (may be empty when everything is on the command line is not allowed: PBS needs a script) */
  script: string;
  /** options from the command line (override #PBS directives in the script) */
  options: import("../pbs/types.js").QsubOptions;
  /** PBS_O_WORKDIR: absolute path of the submit directory */
  submitDir: string;
  /** PBS_O_* values and, with -V, the whole environment; -v names without values are resolved from it */
  env: Record<string, string>;
  /** name of the submit host (PBS_O_HOST) */
  submitHost: string;
  /** script file name, for the default job name; absent when read from stdin (name = STDIN) */
  scriptName?: string;
}

export interface SubmitResponse {
  jobId: string;
}
