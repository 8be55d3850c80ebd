/**
 * The store contract: what every adapter of the store ports (shared/ports/store.ts) guarantees,
 * as tests. It runs against the in-memory adapter (test/unit/store/memory-store.test.ts) and the
 * DynamoDB adapter on DynamoDB Local (test/integration/store-dynamodb.test.ts); a test that passes
 * on one and fails on the other is a difference between them, and DynamoDB's behaviour is the
 * truth. Each test gets a fresh, empty store from `makeStore` and hands it to `cleanup` after.
 */
import { describe } from "vitest";
import { historyContract } from "./history.contract.js";
import { indexContract } from "./indexes.contract.js";
import { jobGroupContract } from "./job-groups.contract.js";
import { jobContract } from "./jobs.contract.js";
import { recordContract } from "./records.contract.js";
import { scriptLeaseContract } from "./script-lease.contract.js";
import type { MakeStore } from "./store-fixture.js";

export type { MakeStore, StoreUnderTest } from "./store-fixture.js";

export function storeContract(name: string, makeStore: MakeStore): void {
  describe(`store contract: ${name}`, () => {
    describe("jobs", () => jobContract(makeStore));
    describe("job groups", () => jobGroupContract(makeStore));
    describe("indexes", () => indexContract(makeStore));
    describe("records", () => recordContract(makeStore));
    describe("history", () => historyContract(makeStore));
    describe("script leases", () => scriptLeaseContract(makeStore));
  });
}
