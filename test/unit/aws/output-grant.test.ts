/**
 * Output grants (issue 12 point 2): the server presigns PUT URLs for exactly one run's output
 * keys, and the MOM, which has no S3 right, uploads through them. A real HTTP server stands in
 * for S3 and checks each URL's SigV4 signature as S3 does: the URL names the job's own key,
 * a snapshot's `partial` metadata is signed in, and an expired URL, or one re-pointed at
 * another job's key or stripped of its metadata, is refused.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  channelRenewer,
  GRANT_RENEW_BEFORE_MS,
  GrantUnavailableError,
  OutputPutError,
  putOutput,
  RunOutputGrant,
} from "../../../infra/mom/output-upload.js";
import { GRANT_TTL_MS, S3OutputGranter } from "../../../shared/adapters/s3/output-grant.js";
import type { OutputGrant } from "../../../shared/ports/index.js";
import { type FakeS3, startFakeS3 } from "../../fixtures/fake-s3.js";
import { tempDir } from "../exec/helpers.js";

const work = tempDir("output-grant");
const credentials = { accessKeyId: "AKTEST", secretAccessKey: "secret", sessionToken: "tok" };
let fake: FakeS3;
const granterAt = (now: () => number = Date.now, ttlMs?: number, creds = credentials) =>
  new S3OutputGranter("out", {
    region: "eu-west-1",
    endpoint: fake.endpoint,
    forcePathStyle: true,
    credentials: creds,
    now,
    ttlMs,
  });

beforeAll(async () => {
  fake = await startFakeS3({ bucket: "out", region: "eu-west-1", credentials });
});
afterAll(async () => {
  await fake?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

const file = (name: string, text: string) => {
  const p = path.join(work, name);
  fs.writeFileSync(p, text);
  return p;
};
const urlOf = (g: OutputGrant, partial: boolean) =>
  new URL(g.puts.find((p) => p.partial === partial)?.url ?? "");

describe("S3OutputGranter (presigned PUTs of one run's output)", () => {
  it("signs a PUT of the job's own key per file, the snapshot's with partial metadata, for its lifetime", async () => {
    const t0 = Date.now();
    const g = await granterAt().grant("41.casper", 2, ["job.o41", "job.e41", "job.o41"]);
    expect(g).toMatchObject({ jobId: "41.casper", runCount: 2 });
    expect(g.puts.map((p) => [p.name, p.partial])).toEqual([
      ["job.o41", false],
      ["job.o41", true],
      ["job.e41", false],
      ["job.e41", true],
    ]);
    expect(g.expiresAt).toBeGreaterThanOrEqual(t0 + GRANT_TTL_MS - 1000);
    const end = urlOf(g, false);
    expect(end.pathname).toBe("/out/41.casper/job.o41");
    expect(end.searchParams.get("x-id")).toBe("PutObject");
    expect(end.searchParams.get("X-Amz-Expires")).toBe(String(GRANT_TTL_MS / 1000));
    expect(end.searchParams.get("X-Amz-SignedHeaders")).toBe("host");
    expect(end.searchParams.get("X-Amz-Security-Token")).toBe("tok");
    expect(end.searchParams.has("x-amz-meta-partial")).toBe(false);
    expect(urlOf(g, true).searchParams.get("x-amz-meta-partial")).toBe("1");
    // nothing for the MOM to add: what is signed is in the URL
    expect(g.puts.every((p) => Object.keys(p.headers).length === 0)).toBe(true);
  });

  it("refuses names that are paths, and more than stdout and stderr twice over", async () => {
    const g = granterAt();
    await expect(g.grant("1.casper", 1, ["../2.casper/x"])).rejects.toBeInstanceOf(RangeError);
    await expect(g.grant("1.casper", 1, ["a", "b", "c", "d", "e"])).rejects.toBeInstanceOf(RangeError);
  });

  it("never outlives the credentials that sign it", async () => {
    const expiration = new Date(Date.now() + 10 * 60_000);
    const g = await granterAt(Date.now, undefined, {
      ...credentials,
      expiration,
    } as typeof credentials).grant("42.casper", 1, ["o"]);
    expect(g.expiresAt).toBeLessThanOrEqual(expiration.getTime());
    expect(Number(urlOf(g, false).searchParams.get("X-Amz-Expires"))).toBeLessThanOrEqual(600);
  });
});

describe("the MOM's uploads through its grant", () => {
  it("PUTs the whole file to the granted URL; a snapshot is stored partial, the end's upload not", async () => {
    const out = file("job.o43", "line 1\n");
    const grant = new RunOutputGrant(await granterAt().grant("43.casper", 1, ["job.o43"]));
    await putOutput(grant, out, undefined, { partial: true });
    expect(fake.objects.get("43.casper/job.o43")).toEqual({ body: "line 1\n", meta: { partial: "1" } });
    fs.appendFileSync(out, "line 2\n");
    await putOutput(grant, out, undefined);
    expect(fake.objects.get("43.casper/job.o43")).toEqual({ body: "line 1\nline 2\n", meta: {} });
  });

  it("an expired URL is refused by S3 (403), and the MOM says so", async () => {
    const out = file("job.o44", "late\n");
    // signed two hours ago for one hour
    const old = await granterAt(() => Date.now() - 2 * 3600_000, 3600_000).grant("44.casper", 1, ["job.o44"]);
    const err = await putOutput(new RunOutputGrant(old), out, undefined).catch((e) => e);
    expect(err).toBeInstanceOf(OutputPutError);
    expect(err.status).toBe(403);
    expect(fake.objects.has("44.casper/job.o44")).toBe(false);
  });

  it("a URL re-pointed at another job's key, or stripped of its partial metadata, does not verify", async () => {
    const out = file("job.o45", "mine\n");
    const g = await granterAt().grant("45.casper", 1, ["job.o45"]);
    const steal = (p: OutputGrant["puts"][number]) => ({
      ...p,
      url: p.url.replace("/45.casper/", "/46.casper/"),
    });
    const stripped = (p: OutputGrant["puts"][number]) => ({
      ...p,
      url: p.url.replace("x-amz-meta-partial=1&", ""),
    });
    for (const [how, partial] of [
      [steal, false],
      [stripped, true],
    ] as const) {
      const bent = new RunOutputGrant({ ...g, puts: g.puts.map(how) });
      const err = await putOutput(bent, out, undefined, { partial }).catch((e) => e);
      expect(err).toBeInstanceOf(OutputPutError);
      expect(err.message).toMatch(/403 SignatureDoesNotMatch/);
    }
    expect(fake.objects.has("46.casper/job.o45")).toBe(false);
    expect(fake.objects.has("45.casper/job.o45")).toBe(false);
  });

  it("renews a grant nearing its expiry, or lacking a name, once for concurrent PUTs", async () => {
    let now = Date.now();
    const granter = granterAt(() => now);
    const asked: string[][] = [];
    const renew = async (jobId: string, runCount: number, names: string[]) => {
      asked.push(names);
      return granter.grant(jobId, runCount, names);
    };
    const grant = new RunOutputGrant(
      await granter.grant("47.casper", 3, ["job.o47", "job.e47"]),
      renew,
      () => now,
    );
    const o = file("job.o47", "o\n");
    const e = file("job.e47", "e\n");
    await Promise.all([putOutput(grant, o, undefined), putOutput(grant, e, undefined)]);
    expect(asked).toEqual([]);
    // within the renewal margin: one request for both streams
    now += GRANT_TTL_MS - GRANT_RENEW_BEFORE_MS + 1000;
    await Promise.all([putOutput(grant, o, undefined), putOutput(grant, e, undefined)]);
    expect(asked).toEqual([["job.o47", "job.e47"]]);
    // delivered under another name (an -o naming a directory): asked for with the others
    const moved = file("STDIN.o47", "x\n");
    await putOutput(grant, moved, undefined);
    expect(asked[1]).toEqual(["job.o47", "job.e47", "STDIN.o47"]);
    expect(fake.objects.get("47.casper/STDIN.o47")?.body).toBe("x\n");
  });

  it("a channel that never answers does not hold up an upload: the URL still valid serves, an expired one fails", async () => {
    const never = () => new Promise<never>(() => {});
    const renew = channelRenewer(never, "key", "ecs:48:1", 200);
    let now = Date.now();
    const g = await granterAt(() => now).grant("48.casper", 1, ["job.o48"]);
    const out = file("job.o48", "x\n");
    // within the renewal margin but not expired: renewal times out, the old URL is used
    now += GRANT_TTL_MS - 60_000;
    await putOutput(new RunOutputGrant(g, renew, () => now), out, undefined);
    expect(fake.objects.get("48.casper/job.o48")?.body).toBe("x\n");
    // expired and no renewal: the upload fails, in bounded time
    const t0 = Date.now();
    const err = await putOutput(new RunOutputGrant(g, renew, () => now + 120_000), out, undefined).catch(
      (e) => e,
    );
    expect(err).toBeInstanceOf(GrantUnavailableError);
    expect(Date.now() - t0).toBeLessThan(2000);
  });
});
