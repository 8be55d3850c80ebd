/**
 * The MOM push channel end to end in one process: the local gateway (a real `ws` server on a
 * Unix socket) running the channel's route handler, the AWS SDK's management client posting to
 * it, MomLinks as MOMs, the memory store as the connection registry. A forged connect is
 * refused and counted; a MOM that reconnects gets pushes on its new connection; a push to a
 * connection gone meets 410 and ends as MomUnreachableError with the record dropped. A MOM's
 * `grant` request is answered on its connection only for a run it holds (issue 12 point 2).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { makeMomChannelHandler } from "../../../lambdas/handlers.js";
import { ApiGatewayConnections, makeConnectionsClient } from "../../../shared/adapters/channel/apigw.js";
import { MomPusher, MomUnreachableError } from "../../../shared/adapters/channel/push.js";
import { momKey, signReport } from "../../../shared/auth/mom-report.js";
import { MomLink } from "../../../shared/exec/mom-link.js";
import { ConnectionGoneError, type MomPush } from "../../../shared/ports/channel.js";
import { refusedMomConnects } from "../../../shared/server/mom-channel.js";
import { type MomGateway, startMomGateway } from "../../../infra/local/mom-gateway.js";
import { type MemorySite, memorySite } from "../../fixtures/memory-site.js";
import { channelRenewer } from "../../../infra/mom/output-upload.js";
import { refusedGrants } from "../../../shared/server/output-grant.js";
import { type FakeS3, startFakeS3Granter } from "../../fixtures/fake-s3.js";
import { jobRecord } from "../../fixtures/job.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-chan-"));
let s: MemorySite;
let gw: MomGateway;
let pusher: MomPusher;
let conns: ApiGatewayConnections;
const links: MomLink[] = [];

beforeAll(async () => {
  s = await memorySite();
  s.clock.t = Date.now(); // MOMs sign with the real time
  const route = makeMomChannelHandler(s.ctx);
  gw = await startMomGateway({ socketPath: path.join(dir, "gw.sock"), route });
  conns = new ApiGatewayConnections(
    makeConnectionsClient({
      region: "us-east-1",
      endpoint: gw.endpoint,
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    }),
  );
  pusher = new MomPusher(s.store, conns);
});
afterEach(() => {
  for (const l of links.splice(0)) l.close();
});
afterAll(async () => {
  await gw?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** A MOM on the channel, with what it was pushed. */
function mom(momId: string, key = momKey(s.ctx.momSecret as string, momId)) {
  const got: MomPush[] = [];
  const link = new MomLink({ url: gw.wsUrl, momId, key, onPush: (m) => got.push(m), retryMs: 20 });
  links.push(link);
  return { link, got };
}

const until = async (what: string, ok: () => boolean | Promise<boolean>, ms = 5000) => {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`timed out: ${what}`);
};

const kill = (jobId: string): MomPush => ({ type: "kill", jobId, runCount: 1, reason: "qdel" });

