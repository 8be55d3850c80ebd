/**
 * The sparse-index attributes a job item carries in each state (the indexes are defined in
 * table.ts). DynamoDB indexes an item only while it has the index's key attributes, so an
 * attribute present or absent *is* the index membership: these rules decide which queries
 * (ready, run, list, wait) see the job. Every job write (items.ts) recomputes them from the new
 * record, so an item never sits in an index its state left.
 *
 * The rules rest on pure predicates about jobs that live with the domain (shared/server/job.ts:
 * isFinished, arrayHasWork, waitsOnJobs, transferPending); the keys and their order are this
 * adapter's. An in-memory store that must order its reads as DynamoDB does imports these.
 */
import type { JobState } from "../../pbs/types.js";
import {
  arrayHasWork,
  FINISHED,
  type JobRecord,
  listedFinished,
  transferPending,
  waitsOnJobs,
} from "../../server/job.js";
import type { JobPageQuery } from "../../server/records.js";
import { keys } from "./table.js";

/** Sparse-index attributes a job should carry in its current state. */
export interface IndexAttrs {
  rdy?: string;
  rdySk?: string;
  run?: string;
  runSk?: string;
  lst: string;
  lstSk: string;
  wt?: string;
  wtSk?: string;
}

/** Every index attribute a job item may carry (what stripItem removes and updates recompute). */
export const INDEX_FIELDS: (keyof IndexAttrs)[] = [
  "rdy",
  "rdySk",
  "run",
  "runSk",
  "lst",
  "lstSk",
  "wt",
  "wtSk",
];

/**
 * The run index's key for jobs with a transfer step outstanding: the sweeper reads it to re-send
 * what a crash or a lost message left undone (an outbox; see shared/peers/outbox.ts).
 */
export const TRANSFER_PARTITION = "~transfer";

export function indexAttrs(job: JobRecord): IndexAttrs {
  const out: IndexAttrs = { lst: keys.list(job.queue, listedFinished(job)), lstSk: keys.listSort(job.seq) };
  // Subjobs are listed under their parent (qstat -t), not on their own.
  if (job.parentKey) out.lst = `${out.lst}#sub`;
  const ready = job.state === "Q" || (job.state === "B" && arrayHasWork(job));
  // A subjob not started is its parent's (it stands for it here); one with a record in Q (handed
  // to a peer that refused it, or timed out: peers/subjob-transit.ts) is ready on its own.
  if (ready) {
    out.rdy = keys.ready(job.queue, job.seq);
    out.rdySk = keys.readySort(job.priority, job.qrank ?? job.qtime, job.seq);
  }
  if (transferPending(job)) {
    out.run = keys.run(TRANSFER_PARTITION);
    out.runSk = keys.runSort(job.seq);
  }
  if (job.state === "R" || job.state === "E") {
    out.run = keys.run(job.partition);
    out.runSk = keys.runSort(job.seq) + (job.arrayIndex !== undefined ? `[${job.arrayIndex}]` : "");
  }
  if (waitsOnJobs(job)) {
    out.wt = keys.wait();
    out.wtSk = keys.waitSort(job.seq);
  }
  return out;
}

/**
 * The list-index partitions a dashboard page reads (JobStore.listJobPage), and the states it
 * filters on: the queues' active partitions unless only finished states are asked for, and their
 * finished ones with history. Both adapters read the same partitions.
 */
export function pagePartitions(q: JobPageQuery): { parts: string[]; states: JobState[] | undefined } {
  const states = q.states?.length ? q.states : undefined;
  const wantActive = !states || states.some((s) => !FINISHED.has(s));
  const wantFinished = q.history && (!states || states.some((s) => FINISHED.has(s)));
  const parts: string[] = [];
  for (const queue of q.queues) {
    if (wantActive) parts.push(keys.list(queue, false));
    if (wantFinished) parts.push(keys.list(queue, true));
  }
  return { parts, states };
}
