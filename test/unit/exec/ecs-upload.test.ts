/**
 * The ECS MOM uploads a job's output before its obituary: whatever the job left at those paths
 * (a FIFO, a link) must neither hang it nor be followed. It PUTs to the run's presigned URLs;
 * a real HTTP server checking their signatures stands in for S3 (no local S3).
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { uploadOutputs } from "../../../infra/mom/ecs.js";
import { RunOutputGrant } from "../../../infra/mom/output-upload.js";
import { outputNames, type S3OutputGranter } from "../../../shared/adapters/s3/output-grant.js";
import { lookupOsUser } from "../../../shared/auth/os-user.js";
import type { JobRunSpec } from "../../../shared/ports/index.js";
import { type FakeS3, startFakeS3Granter } from "../../fixtures/fake-s3.js";
import { makeSpec, tempDir } from "./helpers.js";

const work = tempDir("ecs-upload");
let fake: FakeS3;
let granter: S3OutputGranter;
beforeAll(async () => {
  ({ fake, granter } = await startFakeS3Granter("b"));
});
afterAll(async () => {
  await fake?.stop();
  fs.rmSync(work, { recursive: true, force: true });
});

/** The run's grant as its dispatch carries it, and what the stand-in S3 holds of its job. */
async function stubS3(spec: JobRunSpec) {
  const grant = new RunOutputGrant(await granter.grant(spec.jobId, spec.runCount, outputNames(spec)));
  const put = () =>
    Object.fromEntries(
      [...fake.objects].filter(([k]) => k.startsWith(`${spec.jobId}/`)).map(([k, o]) => [k, o.body]),
    );
  return { grant, put };
}

describe("uploadOutputs (ECS MOM)", () => {
  it("uploads regular files, and neither follows a link nor blocks on a FIFO", async () => {
    const target = path.join(work, "task-secret");
    fs.writeFileSync(target, "SECRET\n");
    const link = path.join(work, "out.o1");
    fs.symlinkSync(target, link);
    const fifo = path.join(work, "err.e1");
    execFileSync("mkfifo", [fifo]);
    // should a regression block in open(), a thread opens the FIFO's other end after 3 s
    const safety = new Worker(
      `const fs = require("node:fs"); const { workerData: p } = require("node:worker_threads");
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
       try { fs.closeSync(fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)); } catch {}`,
      { eval: true, workerData: fifo },
    );
    const logs: string[] = [];
    const bad = makeSpec(work, "", { stdoutPath: link, stderrPath: fifo });
    const { grant, put } = await stubS3(bad);
    const t0 = Date.now();
    await uploadOutputs(bad, grant, (l) => logs.push(l));
    const took = Date.now() - t0;
    await safety.terminate();
    expect(took).toBeLessThan(2000);
    expect(put()).toEqual({});
    expect(logs.join("\n")).toMatch(/could not upload .*out\.o1/);
    expect(logs.join("\n")).toMatch(/could not upload .*err\.e1 .*not a regular file/);

    const plain = makeSpec(work, "");
    fs.writeFileSync(plain.stdoutPath, "hello\n");
    fs.writeFileSync(plain.stderrPath as string, "");
    const ok = await stubS3(plain);
    await uploadOutputs(plain, ok.grant, () => {});
    expect(ok.put()).toEqual({
      [`${plain.jobId}/${path.basename(plain.stdoutPath)}`]: "hello\n",
      [`${plain.jobId}/${path.basename(plain.stderrPath as string)}`]: "",
    });
  });

  const nobody = lookupOsUser("nobody");
  it.skipIf(process.getuid?.() !== 0 || !nobody)(
    "opens the files as the job's account: a file only root may read is not uploaded by the root MOM",
    async () => {
      fs.chmodSync(work, 0o755);
      const d = path.join(work, "as-job");
      fs.mkdirSync(d, { mode: 0o755 });
      const spec = makeSpec(d, "");
      fs.writeFileSync(spec.stdoutPath, "root only\n", { mode: 0o600 });
      fs.writeFileSync(spec.stderrPath as string, "anyone\n", { mode: 0o644 });
      const logs: string[] = [];
      const { grant, put } = await stubS3(spec);
      await uploadOutputs(spec, grant, (l) => logs.push(l), nobody);
      expect(put()).toEqual({ [`${spec.jobId}/${path.basename(spec.stderrPath as string)}`]: "anyone\n" });
      expect(logs.join("\n")).toMatch(/could not upload .*EACCES/);
      // the MOM is root again afterwards
      expect(process.geteuid?.()).toBe(0);
    },
  );
});
