/**
 * Every Lambda entry bundles the way the stack bundles it (esbuild, ESM, node22, the SDK
 * included) and the bundle loads as a module exporting `handler`, with the environment of a
 * deployed function but without touching it at import (env.ts reads it at the first call).
 * The MOM container entry is bundled and loaded too (it must not start a job when imported).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { build } from "esbuild";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LAMBDA_BUNDLING, REPO_ROOT } from "../../../infra/aws/constructs/lambda.js";

const ENTRIES = ["api", "scheduler", "events", "sweeper", "inbox", "seed"];
const ENV: Record<string, string> = {
  AWS_REGION: "us-east-1",
  SITE_SHORT: "casper",
  SITE_SERVER: "casper-pbs",
  TABLE_NAME: "metaqueue-casper",
  SCHED_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/111122223333/metaqueue-casper-sched.fifo",
  EVENTS_QUEUE_URL: "https://sqs.us-east-1.amazonaws.com/111122223333/metaqueue-casper-events",
  KILL_DELAY: "10",
  MOM_STALE_SECONDS: "120",
  ECS_CLUSTER: "arn:aws:ecs:us-east-1:111122223333:cluster/mq",
  ECS_TASK_DEFINITION: "arn:aws:ecs:us-east-1:111122223333:task-definition/metaqueue-casper-mom:1",
  ECS_SUBNETS: "subnet-a,subnet-b",
  ECS_SECURITY_GROUPS: "sg-1",
};

let outDir: string;
const saved: Record<string, string | undefined> = {};

beforeAll(async () => {
  outDir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-lambda-bundles-"));
  for (const [k, v] of Object.entries(ENV)) {
    saved[k] = process.env[k];
    process.env[k] = v;
  }
  await build({
    absWorkingDir: REPO_ROOT,
    entryPoints: Object.fromEntries([
      ...ENTRIES.map((e) => [e, `lambdas/${e}.ts`]),
      ["mom-ecs", "infra/mom/ecs.ts"],
    ]),
    outdir: outDir,
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: LAMBDA_BUNDLING.platform,
    format: LAMBDA_BUNDLING.format,
    target: LAMBDA_BUNDLING.target,
    mainFields: [...LAMBDA_BUNDLING.mainFields],
    banner: { js: LAMBDA_BUNDLING.banner },
    logLevel: "error",
  });
}, 120_000);

afterAll(() => {
  for (const [k, v] of Object.entries(saved)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  if (outDir) fs.rmSync(outDir, { recursive: true, force: true });
});

describe("Lambda bundles", () => {
  it.each(ENTRIES)("%s bundles to one ES module that loads and exports handler()", async (name) => {
    const file = path.join(outDir, `${name}.mjs`);
    const text = fs.readFileSync(file, "utf8");
    // self-contained: the only imports left are Node built-ins
    const bare = [...text.matchAll(/^import .* from "([^"]+)";$/gm)].map((m) => m[1]);
    expect(bare.filter((s) => !s.startsWith("node:"))).toEqual([]);
    const mod = await import(pathToFileURL(file).href);
    expect(typeof mod.handler).toBe("function");
  });

  it("the MOM container entry bundles and loads without running a job", async () => {
    const mod = await import(pathToFileURL(path.join(outDir, "mom-ecs.mjs")).href);
    expect(typeof mod.runEcsMom).toBe("function");
    expect(() => mod.readJobSpec({})).toThrow(/neither JOB_SPEC nor JOB_SPEC_GZ/);
  });
});
