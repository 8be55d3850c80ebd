/**
 * What a transfer machine (origin-machine.ts, receiver-machine.ts) answers to one input: the
 * record as it is to be after the step and the effects the shell must carry out, as data. The
 * machines read no clock and do no I/O; the shells (origin.ts, receiver.ts, outbox.ts) read the
 * record, run the machine, make its one store change conditionally on what they read, and only
 * then send: a lost race (ConflictError) re-reads and runs the machine again, and sends nothing.
 */
import type { JobRecord } from "../server/job.js";
import type { AcctRecord, UsageCharge } from "../server/records.js";
import type { PeerBody } from "./messages.js";

export type Msg<T extends PeerBody["type"]> = Extract<PeerBody, { type: T }>;

/** The one store change of a step; every one is conditional on the record the machine was given. */
export type StoreEffect =
  /** update the job from the record read to `after` (with accounting and a charge, atomically) */
  | { kind: "write"; after: JobRecord; acct?: AcctRecord; charge?: UsageCharge }
  /** create the received copy with its transfer record (fails if the transfer is known) */
  | { kind: "createInbound"; job: JobRecord; transferId: string }
  /** record the transfer as aborted, dropping `job` (the copy, still held at the ver read) if given */
  | { kind: "tombstone"; transferId: string; job?: JobRecord };

/** What the shell does once the store change (if any) is made. */
export type Effect =
  | StoreEffect
  | { kind: "send"; body: PeerBody }
  /**
   * a FORWARD in time: run this site's receive policy (server state, identity map, a sequence
   * number: I/O) and give the machine its verdict (receiver-machine.ts, admit or refuse)
   */
  | { kind: "askPolicy" }
  /** run a scheduling cycle of this partition (a job became runnable there) */
  | { kind: "cycle"; partition: string }
  /** this job's end is recorded here: release its dependents */
  | { kind: "ended"; key: string }
  /**
   * this subjob's end is recorded here: count it on its array (job-end.ts subjobEnded, once: the
   * subjob's `counted` mark is written with the parent's count, both conditionally)
   */
  | { kind: "countOnArray"; sub: JobRecord }
  /** count one of this metric, for this peer */
  | { kind: "count"; metric: string }
  | { kind: "log"; level: "info" | "warn" | "error"; message: string };

export interface Step {
  /** the record after the step (unchanged when nothing is written) */
  state: JobRecord | undefined;
  effects: Effect[];
  /** why the input changes nothing in this state (a duplicate, a late or a foreign message) */
  ignored?: string;
}

/** No change; `effects` may still answer (a duplicate is answered again). */
export function stay(state: JobRecord | undefined, ignored?: string, ...effects: Effect[]): Step {
  return { state, effects, ignored };
}

export function send(body: PeerBody): Effect {
  return { kind: "send", body };
}

/** The store change of a step, if any (a machine makes at most one per step). */
export function storeEffectOf(step: Step): StoreEffect | undefined {
  return step.effects.find(
    (e): e is StoreEffect => e.kind === "write" || e.kind === "createInbound" || e.kind === "tombstone",
  );
}

/** The peer messages of a step, in order. */
export function sendsOf(step: Step): PeerBody[] {
  return step.effects.flatMap((e) => (e.kind === "send" ? [e.body] : []));
}
