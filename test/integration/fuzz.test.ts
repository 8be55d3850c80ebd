/**
 * Hostile input against the live local API and a peer inbox (fast-check): malformed,
 * oversized and unauthenticated requests must each get a 4xx with a message, the server must
 * stay up, and no job may appear or change. Bounded in count and time for `npm test`.
 */
import { SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { rejectedPeerMessages } from "../../shared/peers/inbox.js";
import { sealPeerMessage } from "../../shared/peers/messages.js";
import { type Stack, startStack, twoSiteConfig } from "./helpers.js";

const config = twoSiteConfig;

let s: Stack;
let token: string;
let url: string;
let existing: string;

/** Every job of the site with its version: what "unchanged" means. */
async function snapshot(): Promise<string> {
  const store = s.mq.sites[0].ctx.store;
  // the list index holds no ver (it changes at every write): the records come from the table
  const listed = [...(await store.listJobs("casper", false)), ...(await store.listJobs("casper", true))];
  const jobs = [...(await store.getJobs(listed.map((j) => j.key))).values()].map(
    (j) => `${j.id}:${j.ver}:${j.state}`,
  );
  return jobs.sort().join(",");
}

beforeAll(async () => {
  s = await startStack(undefined, config);
  token = (await import("node:fs")).readFileSync(s.credential, "utf8").trim();
  url = s.mq.sites[0].url;
  const r = await s.cli("qsub", ["-h"], { input: "sleep 60\n" });
  existing = r.stdout.trim();
  expect(existing).toMatch(/^\d+\.casper$/);
}, 90_000);
afterAll(async () => {
  await s?.mq.stop();
});

const big = (n: number) => fc.constant("x".repeat(n));
const junk = fc.oneof(
  fc.string({ maxLength: 40 }),
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string({ maxLength: 8 }), { maxLength: 5 }),
  fc.dictionary(fc.string({ maxLength: 8 }), fc.string({ maxLength: 8 }), { maxKeys: 4 }),
  big(300_000),
  fc.constant("a\u0000b"),
  fc.constant("../../etc/passwd"),
  fc.constant("$(rm -rf /); `id`"),
  fc.constant("#ver = :ver OR attribute_exists(pk)"),
);

/** A submit body that breaks the schema in one way. */
const badSubmit = fc.oneof(
  fc.record({ script: junk.filter((v) => typeof v !== "string"), submitDir: fc.constant("/tmp") }),
  fc.record({ script: fc.constant("true"), submitDir: fc.constant("/tmp"), extra: junk }),
  fc.record({ script: big(1_100_000), submitDir: fc.constant("/tmp") }),
  fc.record({
    script: fc.constant("true"),
    submitDir: fc.oneof(fc.constant("rel/dir"), fc.constant("/tmp/../etc"), fc.constant("/a\u0000b")),
  }),
  fc.record({
    script: fc.constant("true"),
    submitDir: fc.constant("/tmp"),
    options: fc.oneof(
      fc.record({
        resources: fc.dictionary(fc.constant("bad key;"), fc.string(), { minKeys: 1, maxKeys: 1 }),
      }),
      fc.record({
        arrayRange: fc.oneof(
          fc.constant("0-99999999999"),
          fc.constant("1-20000"),
          fc.string({ maxLength: 70 }),
        ),
      }),
      fc.record({ depend: fc.constant(`afterok:${Array.from({ length: 150 }, (_, i) => i + 1).join(":")}`) }),
      fc.record({ depend: fc.string({ minLength: 1, maxLength: 50 }).map((d) => `x${d}`) }),
      fc.record({ priority: fc.oneof(fc.integer({ min: 1024 }), fc.double()) }),
      fc.record({ queue: fc.oneof(big(300), fc.constant("nosuchqueue")) }),
      fc.record({ unknownOption: junk }),
      fc.record({
        variables: fc.constant(Object.fromEntries(Array.from({ length: 1001 }, (_, i) => [`V${i}`, "1"]))),
      }),
    ),
  }),
  fc.string({ maxLength: 60 }), // not JSON at all
);

const jobPath = fc.oneof(
  fc.constant("EXISTING"), // the held job, filled in when sent
  fc.constant("99999"),
  fc.constant("%E0%A4%A"),
  fc.constant("1[].nosuchserver"),
  fc.string({ maxLength: 30 }).map(encodeURIComponent),
  big(400),
);

type Req = { method: string; path: string; body?: string; auth: "valid" | "none" | "forged" | "header" };
const body = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

