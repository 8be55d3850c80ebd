/**
 * Group commit of job writes, and the matching read batching, for one store per process.
 *
 * Writes asked for while the event loop is busy with other work (the claims of one cycle, the
 * ends of one batch of obituaries, submissions arriving together) are sent as one
 * JobStore.writeJobs, which the store sends as it is cheapest there: writes with a record or a
 * charge in shared transactions; plain ones one by one on AWS (a transaction bills its items
 * twice) and in shared transactions on DynamoDB Local, which pays per commit (PlainGroupWrites,
 * adapters/dynamodb/jobs.ts; issue 14). Each caller still gets
 * its own outcome: its record, or the error its write alone would have had. A ConflictError
 * sends the caller down its single-write path (mutateJob re-reads and decides again; a claim
 * leaves the job to the next cycle), so per-job semantics are those of updateJob/createJob.
 *
 * When to send: at the next turn of the event loop (setImmediate) after the first write, so a
 * write on an idle site waits for nothing; while MAX_IN_FLIGHT groups are in flight, later writes
 * gather into the next group (the classic group commit: the busier, the bigger the groups).
 */
import type { JobStore, JobWrite, Ledger, SettleEnd } from "../ports/store.js";
import type { JobRecord } from "./job.js";
import type { AcctRecord } from "./records.js";

/** Groups in flight at once per store. */
const MAX_IN_FLIGHT = 2;
/** Writes sent in one writeJobs (the store cuts them into transactions). */
const MAX_GROUP = 200;

interface Waiter<I, O> {
  input: I;
  resolve(v: O): void;
  reject(e: unknown): void;
}

/** Gathers single requests into batches: `run` answers a batch, item by item (an Error rejects). */
class Batcher<I, O> {
  private queue: Waiter<I, O>[] = [];
  private inFlight = 0;
  private scheduled = false;

  constructor(private readonly run: (inputs: I[]) => Promise<(O | Error)[]>) {}

  ask(input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      this.kick();
    });
  }

  private kick(): void {
    if (this.scheduled || this.inFlight >= MAX_IN_FLIGHT || this.queue.length === 0) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      void this.flush();
    });
  }

  private async flush(): Promise<void> {
    if (this.inFlight >= MAX_IN_FLIGHT) return;
    const batch = this.queue.splice(0, MAX_GROUP);
    if (batch.length === 0) return;
    this.inFlight++;
    try {
      const res = await this.run(batch.map((w) => w.input));
      batch.forEach((w, i) => {
        const r = res[i];
        if (r instanceof Error) w.reject(r);
        else w.resolve(r as O);
      });
    } catch (err) {
      for (const w of batch) w.reject(err);
    } finally {
      this.inFlight--;
      this.kick();
    }
  }
}

interface Batchers {
  writes: Batcher<JobWrite, JobRecord>;
  reads: Batcher<string, JobRecord | undefined>;
  settles: Batcher<SettleEnd, boolean>;
  ensures: Batcher<AcctRecord[], undefined>;
  accts: Batcher<AcctRecord, undefined>;
}
const perStore = new WeakMap<JobStore & Ledger, Batchers>();

function batchers(store: JobStore & Ledger): Batchers {
  let b = perStore.get(store);
  if (!b) {
    b = {
      writes: new Batcher((ws) => store.writeJobs(ws)),
      settles: new Batcher((es) => store.settleEnds(es)),
      ensures: new Batcher(async (lists) => {
        await store.ensureAcct(lists.flat());
        return lists.map(() => undefined);
      }),
      accts: new Batcher(async (recs) => {
        const errs = await store.putAccts(recs);
        return recs.map((_, i) => errs[i]);
      }),
      reads: new Batcher(async (ks) => {
        // without the scripts: a grouped read decides a state change (an obituary's end) and
        // never runs or moves the job, and a record without its script writes back as it was
        // (JobReadOptions): one item a job in the BatchGetItem instead of two
        const got = await store.getJobs(ks, { script: false });
        return ks.map((k) => (got.has(k) ? structuredClone(got.get(k)) : undefined));
      }),
    };
    perStore.set(store, b);
  }
  return b;
}

/**
 * Write one job change (or create) as part of the next group: resolves with what updateJob
 * (createJob) would have returned, rejects with what it would have thrown.
 */
export function groupWrite(store: JobStore & Ledger, w: JobWrite): Promise<JobRecord> {
  return batchers(store).writes.ask(w);
}

/**
 * Read one job (strongly consistent) as part of the next batch read (one BatchGetItem), without
 * its script: for state changes only (the obituary's end), not for a record to run or move.
 */
export function groupRead(store: JobStore & Ledger, key: string): Promise<JobRecord | undefined> {
  return batchers(store).reads.ask(key);
}

/**
 * Settle one job end's record and charge (Ledger.settleEnds) with the ends settled alongside it
 * (one SQS batch of obituaries): one small transaction, one ADD per project. Resolves false when
 * the record was there already.
 */
export function groupSettle(store: JobStore & Ledger, e: SettleEnd): Promise<boolean> {
  return batchers(store).settles.ask(e);
}

/**
 * Make sure these accounting records exist (Ledger.ensureAcct), with the checks asked for
 * alongside (the ends of one batch of obituaries): one BatchGetItem for the batch instead of one
 * per end. A failure fails every caller of the batch, each of which then leaves its obituary to
 * SQS's redelivery, as a failure of its own check would.
 */
export function groupEnsureAcct(store: JobStore & Ledger, recs: AcctRecord[]): Promise<undefined> {
  return batchers(store).ensures.ask(recs);
}

/**
 * Put one accounting record (the Q record of a submission, the S record of a claim) with the
 * records asked for alongside it (the submissions arriving together, the claims of one cycle):
 * one BatchWriteItem per 25 records (Ledger.putAccts) instead of one PutItem each. Rejects with
 * this record's own error only; like the single put it replaces, a record that does not land is
 * rebuilt at its job's end (job-end.ts settleEnd).
 */
export function groupPutAcct(store: JobStore & Ledger, rec: AcctRecord): Promise<undefined> {
  return batchers(store).accts.ask(rec);
}