describe("the MOM push channel", () => {
  it("records a MOM's connection at connect and delivers pushes on it, in order", async () => {
    const m = mom("n1:aa");
    await m.link.start();
    const rec = await s.store.getMomConnection("n1:aa");
    expect(rec?.connectionId).toBe(gw.connectionIds()[0]);
    for (let i = 0; i < 20; i++) await pusher.push("n1:aa", kill(`${i}.s`));
    await until("20 pushes", () => m.got.length === 20);
    expect(m.got.map((p) => (p as { jobId: string }).jobId)).toEqual(
      Array.from({ length: 20 }, (_, i) => `${i}.s`),
    );
    // one registry read, then the remembered connection
    expect(pusher.counts.lookups).toBe(1);
  });

  it("refuses and counts a connect signed with the wrong key; no connection is recorded", async () => {
    const before = refusedMomConnects["connect:forged"] ?? 0;
    const metric = "MomConnectsRefused|reason=forged,via=channel";
    const counted = s.metrics.totals[metric] ?? 0;
    const forgeries = s.metrics.totals.MomForgeries ?? 0;
    const refusedBefore = gw.counts.refused;
    const evil = mom("n2:ee", momKey("not-the-site-secret", "n2:ee"));
    void evil.link.start();
    await until("refused", () => gw.counts.refused > refusedBefore);
    expect(refusedMomConnects["connect:forged"]).toBe(before + 1);
    expect(s.metrics.totals[metric]).toBe(counted + 1);
    // the one count the forgery alarm watches (infra/aws/constructs/alarms.ts)
    expect(s.metrics.totals.MomForgeries).toBe(forgeries + 1);
    expect(await s.store.getMomConnection("n2:ee")).toBeUndefined();
    await expect(pusher.push("n2:ee", kill("1.s"))).rejects.toBeInstanceOf(MomUnreachableError);
    expect(evil.got).toEqual([]);
  });

  it("refuses a connect without a signature, and a stale one", async () => {
    const before = refusedMomConnects["connect:stale"] ?? 0;
    const old = signReport(
      momKey(s.ctx.momSecret as string, "n3:oo"),
      "n3:oo",
      "connect",
      {},
      Date.now() - 3_600_000,
    );
    const r = await makeMomChannelHandler(s.ctx)({
      requestContext: { routeKey: "$connect", connectionId: "abc" },
      headers: { "x-metaqueue-mom": Buffer.from(JSON.stringify(old)).toString("base64url") },
    });
    expect(r.statusCode).toBe(401);
    expect(refusedMomConnects["connect:stale"]).toBe(before + 1);
    const none = await makeMomChannelHandler(s.ctx)({
      requestContext: { routeKey: "$connect", connectionId: "abd" },
      headers: {},
    });
    expect(none.statusCode).toBe(401);
    expect(await s.store.getMomConnection("n3:oo")).toBeUndefined();
  });

  it("a MOM that reconnects gets pushes on its new connection", async () => {
    const m = mom("n4:rr");
    await m.link.start();
    await pusher.push("n4:rr", kill("a.s"));
    const first = (await s.store.getMomConnection("n4:rr"))?.connectionId;
    m.link.drop(); // a network fault: the link reconnects on its own
    await until("reconnected", async () => {
      const c = (await s.store.getMomConnection("n4:rr"))?.connectionId;
      return c !== undefined && c !== first && m.link.connects === 2;
    });
    const gone = pusher.counts.gone;
    await pusher.push("n4:rr", kill("b.s"));
    // the remembered connection answered 410; the record named the new one, which took it
    expect(pusher.counts.gone).toBe(gone + 1);
    await until("both pushes", () => m.got.length === 2);
    expect(m.got.map((p) => (p as { jobId: string }).jobId)).toEqual(["a.s", "b.s"]);
  });

  it("a push to a connection gone is MomUnreachableError, and the record naming it is dropped", async () => {
    const m = mom("n5:gg");
    await m.link.start();
    const conn = (await s.store.getMomConnection("n5:gg"))?.connectionId as string;
    m.link.close();
    // the gateway lost the connection without a $disconnect (API Gateway does not promise one):
    // put the record back as it was
    await until("closed", () => !gw.connectionIds().includes(conn));
    await s.store.putMomConnection({ momId: "n5:gg", connectionId: conn, at: Date.now() });
    await expect(conns.post(conn, "{}")).rejects.toBeInstanceOf(ConnectionGoneError);
    const err = await pusher.push("n5:gg", kill("c.s")).catch((e) => e);
    expect(err).toBeInstanceOf(MomUnreachableError);
    expect(await s.store.getMomConnection("n5:gg")).toBeUndefined();
  });

  it("forwards a signed report frame to the events queue; a forged one is counted and dropped", async () => {
    const m = mom("n6:ff");
    await m.link.start();
    s.bus.take(s.ctx.queueUrls.events);
    const obit = { type: "obit", jobId: "9.s", runCount: 1, momId: "n6:ff", exitStatus: -3 };
    const key = momKey(s.ctx.momSecret as string, "n6:ff");
    expect(m.link.send({ type: "report", report: signReport(key, "n6:ff", "obit", obit) })).toBe(true);
    const before = refusedMomConnects["report:forged"] ?? 0;
    m.link.send({ type: "report", report: signReport("bad", "n6:ff", "obit", obit) });
    await until("forwarded", () => (refusedMomConnects["report:forged"] ?? 0) === before + 1);
    await new Promise((r) => setTimeout(r, 50));
    const sent = s.bus.take(s.ctx.queueUrls.events).map((b) => JSON.parse(b.body));
    expect(sent).toHaveLength(1);
    expect(sent[0]).toMatchObject({ type: "mom", kind: "obit", momId: "n6:ff", body: obit });
  });
});

