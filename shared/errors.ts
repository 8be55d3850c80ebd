/**
 * Typed errors. Every error a user can cause carries a stable code, an HTTP status and a
 * message written the way PBS writes it, so the API maps it to a 4xx JSON body and the CLI
 * prints `qsub: <message>` on stderr with a non-zero exit. Where PBS has an error for the case,
 * the error names it (`pbs`, from the one table in shared/pbs/errno.ts): the API sends its
 * number and the commands exit with `pbs_errno & 0xff`, as OpenPBS's do.
 */
import { type PbsErrorName, pbsExitOf } from "./pbs/errno.js";

/**
 * The PBS error of each refusal code the server uses without naming one itself (RejectedError's
 * codes are strings chosen where the refusal is made; this keeps their PBS meaning in one place).
 */
const PBS_ERROR_OF_CODE: Record<string, PbsErrorName> = {
  UnknownQueue: "UNKQUE",
  QueueDisabled: "QUNOENB",
  NoDefaultQueue: "QUENODFLT",
  UnknownJob: "UNKJOBID",
  NotSupported: "NOSUP",
  ArrayTooLarge: "MaxArraySize",
  BadDependency: "BADDEPEND",
  ExceedsQueueLimit: "EXCQRESC",
  BelowQueueMinimum: "EXCQRESC",
  // a request no node can ever hold is over the site's limits: PBS's nearest refusal
  NeverRuns: "EXCQRESC",
  ScriptTooLarge: "JOBSCRIPTMAXSIZE",
  EmptyScript: "IVALREQ",
  JobTooLarge: "BADATVAL",
  JobFinished: "HISTJOBID",
  UnknownSignal: "UNKSIG",
  UnknownNode: "UNKNODE",
  ResourcesUnavailable: "RESCUNAV",
  MomRejected: "MOMREJECT",
};

export class MetaqueueError extends Error {
  readonly code: string;
  readonly status: number;
  /** PBS-style exit code the CLI should use (PBS uses small positive codes; 1 is generic). */
  readonly exitCode: number;
  /** the PBS error this is (PBSE_ name without the prefix), when PBS has one */
  readonly pbs?: PbsErrorName;
  constructor(
    code: string,
    message: string,
    status = 400,
    exitCode?: number,
    options?: { cause?: unknown; pbs?: PbsErrorName },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    // own keys only: a code read from an answer ("toString") must not find Object's methods
    this.pbs = options?.pbs ?? (Object.hasOwn(PBS_ERROR_OF_CODE, code) ? PBS_ERROR_OF_CODE[code] : undefined);
    this.exitCode = exitCode ?? (this.pbs ? pbsExitOf(this.pbs) : 1);
  }
}

/** A directive, option or attribute value that does not parse. */
export class PbsParseError extends MetaqueueError {
  /** `exitCode`: 2 (qsub's "illegal -x value") unless PBS exits with the server's errno there. */
  constructor(message: string, exitCode = 2) {
    super("BadValue", message, 400, exitCode);
  }
}

/** Well-formed input the server refuses (unknown queue, limit exceeded, job can never run...). */
export class RejectedError extends MetaqueueError {
  /** without `exitCode`, the PBS error of `code` decides it (1 when PBS has none) */
  constructor(code: string, message: string, status = 400, exitCode?: number) {
    super(code, message, status, exitCode);
  }
}

/** PBS exit codes (`pbs_errno & 0xff`, as the commands exit) some callers name directly. */
export const PBS_EXIT = {
  BADATVAL: pbsExitOf("BADATVAL"),
  IVALREQ: pbsExitOf("IVALREQ"),
  JOBSCRIPTMAXSIZE: pbsExitOf("JOBSCRIPTMAXSIZE"),
  SYSTEM: pbsExitOf("SYSTEM"),
  UNKRESC: pbsExitOf("UNKRESC"),
} as const;

/** An object that does not exist: a job (PBSE_UNKJOBID) unless told which PBS error it is. */
export class NotFoundError extends MetaqueueError {
  constructor(message: string, pbs: PbsErrorName = "UNKJOBID") {
    super("UnknownObject", message, 404, undefined, { pbs });
  }
}

