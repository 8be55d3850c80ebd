/**
 * The PBS vocabulary shared by the server, the scheduler, the MOM and the CLI.
 * Pure types only: no I/O lives here.
 */

/** PBS job states. T = in transit to a peer, M = moved (origin keeps the record), B = array begun, X = subjob finished. */
export type JobState = "Q" | "H" | "W" | "T" | "R" | "E" | "F" | "M" | "B" | "X";

/** One `select` chunk, already normalized: memory in bytes. */
export interface Chunk {
  count: number;
  ncpus: number;
  mem: number;
  ngpus: number;
  mpiprocs: number;
  /** Any other chunk-level resource (host=, vnode=, ...), kept as text. */
  other: Record<string, string>;
}

/** How chunks are laid out over hosts (PBS `place` arrangement). */
export type PlaceArrangement = "free" | "pack" | "scatter" | "vscatter";
/** Whether a job shares its nodes (PBS `place` sharing); absent = the node's `sharing` decides. */
export type PlaceSharing = "excl" | "exclhost" | "shared";

/** A parsed PBS `place` value. */
export interface Placement {
  arrangement: PlaceArrangement;
  sharing?: PlaceSharing;
}

/** A job's normalized resource request (PBS Resource_List). */
export interface ResourceRequest {
  select: Chunk[];
  /** seconds; undefined = none requested (queue default or unlimited applies) */
  walltime?: number;
  /** `place` as given (validated, see parsePlace); absent only when no default applies */
  place?: string;
  /** other job-wide resources as text (e.g. software=, cput=) */
  other: Record<string, string>;
}

export type DependType =
  | "after"
  | "afterok"
  | "afternotok"
  | "afterany"
  | "before"
  | "beforeok"
  | "beforenotok"
  | "beforeany"
  | "on";

export interface Dependency {
  type: DependType;
  /** job IDs as written by the user (bare seq or seq.server); empty for `on` */
  jobs: string[];
  /** only for `on:N` */
  count?: number;
}

export interface ArrayRange {
  start: number;
  end: number;
  step: number;
  /** `%max`: at most this many subjobs running at once */
  maxConcurrent?: number;
}

/**
 * The options of `qsub` (and of `#PBS` directives), structured. Parsing fills it; the server
 * validates and turns it into a job. Every field is optional: absent means "not given".
 */
export interface QsubOptions {
  /** -q: `queue`, `queue@server` or `@server` */
  queue?: string;
  /** -N */
  name?: string;
  /** -A */
  account?: string;
  /** -l, accumulated: resource name -> raw value as written (`select`, `ncpus`, `mem`, `walltime`, `place`, ...) */
  resources?: Record<string, string>;
  /** -j */
  join?: "oe" | "eo" | "n";
  /** -o */
  outputPath?: string;
  /** -e */
  errorPath?: string;
  /** -v NAME=value: variables to pass with their values */
  variables?: Record<string, string>;
  /**
   * -v NAME (no `=`): names whose values the submitting client takes from its own environment.
   * A name is never in both `variables` and `variablesFromEnv`.
   */
  variablesFromEnv?: string[];
  /** -V */
  exportEnv?: boolean;
  /** -W depend=... as written */
  depend?: string;
  /** other -W attributes as written (group_list, sandbox, ...) */
  attributes?: Record<string, string>;
  /** -h */
  hold?: boolean;
  /** -p, -1024..1023 */
  priority?: number;
  /** -r y|n */
  rerunnable?: boolean;
  /** -J as written */
  arrayRange?: string;
  /** -W block=true: qsub waits for the job to end and exits with its status (client side) */
  block?: boolean;
  /**
   * -I: an interactive job; qsub gives the submitter a shell on the node when it starts (the
   * script's commands, if any, are not run; its directives are read)
   */
  interactive?: boolean;
  /** -z: print no job ID (client side) */
  quiet?: boolean;
  /** -m */
  mailPoints?: string;
  /** -M */
  mailUsers?: string;
  /** -S */
  shell?: string;
  /** -a: do not run before this time, epoch seconds */
  executionTime?: number;
  /** -P project */
  project?: string;
}

/** A parsed job identifier. */
export interface JobIdRef {
  /** the sequence number as text, e.g. "123" */
  seq: string;
  /** server or short name after the dot, if any */
  server?: string;
  /** `123[]` -> "" (the array parent), `123[4]` -> "4"; undefined for a plain job */
  arrayIndex?: string;
}

/** A submission as qsub (or the dashboard) sends it: the script and what surrounds it. */
export interface SubmitRequest {
  /** the script text (may be empty when everything is on the command line is not allowed: PBS needs a script) */
  script: string;
  /** options from the command line (override #PBS directives in the script) */
  options: QsubOptions;
  /** PBS_O_WORKDIR: absolute path of the submit directory */
  submitDir: string;
  /** PBS_O_* values and, with -V, the whole environment; -v names without values are resolved from it */
  env: Record<string, string>;
  /** name of the submit host (PBS_O_HOST) */
  submitHost: string;
  /** script file name, for the default job name; absent when read from stdin (name = STDIN) */
  scriptName?: string;
  /**
   * qsub's command-line arguments joined by spaces, as OpenPBS shows them in Submit_arguments
   * (qsub records them only when there are any)
   */
  submitArguments?: string;
}
