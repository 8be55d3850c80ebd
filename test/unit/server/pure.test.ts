/** The server's pure parts: request parameters, index attributes, dependency rules, identity. */
import type { APIGatewayProxyEventV2 } from "aws-lambda";
import { describe, expect, it } from "vitest";
import {
  claimsAuthenticator,
  groupsClaim,
  hashToken,
  tokenAuthenticator,
} from "../../../shared/api/identity.js";
import { edgeOutcome } from "../../../shared/server/depend-rules.js";
import type { JobRecord } from "../../../shared/server/job.js";
import { keyOfId, seqOfId } from "../../../shared/server/mutate.js";
import { indexAttrs } from "../../../shared/adapters/dynamodb/indexes.js";
import { buildJobUpdate } from "../../../shared/adapters/dynamodb/items.js";
import { unpack } from "../../../shared/adapters/dynamodb/job-pack.js";
import { jobRecord } from "../../fixtures/job.js";

const job: JobRecord = jobRecord(7, { name: "j", outPath: "/tmp/j.o7", errPath: "/tmp/j.e7", ver: 3 });

describe("index attributes follow the state", () => {
  it("puts a queued job in the ready and list indexes only", () => {
    const a = indexAttrs(job);
    expect(a.rdy).toBe("workq#3");
    expect(a.run).toBeUndefined();
    expect(a.lst).toBe("A#workq");
  });
  it("moves a running job to the run index and a finished one to history", () => {
    const r = indexAttrs({ ...job, state: "R" });
    expect([r.run, r.rdy]).toEqual(["default", undefined]);
    expect(indexAttrs({ ...job, state: "H" }).rdy).toBeUndefined();
    const f = indexAttrs({ ...job, state: "F" });
    expect([f.lst, f.rdy, f.run]).toEqual(["F#workq", undefined, undefined]);
  });
  it("orders the ready index by priority, then qtime, then seq", () => {
    const hi = indexAttrs({ ...job, priority: 10, qtime: 5 }).rdySk as string;
    const lo = indexAttrs({ ...job, priority: 0, qtime: 1 }).rdySk as string;
    const later = indexAttrs({ ...job, priority: 0, qtime: 2 }).rdySk as string;
    expect(hi < lo).toBe(true);
    expect(lo < later).toBe(true);
  });
});

describe("buildJobUpdate", () => {
  it("sets what changed, removes what was cleared, moves index keys, and guards on ver", () => {
    const running: JobRecord = { ...job, state: "R", stime: 9, execHost: "n1/0", comment: undefined };
    const u = buildJobUpdate("tbl", { ...job, comment: "waiting" }, running);
    expect(u.ConditionExpression).toBe("#ver = :ver");
    expect(u.ExpressionAttributeValues?.[":ver"]).toBe(3);
    const names = u.ExpressionAttributeNames as Record<string, string>;
    const values = u.ExpressionAttributeValues as Record<string, unknown>;
    const setFields = Object.entries(names)
      .filter(([k]) => u.UpdateExpression?.includes(`${k} = :`))
      .map(([, v]) => v);
    expect(setFields).toEqual(expect.arrayContaining(["state", "stime", "z", "run", "runSk"]));
    // execHost and comment are cold fields: packed in `z` (job-pack.ts), rebuilt from `after`
    const z = Object.entries(names).find(([, v]) => v === "z")?.[0] as string;
    const packed = unpack(values[`:v${z.slice(2)}`] as Uint8Array);
    expect(packed).toMatchObject({ execHost: "n1/0" });
    expect(packed).not.toHaveProperty("comment");
    const removed = (u.UpdateExpression?.split(" REMOVE ")[1] ?? "").split(", ").map((k) => names[k]);
    expect(removed).toEqual(expect.arrayContaining(["comment", "execHost", "rdy", "rdySk"]));
    expect(Object.values(values)).toContain("R");
    expect(u.UpdateExpression).toContain("#ver = #ver + :one");
    expect(u.Key).toEqual({ pk: "JOB#7", sk: "A" });
  });
  it("never writes the key, the id or the version directly", () => {
    const u = buildJobUpdate("tbl", job, { ...job, name: "renamed" });
    expect(Object.values(u.ExpressionAttributeNames ?? {})).not.toContain("pk");
    expect(Object.values(u.ExpressionAttributeNames ?? {}).filter((n) => n === "ver")).toHaveLength(1);
  });
});

describe("dependency rules", () => {
  const ended = (exitStatus?: number, stime?: number) => ({ state: "F" as const, exitStatus, stime });
  it("decides afterok, afternotok, afterany and after like PBS", () => {
    expect(edgeOutcome("afterok", ended(0, 1))).toBe("satisfied");
    expect(edgeOutcome("afterok", ended(1, 1))).toBe("unsatisfiable");
    expect(edgeOutcome("afternotok", ended(1, 1))).toBe("satisfied");
    expect(edgeOutcome("afternotok", ended(0, 1))).toBe("unsatisfiable");
    expect(edgeOutcome("afterany", ended(7, 1))).toBe("satisfied");
    expect(edgeOutcome("afterok", { state: "R", stime: 1 })).toBe("pending");
    expect(edgeOutcome("after", { state: "R", stime: 1 })).toBe("satisfied");
    expect(edgeOutcome("after", { state: "Q" })).toBe("pending");
    // deleted before it ran: never started, never ok
    expect(edgeOutcome("after", ended(undefined))).toBe("unsatisfiable");
    expect(edgeOutcome("afterok", ended(undefined))).toBe("unsatisfiable");
  });
});

