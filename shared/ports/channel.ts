/**
 * Port: the push channel to MOMs (issue 12). Every MOM keeps one outbound WebSocket to a
 * gateway (API Gateway's WebSocket API on AWS, infra/local/mom-gateway.ts locally); the server
 * pushes a message to a MOM's connection by its id, through the gateway's management API
 * (`POST /@connections/{id}`), one request per message: no MOM polls for work, so a site with
 * thousands of nodes costs nothing per idle node. Which connection a MOM holds is in the site
 * table (MomStore.putMomConnection), written by the gateway's `$connect` route.
 */
import type { JobRunSpec, KillReason } from "./executor.js";
import type { OutputGrant } from "./output.js";

/** The gateway's management API: post to one connection (the adapter wraps the AWS SDK client). */
export interface MomConnections {
  /** Resolves once the gateway took the message for the connection; ConnectionGoneError if it has no such connection. */
  post(connectionId: string, data: string): Promise<void>;
  /** Close a connection (a MOM refused after it connected); resolves when it is already gone. */
  close(connectionId: string): Promise<void>;
}

/** The gateway has no such connection (HTTP 410 GoneException): the MOM went away. */
export class ConnectionGoneError extends Error {
  constructor(
    readonly connectionId: string,
    options?: { cause?: unknown },
  ) {
    super(`connection ${connectionId} is gone`, options);
    this.name = new.target.name;
  }
}

/** The header a MOM's connect carries: its signed `connect` envelope, as base64url JSON. */
export const MOM_CONNECT_HEADER = "x-metaqueue-mom";

/**
 * What the server pushes to a MOM. `at` (epoch ms, the server's) of a kill or signal comes back
 * in the MOM's `norun` answer when it does not hold the run (shared/exec/refusal.ts).
 */
export type MomPush =
  | { type: "run"; spec: JobRunSpec }
  | { type: "kill"; jobId: string; runCount: number; reason: KillReason; at?: number }
  | { type: "signal"; jobId: string; runCount: number; signal: NodeJS.Signals; at?: number }
  /** the answer to a MOM's `grant` request: fresh upload URLs for its run, or why not */
  | { type: "grant"; jobId: string; runCount: number; grant?: OutputGrant; refused?: string };

/**
 * What a MOM sends back on its connection (the gateway's `$default` route): a signed report
 * (the same envelope as on the events queue: shared/auth/mom-report.ts), which the route
 * forwards to the events queue, so the server acts on it where it acts on every MOM report.
 */
export interface MomSays {
  /**
   * `report`: forwarded to the events queue; `grant`: a signed `grant` envelope whose body is
   * {jobId, runCount, names}, answered on the connection with a `grant` push
   */
  type: "report" | "grant";
  /** a MomEnvelope (type "mom" added when forwarded) */
  report: unknown;
}

/** Where a connection record lives: which connection a MOM holds, since when. */
export interface MomConnection {
  momId: string;
  connectionId: string;
  /** the signed time of the connect (a later connect of the same MOM wins) */
  at: number;
}

/**
 * A MOM's answer to a kill or signal of a run it does not hold (a signed `norun` report, sent
 * on its connection: shared/exec/refusal.ts, shared/server/mom-norun.ts).
 */
export interface NoRunReport {
  type: "norun";
  jobId: string;
  runCount: number;
  momId: string;
  /** what was asked: `kill` (qdel, qrerun, walltime) or the signal's name */
  asked: "kill" | NodeJS.Signals;
  /** when the server asked (the push's `at`): two requests are told apart, one redelivered is not */
  askedAt?: number;
}