const request: fc.Arbitrary<Req> = fc.oneof(
  // any route without a valid credential
  fc.record({
    method: fc.constantFrom("GET", "POST", "DELETE", "PATCH"),
    path: fc.constantFrom(
      "/v1/jobs",
      "/v1/server",
      "/v1/queues",
      "/v1/nodes",
      "/v1/qmgr",
      "/v1/jobs/1",
      "/v1/jobs/1/hold",
    ),
    body: fc.option(badSubmit.map(body), { nil: undefined }),
    auth: fc.constantFrom("none", "forged", "header"),
  }),
  fc.record({
    method: fc.constant("POST"),
    path: fc.constant("/v1/jobs"),
    body: badSubmit.map(body),
    auth: fc.constant("valid"),
  }),
  fc.record({
    method: fc.constant("PATCH"),
    path: jobPath.map((j) => `/v1/jobs/${j}`),
    body: fc.oneof(
      junk.map((o) => body({ options: o })),
      fc.constant(body({ options: { queue: "casper" }, x: 1 })),
    ),
    auth: fc.constant("valid"),
  }),
  fc.record({
    method: fc.constant("POST"),
    path: fc
      .tuple(jobPath, fc.constantFrom("hold", "release", "move", "rerun"))
      .map(([j, a]) => `/v1/jobs/${j}/${a}`),
    body: fc.oneof(
      junk.map((h) => body({ holdType: h })),
      junk.map((d) => body({ destination: d, more: 1 })),
    ),
    auth: fc.constant("valid"),
  }),
  fc.record({
    method: fc.constant("POST"),
    path: fc.constant("/v1/qmgr"),
    body: fc.oneof(
      junk.filter((c) => typeof c !== "string").map((c) => body({ command: c })),
      big(70_000).map((c) => body({ command: c })),
      junk.map((c) => body({ command: "list server", c })),
    ),
    auth: fc.constant("valid"),
  }),
  fc.record({
    method: fc.constant("GET"),
    path: fc.oneof(
      fc.string({ maxLength: 20 }).map((k) => `/v1/jobs?${encodeURIComponent(`z${k}`)}=1`),
      fc.constant("/v1/jobs?history=maybe"),
      jobPath.map((j) => `/v1/jobs/${j}?history=2`),
      fc.constant("/v1/queues/%ZZ"),
      fc.constant("/v1/nope"),
    ),
    auth: fc.constant("valid"),
  }),
);

async function send(r: Req): Promise<{ status: number; json: unknown }> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (r.auth === "valid") headers.authorization = `Bearer ${token}`;
  if (r.auth === "forged") headers.authorization = `Bearer ${token.slice(0, -2)}xx`;
  if (r.auth === "header") headers["x-metaqueue-user"] = "root";
  const res = await fetch(`${url}${r.path.replace("EXISTING", existing)}`, {
    method: r.method,
    headers,
    body: r.method === "GET" ? undefined : r.body,
  });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json };
}

describe("hostile input", () => {
  it("answers a few thousand malformed requests with a 4xx and a message, and changes nothing", async () => {
    const before = await snapshot();
    const samples = fc.sample(request, { numRuns: 2500, seed: 4242 });
    const bad: string[] = [];
    const started = Date.now();
    for (let i = 0; i < samples.length; i += 16) {
      await Promise.all(
        samples.slice(i, i + 16).map(async (r) => {
          const res = await send(r);
          const msg = (res.json as { error?: { message?: unknown } } | undefined)?.error?.message;
          if (res.status < 400 || res.status >= 500 || typeof msg !== "string" || msg === "")
            bad.push(
              `${r.method} ${r.path.slice(0, 80)} ${r.auth} ${String(r.body).slice(0, 120)} -> ${res.status} ${JSON.stringify(res.json)?.slice(0, 200)}`,
            );
        }),
      );
    }
    expect(bad.slice(0, 5)).toEqual([]);
    expect(Date.now() - started).toBeLessThan(60_000);
    expect((await fetch(`${url}/health`)).status).toBe(200);
    expect(await snapshot()).toBe(before);
  }, 90_000);

  it("drops malformed, forged and tampered peer messages, counts them, and changes nothing", async () => {
    const before = await snapshot();
    const casper = s.mq.sites[0];
    const inbox = casper.ctx.peers
      ?.get("derecho")
      ?.inboxUrl.replace("derecho-inbox", "casper-inbox") as string;
    const secret = casper.ctx.peers?.get("derecho")?.secret as string;
    const valid = sealPeerMessage(
      "derecho",
      "casper",
      secret,
      {
        type: "DEPEND_RELEASE",
        parentId: "1.derecho",
        childId: existing,
        depType: "afterok",
        outcome: "unsatisfiable",
      },
      Date.now(),
    );
    const tampered = valid.replace("unsatisfiable", "satisfied");
    const bodies = [
      tampered,
      ...fc.sample(
        fc.oneof(
          fc.string({ minLength: 1, maxLength: 200 }),
          fc.json(),
          fc.constant(valid.replace('"v":2', '"v":2,"extra":true')),
          fc.constant(valid.replace('"to":"casper"', '"to":"derecho"')),
          big(200_000).map((b) =>
            JSON.stringify({
              v: 2,
              from: "derecho",
              to: "casper",
              sentAt: Date.now(),
              id: "0".repeat(32),
              body: b,
              sig: "0".repeat(64),
            }),
          ),
        ),
        { numRuns: 199, seed: 7 },
      ),
    ].filter((b) => b.length > 0 && b.length < 250_000);
    const count = () => Object.values(rejectedPeerMessages).reduce((a, b) => a + b, 0);
    const start = count();
    for (let i = 0; i < bodies.length; i += 10) {
      await casper.sqs.send(
        new SendMessageBatchCommand({
          QueueUrl: inbox,
          Entries: bodies.slice(i, i + 10).map((b, k) => ({ Id: String(k), MessageBody: b })),
        }),
      );
    }
    const deadline = Date.now() + 30_000;
    while (count() - start < bodies.length && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 200));
    expect(count() - start).toBe(bodies.length);
    expect(rejectedPeerMessages["bad-signature"]).toBeGreaterThan(0);
    expect(await snapshot()).toBe(before);
    expect(await s.attr(existing, "job_state")).toBe("H");
  }, 60_000);
});