describe("identity", () => {
  const ev = (headers: Record<string, string>, claims?: Record<string, unknown>) =>
    ({
      headers,
      requestContext: { authorizer: claims ? { jwt: { claims } } : undefined },
    }) as unknown as APIGatewayProxyEventV2;
  it("AWS: takes the user and groups from the authorizer's claims, never from a header", async () => {
    const auth = claimsAuthenticator();
    expect(await auth(ev({}, { pbs_user: "alice", "cognito:groups": "[ncar admins]" }))).toEqual({
      user: "alice",
      groups: ["ncar", "admins"],
    });
    await expect(auth(ev({ "x-metaqueue-user": "mallory" }))).rejects.toMatchObject({ status: 401 });
    await expect(auth(ev({}, { pbs_user: "a b;rm" }))).rejects.toMatchObject({ status: 401 });
    expect(groupsClaim(["x", "../y"])).toEqual(["x"]);
  });
  it("local: a bearer token known by its hash", async () => {
    const known = hashToken("tok-alice-0123456789abcdef0123456789");
    const auth = tokenAuthenticator((h) => (h === known ? { user: "alice", groups: [] } : undefined));
    expect((await auth(ev({ authorization: "Bearer tok-alice-0123456789abcdef0123456789" }))).user).toBe(
      "alice",
    );
    await expect(auth(ev({ authorization: "Bearer forged" }))).rejects.toMatchObject({ status: 401 });
    await expect(auth(ev({ "x-metaqueue-user": "alice" }))).rejects.toMatchObject({ status: 401 });
    await expect(auth(ev({ authorization: `Bearer ${"a".repeat(300)}` }))).rejects.toMatchObject({
      status: 401,
    });
  });
});

describe("job ids to keys", () => {
  it("strips the server suffix, keeps array indices", () => {
    expect(keyOfId("12.casper", "casper")).toBe("12");
    expect(keyOfId("12[3].casper", "casper")).toBe("12[3]");
    expect(keyOfId("12", "casper")).toBe("12");
  });
  it("keys a job from another origin apart from this site's and from other origins'", () => {
    // a job keeps its origin's ID (103.casper) at derecho: not derecho's own 103, nor gust's
    expect(keyOfId("103.casper", "derecho")).toBe("103@casper");
    expect(keyOfId("103.gust", "derecho")).toBe("103@gust");
    expect(keyOfId("103.derecho", "derecho")).toBe("103");
    expect(keyOfId("12[3].casper", "derecho")).toBe("12[3]@casper");
    expect(seqOfId("103.casper")).toBe("103");
    expect(seqOfId("12[3].casper")).toBe("12");
  });
});

describe("the wait index (repair sweep)", () => {
  it("holds a job while it waits on parents or, as an array under way, on its subjobs", () => {
    expect(indexAttrs(job).wt).toBeUndefined();
    const held = indexAttrs({ ...job, state: "H", depPending: ["6.casper"] });
    expect([held.wt, held.wtSk]).toEqual(["W", "000000000007"]);
    expect(indexAttrs({ ...job, state: "F", depPending: ["6.casper"] }).wt).toBeUndefined();
    const array = { range: "1-2", indices: [1, 2], next: 2, running: 2, done: 0, failed: 0 };
    expect(indexAttrs({ ...job, state: "B", array }).wt).toBe("W");
    expect(indexAttrs({ ...job, state: "F", array }).wt).toBeUndefined();
    expect(indexAttrs({ ...job, state: "R", parentKey: "7", arrayIndex: 1 }).wt).toBeUndefined();
  });
  it("a release moves the job out of it in the same write", () => {
    const held: JobRecord = { ...job, state: "H", holds: "s", depPending: ["6.casper"] };
    const u = buildJobUpdate("tbl", held, { ...held, state: "Q", holds: "", depPending: undefined });
    const names = Object.values(u.ExpressionAttributeNames as Record<string, string>);
    expect(names).toEqual(expect.arrayContaining(["wt", "wtSk"]));
    expect(u.UpdateExpression).toMatch(/REMOVE .*#f\d+/);
  });
});

describe("fault injection (tests only)", () => {
  it("is never active unless METAQUEUE_FAULT names a known fault", async () => {
    const { faultFromEnv } = await import("../../../lambdas/fault.js");
    expect(faultFromEnv({})).toBeUndefined();
    expect(faultFromEnv({ METAQUEUE_FAULT: "kill-everything" })).toBeUndefined();
    expect(faultFromEnv({ METAQUEUE_FAULT: "kill-after-end" })).toBeDefined();
    expect(faultFromEnv({ METAQUEUE_FAULT: "kill-after-end:2" })).toBeDefined();
  });
});
