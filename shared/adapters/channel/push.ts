/**
 * Pushing to a MOM by its id: find the connection it holds (shared/ports/channel.ts), post the
 * message there. The connection of each MOM is remembered (a warm Lambda, the local runtime), so
 * a push is one management request, not a table read and a request: a MOM that reconnected
 * makes its old connection answer 410 Gone, and then the record is read again and the push
 * retried once on the new one. A MOM with no live connection is unreachable: the record naming
 * the dead connection is dropped (only if it still names it: a reconnect racing this wins), and
 * the caller treats the MOM as lost (the run is not handed over; the sweeper's lost-MOM path
 * judges what it had).
 */
import { RejectedError } from "../../errors.js";
import { ConnectionGoneError, type MomConnections, type MomPush } from "../../ports/channel.js";
import type { KillReason } from "../../ports/executor.js";
import type { MomStore } from "../../ports/store.js";

/** The MOM holds no live connection. */
export class MomUnreachableError extends Error {
  constructor(
    readonly momId: string,
    why: string,
    options?: { cause?: unknown },
  ) {
    super(`MOM ${momId} is unreachable: ${why}`, options);
    this.name = new.target.name;
  }
}

/** Connections remembered at most (a site's MOMs; the oldest is forgotten first). */
const REMEMBER = 10_000;

export class MomPusher {
  private readonly known = new Map<string, string>();
  /** pushes made and 410s met (the benchmark and tests read them) */
  readonly counts = { pushes: 0, gone: 0, lookups: 0 };

  constructor(
    private readonly store: Pick<MomStore, "getMomConnection" | "dropMomConnection">,
    private readonly conns: MomConnections,
  ) {}

  /** Post `msg` to the MOM's connection. MomUnreachableError when it has no live one. */
  async push(momId: string, msg: MomPush): Promise<void> {
    const data = JSON.stringify(msg);
    let conn = this.known.get(momId);
    let fresh = false;
    for (;;) {
      if (conn === undefined) {
        this.counts.lookups++;
        conn = (await this.store.getMomConnection(momId))?.connectionId;
        fresh = true;
        if (conn === undefined) throw new MomUnreachableError(momId, "it holds no connection");
      }
      try {
        this.counts.pushes++;
        await this.conns.post(conn, data);
        this.remember(momId, conn);
        return;
      } catch (err) {
        if (!(err instanceof ConnectionGoneError)) throw err;
        this.counts.gone++;
        this.known.delete(momId);
        // the record still names the dead connection: no reconnect since, the MOM is gone
        if (fresh) {
          await this.store.dropMomConnection(momId, conn);
          throw new MomUnreachableError(momId, `its connection ${conn} is gone`, { cause: err });
        }
        conn = undefined; // remembered one gone: read the record, the MOM may have reconnected
      }
    }
  }

  /** Forget what is remembered of a MOM (it stopped). */
  forget(momId: string): void {
    this.known.delete(momId);
  }

  private remember(momId: string, conn: string): void {
    if (this.known.get(momId) === conn) return;
    this.known.delete(momId);
    this.known.set(momId, conn);
    if (this.known.size > REMEMBER) this.known.delete(this.known.keys().next().value as string);
  }
}

type RunRef = { jobId: string; momId: string; runCount: number };

/**
 * qdel/qrerun of a run through the channel, for every executor that pushes: a MOM with no live
 * connection is lost, and the sweeper's lost-MOM path stops what it ran and ends the job, so
 * the kill has nothing more to do.
 */
export async function pushKill(
  pusher: Pick<MomPusher, "push">,
  job: RunRef,
  reason: KillReason,
): Promise<void> {
  try {
    const at = Date.now();
    await pusher.push(job.momId, { type: "kill", jobId: job.jobId, runCount: job.runCount, reason, at });
  } catch (err) {
    if (!(err instanceof MomUnreachableError)) throw err;
  }
}

/**
 * qsig through the channel: an unreachable MOM is PBS's "Request to MOM failed" (409). A MOM
 * that does not hold the run answers later, on its connection, with a signed `norun`: the
 * pusher cannot wait for it (on AWS the answer reaches another Lambda), so the server records
 * it on the job, where tracejob shows it (shared/server/mom-norun.ts).
 */
export async function pushSignal(
  pusher: Pick<MomPusher, "push">,
  job: RunRef,
  signal: NodeJS.Signals,
): Promise<void> {
  try {
    const at = Date.now();
    await pusher.push(job.momId, { type: "signal", jobId: job.jobId, runCount: job.runCount, signal, at });
  } catch (err) {
    if (!(err instanceof MomUnreachableError)) throw err;
    throw new RejectedError("MomRejected", `Request to MOM failed: ${err.message}`, 409);
  }
}
