/**
 * What the store contract's sections share: a fresh store per test (from the adapter under test),
 * jobs built from the test fixture, and the port-level reads that show "nothing was written".
 */
import { afterEach, beforeEach, expect } from "vitest";
import { MetaqueueError } from "../../shared/errors.js";
import type { SiteStore } from "../../shared/ports/store.js";
import type { JobRecord } from "../../shared/server/job.js";
import { jobRecord } from "../fixtures/job.js";

export interface StoreUnderTest {
  store: SiteStore;
  cleanup(): Promise<void>;
  /** the table as DynamoDB's TTL leaves it: every item whose `expiresAt` is at or before `nowS`, deleted */
  ttlSweep(nowS: number): Promise<void>;
  /** every item of a table partition, as stored (the job's A item, its script's B, its edges...) */
  partition(pk: string): Promise<Record<string, unknown>[]>;
}
export type MakeStore = () => Promise<StoreUnderTest>;

/** A fresh store for each test of the calling describe block. */
export function freshStore(makeStore: MakeStore): () => SiteStore {
  const under = freshStoreUnderTest(makeStore);
  return () => under().store;
}

/** The same, with the adapter's test hooks (the TTL's deletion, raw partitions). */
export function freshStoreUnderTest(makeStore: MakeStore): () => StoreUnderTest {
  let cur: StoreUnderTest | undefined;
  beforeEach(async () => {
    cur = await makeStore();
  });
  afterEach(async () => {
    await cur?.cleanup();
    cur = undefined;
  });
  return () => {
    if (!cur) throw new Error("no store: call inside a test");
    return cur;
  };
}

export const job = (seq: number, over: Partial<JobRecord> = {}): JobRecord => jobRecord(seq, over);

/** The rejection of `p`, which must reject with an instance of `type` (and nothing else). */
export async function rejection<E extends Error>(
  p: Promise<unknown>,
  type: abstract new (...a: never[]) => E,
): Promise<E> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, "the call should have failed").toBeInstanceOf(type);
  return err as E;
}

/** The code of a MetaqueueError (ConflictError "Conflict", StoreError "JobTooLarge", ...). */
export const codeOf = (e: unknown) => (e instanceof MetaqueueError ? e.code : String(e));

/** A UTC day as the ledger keys it (the acct/audit partition). */
export const dayOf = (t: number) => new Date(t).toISOString().slice(0, 10);
