/**
 * Typed errors. Every error a user can cause carries a stable code, an HTTP status and a
 * message written the way PBS writes it, so the API maps it to a 4xx JSON body and the CLI
 * prints `qsub: <message>` on stderr with a non-zero exit.
 */
export class MetaqueueError extends Error {
  readonly code: string;
  readonly status: number;
  /** PBS-style exit code the CLI should use (PBS uses small positive codes; 1 is generic). */
  readonly exitCode: number;
  constructor(code: string, message: string, status = 400, exitCode = 1, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
    this.status = status;
    this.exitCode = exitCode;
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
  constructor(code: string, message: string, status = 400, exitCode = 1) {
    super(code, message, status, exitCode);
  }
}

/**
 * PBS exit codes (`pbs_errno & 0xff`, as the commands exit) for the errors below:
 * PBSE_BADATVAL 15014 "Illegal attribute or resource value", PBSE_IVALREQ 15004 "Invalid
 * request", PBSE_JOBSCRIPTMAXSIZE 15175, PBSE_SYSTEM 15010, PBSE_UNKRESC 15035 "Unknown resource".
 */
export const PBS_EXIT = {
  BADATVAL: 166,
  IVALREQ: 156,
  JOBSCRIPTMAXSIZE: 71,
  SYSTEM: 162,
  UNKRESC: 187,
} as const;

export class NotFoundError extends MetaqueueError {
  constructor(message: string) {
    super("UnknownObject", message, 404, 153);
  }
}

/** The request is not allowed in the object's current state (e.g. qalter on a running job). */
export class InvalidStateError extends MetaqueueError {
  constructor(message: string) {
    super("InvalidState", message, 409, 168);
  }
}

export class UnauthorizedError extends MetaqueueError {
  constructor(message = "Unauthorized Request") {
    super("Unauthorized", message, 403, 159);
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
    super(code, message, opts.status, opts.exitCode ?? PBS_EXIT.SYSTEM, { cause: opts.cause });
    this.retryable = opts.retryable;
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
    super("IllegalTransition", message, 500, PBS_EXIT.SYSTEM);
  }
}

/** No identity, or one the server cannot verify (missing, forged or revoked credential). */
export class UnauthenticatedError extends MetaqueueError {
  constructor(message = "Unauthorized Request: no valid credential") {
    super("Unauthenticated", message, 401, 159);
  }
}
