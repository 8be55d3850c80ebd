/**
 * Store errors are classified, never mistaken for a conflict (issue 10: an item over 400 KB
 * made a job nobody could delete, "changing too fast"). The shapes DynamoDB Local cannot
 * produce on demand (throttling, TransactionConflict) come from aws-sdk-client-mock; the
 * oversized write itself is tested on DynamoDB Local (test/integration/input.test.ts).
 */
import {
  ConditionalCheckFailedException,
  DynamoDBClient,
  TransactionCanceledException,
} from "@aws-sdk/client-dynamodb";
import {
  DynamoDBDocumentClient,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { afterEach, describe, expect, it } from "vitest";
import { errorResult } from "../../../shared/api/routes.js";
import { ConflictError, StoreError } from "../../../shared/errors.js";
import type { SiteContext } from "../../../shared/server/context.js";
import { DEFAULT_SETTINGS } from "../../../shared/server/settings.js";
import { type JobRecord, MAX_TRACE_BYTES, withTrace } from "../../../shared/server/job.js";
import { mutateJob } from "../../../shared/server/mutate.js";
import { checkJobSize } from "../../../shared/server/submit.js";
import { itemSize } from "../../../shared/adapters/dynamodb/item-size.js";
import { DynamoSiteStore } from "../../../shared/adapters/dynamodb/index.js";
import { jobItem } from "../../../shared/adapters/dynamodb/items.js";
import { classifyStoreError, STORE_ATTEMPTS } from "../../../shared/adapters/dynamodb/errors.js";
import { jobRecord } from "../../fixtures/job.js";

const meta = { $metadata: {} };
const conditionFailed = () =>
  new ConditionalCheckFailedException({ message: "The conditional request failed", ...meta });
const canceled = (...codes: string[]) =>
  new TransactionCanceledException({
    message: `Transaction cancelled, please refer cancellation reasons for specific reasons [${codes.join(", ")}]`,
    CancellationReasons: codes.map((Code) => ({
      Code,
      Message: Code === "ValidationError" ? "Item size has exceeded the maximum allowed size" : undefined,
    })),
    ...meta,
  });
const named = (name: string, message: string) => Object.assign(new Error(message), { name, ...meta });
const tooBig = () => named("ValidationException", "Item size has exceeded the maximum allowed size");

function job(over: Partial<JobRecord> = {}): JobRecord {
  return jobRecord(1, { queue: "casper", name: "STDIN", owner: "u@h", user: "u", sel: [], ver: 3, ...over });
}

describe("classifyStoreError", () => {
  it("a failed condition, alone or in a transaction, is a conflict", () => {
    expect(classifyStoreError(conditionFailed(), "lost")).toBeInstanceOf(ConflictError);
    expect(classifyStoreError(canceled("ConditionalCheckFailed", "None"), "lost")).toBeInstanceOf(
      ConflictError,
    );
  });

  it("an item over the limit is a final 413, in either shape, with the SDK error as cause", () => {
    for (const err of [tooBig(), canceled("None", "ValidationError")]) {
      const c = classifyStoreError(err, "lost", "qhold of 1.casper");
      expect(c).toBeInstanceOf(StoreError);
      const s = c as StoreError;
      expect([s.code, s.status, s.retryable, s.exitCode]).toEqual(["JobTooLarge", 413, false, 166]);
      expect(s.message).toMatch(/^qhold of 1.casper refused: .*400 KB/);
      expect(s.cause).toBe(err);
    }
  });

  it("a validation error reported with a condition failure is still the validation error", () => {
    expect(
      (classifyStoreError(canceled("ConditionalCheckFailed", "ValidationError"), "x") as StoreError).code,
    ).toBe("JobTooLarge");
  });

  it("other validation errors are a final 400", () => {
    const s = classifyStoreError(
      named("ValidationException", "One or more parameter values were invalid"),
      "x",
    );
    expect([(s as StoreError).code, (s as StoreError).status, (s as StoreError).retryable]).toEqual([
      "StoreValidation",
      400,
      false,
    ]);
  });

  it("throttling and transaction conflicts are retryable 503s, never conflicts", () => {
    for (const err of [
      canceled("TransactionConflict", "None"),
      canceled("None", "ThrottlingError"),
      named("ThrottlingException", "Rate exceeded"),
      named("ProvisionedThroughputExceededException", "slow down"),
      named("TransactionConflictException", "conflict"),
    ]) {
      const c = classifyStoreError(err, "x");
      expect(c).toBeInstanceOf(StoreError);
      expect([(c as StoreError).status, (c as StoreError).retryable]).toEqual([503, true]);
    }
  });

  it("anything else is left as it is (a 500)", () => {
    const e = new Error("socket hang up");
    expect(classifyStoreError(e, "x")).toBe(e);
  });
});

describe("SiteStore writes and mutateJob on each failure", () => {
  const ddb = mockClient(DynamoDBDocumentClient);
  afterEach(() => ddb.reset());
  const store = new DynamoSiteStore(
    DynamoDBDocumentClient.from(new DynamoDBClient({ region: "us-east-1" })),
    "T",
  );
  const ctx = { store } as unknown as SiteContext;
  const hold = () =>
    mutateJob(ctx, "1", (cur) => ({ kind: "write", after: { ...cur, holds: "u", state: "H" } }), {
      attempts: 3,
    });

  it("throttling is retried with backoff inside the store, and the write then succeeds", async () => {
    ddb.on(QueryCommand).resolves({ Items: [{ pk: "JOB#1", sk: "A", ...job() }] });
    ddb
      .on(UpdateCommand)
      .rejectsOnce(named("ThrottlingException", "Rate exceeded"))
      .rejectsOnce(canceled("TransactionConflict"))
      .resolves({});
    const r = await hold();
    expect(r.after?.holds).toBe("u");
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(3);
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(1);
  });

  it("throttling that does not stop is a 503 StoreError, not 'changing too fast'", async () => {
    ddb.on(QueryCommand).resolves({ Items: [{ pk: "JOB#1", sk: "A", ...job() }] });
    ddb.on(UpdateCommand).rejects(named("ThrottlingException", "Rate exceeded"));
    const err = await hold().catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.status).toBe(503);
    expect(err.message).not.toMatch(/changing too fast/);
    // one mutateJob attempt: the store retried, mutateJob did not multiply it
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(STORE_ATTEMPTS);
  });

  it("an item too large is sent once and reported as such", async () => {
    ddb.on(QueryCommand).resolves({ Items: [{ pk: "JOB#1", sk: "A", ...job() }] });
    ddb.on(UpdateCommand).rejects(tooBig());
    const err = await hold().catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.code).toBe("JobTooLarge");
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(1);
  });

  it("an oversized transaction (a job end with its accounting record) is not a conflict either", async () => {
    ddb.on(TransactWriteCommand).rejects(canceled("ValidationError", "None"));
    const err = await store
      .updateJob(job(), job({ state: "F" }), { time: 1, jobId: "1.casper", type: "E", data: {} })
      .catch((e) => e);
    expect(err.code).toBe("JobTooLarge");
    expect(ddb.commandCalls(TransactWriteCommand)).toHaveLength(1);
  });

  it("only real conflicts are retried by mutateJob, re-reading each time", async () => {
    ddb.on(QueryCommand).resolves({ Items: [{ pk: "JOB#1", sk: "A", ...job() }] });
    ddb.on(UpdateCommand).rejects(conditionFailed());
    const err = await hold().catch((e) => e);
    expect(err).toBeInstanceOf(ConflictError);
    expect(err.message).toMatch(/changing too fast/);
    expect(ddb.commandCalls(UpdateCommand)).toHaveLength(3);
    expect(ddb.commandCalls(QueryCommand)).toHaveLength(3);
  });
});

