/**
 * The S3 OutputReader: a job's output as its ECS MOM uploaded it, served by the API with the
 * local rule (owner, operator, manager; nobody else), bound to the job's own prefix. S3 has no
 * local engine here, so the client is mocked (aws-sdk-client-mock).
 */
import {
  GetObjectCommand,
  type GetObjectCommandOutput,
  HeadObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { mockClient } from "aws-sdk-client-mock";
import { beforeEach, describe, expect, it } from "vitest";
import { outputKey, s3OutputReader } from "../../../shared/adapters/s3/output-reader.js";
import { type MemorySite, memorySite, startJob } from "../../fixtures/memory-site.js";

const BUCKET = "metaqueue-casper-output";
const s3 = new S3Client({ region: "us-east-1" });
const mock = mockClient(s3);

/** the bucket's objects: key -> text */
let objects: Map<string, string>;
/** the keys whose object is a running job's snapshot (x-amz-meta-partial: 1), and when it was put */
let snapshots: Map<string, Date>;
/** GETs to fail with 412 (the object replaced since the HEAD) before answering */
let replacedGets: number;

const s3Error = (name: string, status: number) =>
  new S3ServiceException({ name, $fault: "client", $metadata: { httpStatusCode: status }, message: name });

beforeEach(() => {
  objects = new Map();
  snapshots = new Map();
  replacedGets = 0;
  mock.reset();
  mock.on(HeadObjectCommand).callsFake(({ Bucket, Key }) => {
    if (Bucket !== BUCKET) throw s3Error("AccessDenied", 403);
    const o = objects.get(Key);
    if (o === undefined) throw s3Error("NotFound", 404);
    const at = snapshots.get(Key);
    return {
      ContentLength: Buffer.byteLength(o),
      ETag: `"${o.length}"`,
      ...(at && { Metadata: { partial: "1" }, LastModified: at }),
    };
  });
  mock.on(GetObjectCommand).callsFake(({ Key, Range }) => {
    const o = objects.get(Key);
    if (o === undefined) throw s3Error("NoSuchKey", 404);
    if (replacedGets > 0) {
      replacedGets--;
      throw s3Error("PreconditionFailed", 412);
    }
    const [, a, b] = /^bytes=(\d+)-(\d+)$/.exec(Range ?? "") ?? [];
    const bytes = Buffer.from(o).subarray(Number(a), Number(b) + 1);
    // the part of the SDK's stream body the reader uses
    const Body = { transformToString: async (enc?: string) => bytes.toString(enc as BufferEncoding) };
    return { Body } as unknown as GetObjectCommandOutput;
  });
});

describe("s3OutputReader", () => {
  const reader = () => s3OutputReader(s3, BUCKET);

  it("reads the tail, or from an offset, with one ranged GET of at most max bytes", async () => {
    objects.set("7.casper/run.o7", "line 1\nline 2\nline 3\n");
    expect(await reader().tail("alice", "/scratch/home/alice/run.o7", undefined, 7, "7.casper")).toEqual({
      exists: true,
      size: 21,
      offset: 14,
      text: "line 3\n",
    });
    const get = mock.commandCalls(GetObjectCommand)[0].args[0].input;
    expect(get).toMatchObject({
      Bucket: BUCKET,
      Key: "7.casper/run.o7",
      Range: "bytes=14-20",
      IfMatch: '"21"',
    });
    expect(await reader().tail("alice", "/home/alice/run.o7", 7, 100, "7.casper")).toMatchObject({
      offset: 7,
      text: "line 2\nline 3\n",
    });
    // a from past the end: the file was rewritten (a rerun), read from 0
    expect(await reader().tail("alice", "/home/alice/run.o7", 500, 6, "7.casper")).toMatchObject({
      offset: 0,
      text: "line 1",
    });
    // at the end: nothing more, and no GET
    mock.resetHistory();
    expect(await reader().tail("alice", "/home/alice/run.o7", 21, 6, "7.casper")).toEqual({
      exists: true,
      size: 21,
      offset: 21,
      text: "",
    });
    expect(mock.commandCalls(GetObjectCommand)).toHaveLength(0);
  });

  it("stays under the job's own prefix, whatever the file is named", async () => {
    expect(outputKey("7.casper", "/home/alice/../../8.casper/run.o8")).toBe("7.casper/run.o8");
    expect(outputKey("7.casper", "run.o7")).toBe("7.casper/run.o7");
    objects.set("8.casper/secret.o8", "not yours");
    expect(await reader().tail("alice", "../8.casper/secret.o8", undefined, 100, "7.casper")).toEqual({
      exists: false,
    });
  });

  it("says missing, denied or failed as the port's refusals", async () => {
    expect(await reader().tail("alice", "/x/none.o1", undefined, 10, "1.casper")).toEqual({ exists: false });
    const denied = await s3OutputReader(s3, "another-bucket").tail(
      "alice",
      "/x/a.o1",
      undefined,
      10,
      "1.casper",
    );
    expect(denied).toMatchObject({ exists: false, refused: "denied" });
    mock.on(HeadObjectCommand).rejects(s3Error("SlowDown", 503));
    expect(await reader().tail("alice", "/x/a.o1", undefined, 10, "1.casper")).toMatchObject({
      exists: false,
      refused: "error",
    });
    expect(await reader().tail("alice", "/x/a.o1", undefined, 10)).toMatchObject({ refused: "error" });
  });
});

describe("the API serves output from S3 as locally", () => {
  let s: MemorySite;
  beforeEach(async () => {
    s = await memorySite();
    s.ctx.output = s3OutputReader(s3, BUCKET);
  });

  it("to the owner and a manager, not to another user; 404 before anything was uploaded", async () => {
    const j = await startJob(s, "alice");
    const path = `/v1/jobs/${j.id}/output`;
    let r = await s.api("GET", path, { as: "alice" });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ jobId: j.id, exists: false, running: true });
    objects.set(outputKey(j.id, j.outPath), "hello from the task\n");
    r = await s.api("GET", path, { as: "alice" });
    expect(r.body).toMatchObject({ exists: true, text: "hello from the task\n", path: j.outPath });
    expect((await s.api("GET", path, { as: "root" })).body.text).toBe("hello from the task\n");
    expect((await s.api("GET", path, { as: "bob" })).status).toBe(403);
  });

  it("a running job's snapshot is served marked partial, with its time; the end's upload is not", async () => {
    const j = await startJob(s, "alice");
    const path = `/v1/jobs/${j.id}/output`;
    const key = outputKey(j.id, j.outPath);
    const at = new Date(Date.UTC(2026, 11, 3, 7, 0, 0));
    objects.set(key, "step 1\n");
    snapshots.set(key, at);
    // replaced by the next snapshot between the HEAD and the GET: measured again, not a 500
    replacedGets = 1;
    let r = await s.api("GET", path, { as: "alice" });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({
      exists: true,
      text: "step 1\n",
      running: true,
      partial: true,
      asOf: at.getTime(),
    });
    expect((await s.api("GET", path, { as: "root" })).body.partial).toBe(true);
    expect((await s.api("GET", path, { as: "bob" })).status).toBe(403);
    // the end's upload replaces it, without the marker
    objects.set(key, "step 1\nstep 2\n");
    snapshots.delete(key);
    r = await s.api("GET", path, { as: "alice" });
    expect(r.body).toMatchObject({ text: "step 1\nstep 2\n", partial: false, asOf: null });
  });
});