describe("output grants on the channel (issue 12 point 2)", () => {
  let fake: FakeS3;
  beforeAll(async () => {
    const started = await startFakeS3Granter("out");
    fake = started.fake;
    s.ctx.outputGrants = started.granter;
    // n7:gg holds run 2 of job 71; job 72 is queued
    await s.store.createJob(jobRecord(71, { state: "R", momId: "n7:gg", runCount: 2 }));
    await s.store.createJob(jobRecord(72, { state: "Q", momId: "n7:gg", runCount: 2 }));
  });
  afterAll(async () => {
    s.ctx.outputGrants = undefined;
    await fake?.stop();
  });

  /** What the MOM does to renew its grant (infra/mom/output-upload.ts), on its own link. */
  const askGrant = async (momId: string, jobId: string, runCount: number, key?: string) => {
    const m = mom(momId);
    await m.link.start();
    const k = key ?? momKey(s.ctx.momSecret as string, momId);
    return channelRenewer(async () => m.link, k, momId)(jobId, runCount, ["j71.o71", "j71.e71"]);
  };

  it("answers the MOM holding the run with URLs for that run's keys, which S3 takes", async () => {
    const g = await askGrant("n7:gg", "71.casper", 2);
    expect(g).toMatchObject({ jobId: "71.casper", runCount: 2 });
    expect(g.puts.map((p) => new URL(p.url).pathname)).toEqual([
      "/out/71.casper/j71.o71",
      "/out/71.casper/j71.o71",
      "/out/71.casper/j71.e71",
      "/out/71.casper/j71.e71",
    ]);
    const put = g.puts[0];
    const res = await fetch(put.url, { method: "PUT", body: "hi\n", headers: put.headers });
    expect(res.status).toBe(200);
    expect(fake.objects.get("71.casper/j71.o71")?.body).toBe("hi\n");
  });

  it("refuses and counts a grant for another MOM's run, an earlier run, a run not running, a forged request", async () => {
    const before = { ...refusedGrants };
    const refused = (p: Promise<unknown>) =>
      p.then(
        () => "granted",
        (e: Error) => `${e.name}: ${e.message}`,
      );
    expect(await refused(askGrant("n8:gg", "71.casper", 2))).toMatch(/GrantRefusedError: .*misdirected/);
    expect(await refused(askGrant("n7:gg", "71.casper", 1))).toMatch(/GrantRefusedError: .*stale/);
    expect(await refused(askGrant("n7:gg", "72.casper", 2))).toMatch(/GrantRefusedError: .*stale/);
    expect(await refused(askGrant("n7:gg", "71.casper", 2, "not-the-key"))).toMatch(
      /GrantRefusedError: .*forged/,
    );
    const grew = (r: string) => (refusedGrants[r] ?? 0) - (before[r] ?? 0);
    expect({ misdirected: grew("misdirected"), stale: grew("stale"), forged: grew("forged") }).toEqual({
      misdirected: 1,
      stale: 2,
      forged: 1,
    });
  });

  it("refuses a grant request signed too long ago (a replay), and one that is not a grant", async () => {
    const m = mom("n7:gg");
    await m.link.start();
    const key = momKey(s.ctx.momSecret as string, "n7:gg");
    const body = { jobId: "71.casper", runCount: 2, names: ["j71.o71"] };
    const old = signReport(key, "n7:gg", "grant", body, Date.now() - 3600_000);
    const isAnswer = (x: MomPush) => x.type === "grant" && x.jobId === "71.casper";
    expect(await m.link.ask({ type: "grant", report: old }, isAnswer)).toMatchObject({ refused: "stale" });
    const obit = signReport(key, "n7:gg", "obit", body);
    expect(await m.link.ask({ type: "grant", report: obit }, isAnswer)).toMatchObject({ refused: "forged" });
  });
});