describe("the API's answer to each error", () => {
  it("a StoreError keeps its status, PBS message and exit code", () => {
    const r = errorResult(classifyStoreError(tooBig(), "x", "qrls of 1.casper"));
    expect(r.statusCode).toBe(413);
    expect(JSON.parse(String(r.body)).error).toMatchObject({ code: "JobTooLarge", exitCode: 166 });
  });

  it("an unexpected error is a 500 naming the request, never its text or stack", () => {
    const r = errorResult(new Error("secret internals at /var/task/x.js:12"), "req-123");
    expect(r.statusCode).toBe(500);
    expect(String(r.body)).not.toMatch(/secret|x\.js/);
    expect(JSON.parse(String(r.body)).error).toEqual({
      code: "Internal",
      message: "internal server error (request req-123)",
      requestId: "req-123",
    });
  });
});

describe("job size", () => {
  it("counts names and values as DynamoDB does, erring upwards", () => {
    expect(itemSize({ a: "xyz" })).toBe(4);
    expect(itemSize({ ab: 12345 })).toBe(2 + 4);
    expect(itemSize({ t: true, n: null, u: undefined })).toBe(4);
    expect(itemSize({ m: { k: "v" } })).toBe(1 + 3 + 1 + 1 + 1);
    expect(itemSize({ l: ["ab", "c"] })).toBe(1 + 3 + 3 + 2);
    expect(itemSize({ s: "é" })).toBe(3);
  });

  it("refuses a job over maxJobBytes with the sizes that make it up", () => {
    const ctx = {
      store: { jobItemBytes: (j: JobRecord) => itemSize(jobItem(j)) },
      settings: DEFAULT_SETTINGS,
    };
    const big = job({ env: { BIG: "x".repeat(400 * 1024) } });
    let err: unknown;
    try {
      checkJobSize(ctx as unknown as SiteContext, big, "Job");
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: "JobTooLarge", status: 413, exitCode: 166 });
    expect((err as Error).message).toMatch(
      /^Job too large: 40\d KB \(script 1 KB, variables 401 KB\); the limit is 300 KB$/,
    );
    expect(() => checkJobSize(ctx as unknown as SiteContext, job(), "Job")).not.toThrow();
  });

  it("keeps a job's trace bounded in bytes and in length, newest kept", () => {
    let hist = withTrace([], { time: 0, source: "S", message: "Job Queued" });
    for (let i = 1; i <= 500; i++)
      hist = withTrace(hist, { time: i, source: "S", message: `m${i} ${"y".repeat(2000)}` });
    const bytes = hist.reduce((n, e) => n + Buffer.byteLength(e.message), 0);
    expect(bytes).toBeLessThanOrEqual(MAX_TRACE_BYTES);
    expect(hist.at(-1)?.message.startsWith("m500 ")).toBe(true);
    expect(hist.every((e) => e.message.length <= 1024)).toBe(true);
    expect(hist.length).toBeLessThanOrEqual(100);
  });
});
