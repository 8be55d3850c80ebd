/**
 * The store contract (test/contract/store.contract.ts) against the in-memory adapter, plus what
 * only this adapter has: the hooks the protocol simulator and unit tests use.
 */
import { describe, expect, it } from "vitest";
import { MemorySiteStore } from "../../../shared/adapters/memory/index.js";
import { storeContract } from "../../contract/store.contract.js";
import { jobRecord } from "../../fixtures/job.js";

storeContract("memory", async () => {
  const store = new MemorySiteStore();
  return {
    store,
    cleanup: async () => {},
    ttlSweep: async (nowS) => {
      for (const it of store.table.peek())
        if (typeof it.expiresAt === "number" && it.expiresAt <= nowS)
          store.table.write([{ key: { pk: String(it.pk), sk: String(it.sk) }, next: () => undefined }], "");
    },
    partition: async (pk) => store.table.query(pk),
  };
});

describe("MemorySiteStore hooks", () => {
  it("yields before an operation, and keeps each operation's check-and-write atomic", async () => {
    const store = new MemorySiteStore({ yields: () => 3 });
    await store.createJob(jobRecord(1));
    const read = await store.getJob("1");
    if (!read) throw new Error("no job");
    // two writers from the same read interleave at their I/O: exactly one wins
    const results = await Promise.allSettled([
      store.updateJob(read, { ...read, comment: "a" }),
      store.updateJob(read, { ...read, comment: "b" }),
    ]);
    expect(results.map((r) => r.status).sort()).toEqual(["fulfilled", "rejected"]);
    expect((await store.getJob("1"))?.ver).toBe(1);
    // and the yields are real: a plain microtask gets in before the store acts
    let order = "";
    const p = store.getJob("1").then(() => {
      order += "store";
    });
    await Promise.resolve().then(() => {
      order += "other,";
    });
    await p;
    expect(order).toBe("other,store");
  });

  it("fails the operation the fail hook names, writing nothing", async () => {
    const boom = new Error("injected");
    const store = new MemorySiteStore({ fail: (op) => (op === "createJob" ? boom : undefined) });
    await expect(store.createJob(jobRecord(1))).rejects.toBe(boom);
    store.fail = undefined;
    expect(await store.getJob("1")).toBeUndefined();
    await store.createJob(jobRecord(1));
    expect((await store.getJob("1"))?.seq).toBe(1);
  });
});