/**
 * The request is not allowed in the object's current state (e.g. qalter on a running job):
 * PBSE_BADSTATE unless a nearer PBS error is named (PBSE_HISTJOBID for a finished job).
 */
export class InvalidStateError extends MetaqueueError {
  constructor(message: string, pbs: PbsErrorName = "BADSTATE") {
    super("InvalidState", message, 409, undefined, { pbs });
  }
}

export class UnauthorizedError extends MetaqueueError {
  constructor(message = "Unauthorized Request") {
    super("Unauthorized", message, 403, undefined, { pbs: "PERM" });
  }
}

/**
 * The store refused or failed a request for a reason other than a lost race: an item over
 * DynamoDB's size limit or another validation error (never retried: the same request fails
 * the same way), or throttling and transaction conflicts (`retryable`: the request was not
 * applied, so sending it again is safe). Keeps the SDK error as `cause`.
 */
export class StoreError extends MetaqueueError {
  readonly retryable: boolean;
  constructor(
    code: string,
    message: string,
    opts: { status: number; retryable: boolean; exitCode?: number; cause?: unknown },
  ) {
    // an item over the store's size limit is the user's too-large value; anything else is PBS's system error
    const pbs: PbsErrorName = opts.exitCode === PBS_EXIT.BADATVAL ? "BADATVAL" : "SYSTEM";
    super(code, message, opts.status, opts.exitCode ?? PBS_EXIT.SYSTEM, { cause: opts.cause, pbs });
    this.retryable = opts.retryable;
  }
}

/**
 * The site's intake (shared/ports/intake.ts) could not be resumed, or kept changing under a
 * producer: the work was not written, and asking again is safe (503, PBS's system error).
 */
export class IntakeError extends MetaqueueError {
  constructor(message: string, cause?: unknown) {
    super("IntakeUnavailable", message, 503, PBS_EXIT.SYSTEM, { cause, pbs: "SYSTEM" });
  }
}

/** A conditional write lost a race; callers retry or report. Never shown to users as-is. */
export class ConflictError extends MetaqueueError {
  constructor(message: string) {
    super("Conflict", message, 409, 1);
  }
}

/**
 * A job write the state table (shared/pbs/states.ts) forbids: a bug in the code that made it,
 * never a user's doing nor a lost race, so it is a 500 and not a ConflictError (retrying would
 * only make the same write again). Thrown before anything is sent to the store.
 */
export class IllegalTransitionError extends MetaqueueError {
  constructor(message: string) {
    super("IllegalTransition", message, 500, undefined, { pbs: "SYSTEM" });
  }
}

/** No identity, or one the server cannot verify (missing, forged or revoked credential). */
export class UnauthenticatedError extends MetaqueueError {
  constructor(message = "Unauthorized Request: no valid credential") {
    super("Unauthenticated", message, 401, undefined, { pbs: "PERM" });
  }
}

/**
 * The message bus did not accept every message of a send (shared/ports/bus.ts): `what` names
 * them, `reasons` says why each refused one was refused. Deliberately not a MetaqueueError:
 * handlers that treat a MetaqueueError as the user's answer (a refused transfer, a qdel of a
 * finished job) and go on must not swallow this one, or a message would be lost. It propagates,
 * the handler fails, and its own input is redelivered; the API answers 500.
 */
export class BusSendError extends Error {
  readonly what: string;
  readonly reasons: string[];
  constructor(what: string, reasons: string[], options?: { cause?: unknown }) {
    super(`could not send ${what}: ${reasons.join("; ")}`, options);
    this.name = new.target.name;
    this.what = what;
    this.reasons = reasons;
  }
}

/**
 * A process's environment lacks variables it needs or has ones that do not parse: it cannot
 * start. `problems` lists every one (`NAME: why`), so one failed start says all there is to fix.
 */
export class EnvError extends MetaqueueError {
  readonly problems: string[];
  constructor(who: string, problems: string[], options?: { cause?: unknown }) {
    super("BadEnvironment", `${who}: bad environment: ${problems.join("; ")}`, 500, PBS_EXIT.SYSTEM, options);
    this.problems = problems;
  }
}
