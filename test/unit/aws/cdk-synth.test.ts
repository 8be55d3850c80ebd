/**
 * `npx cdk synth` works offline, the way C1-cdk-synth-offline runs it: the real CDK CLI runs
 * the app (cdk.json), bundles the Lambdas with the local esbuild (no Docker), and writes one
 * template per site of metaqueue.config.json, each holding every part of a site.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { REPO_ROOT } from "../../../infra/aws/constructs/lambda.js";
import { loadConfig } from "../../../infra/aws/settings.js";

const TYPES = [
  "AWS::DynamoDB::Table",
  "AWS::SQS::Queue",
  "AWS::Lambda::Function",
  "AWS::ECS::TaskDefinition",
  "AWS::ApiGatewayV2::Api",
  "AWS::CloudWatch::Dashboard",
  "AWS::CloudWatch::Alarm",
  "AWS::Lambda::EventSourceMapping",
];

let out: string;
let result: { code: number | null; output: string };

beforeAll(async () => {
  out = fs.mkdtempSync(path.join(os.tmpdir(), "mq-cdk-synth-"));
  const env: NodeJS.ProcessEnv = { ...process.env, CDK_DISABLE_CLI_TELEMETRY: "true" };
  // synth must not depend on an account or region
  delete env.CDK_DEFAULT_ACCOUNT;
  delete env.CDK_DEFAULT_REGION;
  delete env.METAQUEUE_CONFIG;
  result = await new Promise((resolve, reject) => {
    // one site told never to sleep (dormancy) and to bill its table provisioned, the other left
    // at the defaults
    const args = [
      ...["cdk", "synth", "--quiet", "-o", out, "-c", "intakeSleepAfterSeconds:derecho=0"],
      ...["-c", "tableCapacity:derecho=provisioned:writes=5-2000,reads=5-1000"],
    ];
    const child = spawn("npx", args, { cwd: REPO_ROOT, env });
    let output = "";
    child.stdout.on("data", (d) => (output += d));
    child.stderr.on("data", (d) => (output += d));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`cdk synth did not finish in 180 s:\n${output.slice(-3000)}`));
    }, 180_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}, 200_000);

afterAll(() => {
  if (out) fs.rmSync(out, { recursive: true, force: true });
});

describe("cdk synth (offline)", () => {
  it("succeeds and writes Metaqueue-<site> for every configured site, each with every part", () => {
    expect(result.code, result.output.slice(-3000)).toBe(0);
    const sites = loadConfig(path.join(REPO_ROOT, "metaqueue.config.json")).sites.map((s) => s.name);
    for (const site of sites) {
      const file = path.join(out, `Metaqueue-${site}.template.json`);
      expect(fs.existsSync(file), file).toBe(true);
      const types = new Set(
        Object.values(
          JSON.parse(fs.readFileSync(file, "utf8")).Resources as Record<string, { Type: string }>,
        ).map((r) => r.Type),
      );
      for (const t of TYPES) expect(types.has(t), `${site}: ${t}`).toBe(true);
    }
  });

  it("passes a site's intakeSleepAfterSeconds to its functions, and only to its own", () => {
    const sleepAfter = (site: string) => {
      const t = JSON.parse(fs.readFileSync(path.join(out, `Metaqueue-${site}.template.json`), "utf8"));
      type Fn = { Type: string; Properties: { Environment?: { Variables?: Record<string, string> } } };
      const fns = Object.values(t.Resources as Record<string, Fn>).filter(
        (r) => r.Type === "AWS::Lambda::Function" && r.Properties.Environment?.Variables?.SITE_SHORT,
      );
      return new Set(fns.map((f) => f.Properties.Environment?.Variables?.INTAKE_SLEEP_AFTER_SECONDS));
    };
    expect(sleepAfter("derecho")).toEqual(new Set(["0"]));
    expect(sleepAfter("casper")).toEqual(new Set([undefined]));
  });

  it("bills a site's table as its tableCapacity says, and only its own", () => {
    const table = (site: string) => {
      const t = JSON.parse(fs.readFileSync(path.join(out, `Metaqueue-${site}.template.json`), "utf8"));
      type R = { Type: string; Properties: Record<string, unknown> };
      const all = Object.values(t.Resources as Record<string, R>);
      const tbl = all.find((r) => r.Type === "AWS::DynamoDB::Table")?.Properties ?? {};
      const scaling = all.filter((r) => r.Type === "AWS::ApplicationAutoScaling::ScalableTarget").length;
      return { billing: tbl.BillingMode, throughput: tbl.ProvisionedThroughput, scaling };
    };
    expect(table("derecho")).toMatchObject({
      billing: undefined,
      throughput: { ReadCapacityUnits: 5, WriteCapacityUnits: 5 },
    });
    expect(table("derecho").scaling).toBeGreaterThanOrEqual(2);
    expect(table("casper")).toEqual({ billing: "PAY_PER_REQUEST", throughput: undefined, scaling: 0 });
  });

  it("stages the MOM image context with only the Dockerfile and the MOM bundle, and the Lambda code as .mjs bundles", () => {
    const assets = JSON.parse(fs.readFileSync(path.join(out, "Metaqueue-casper.assets.json"), "utf8"));
    const images = Object.values(assets.dockerImages) as {
      source: { directory: string; dockerFile: string };
    }[];
    // one image per architecture (arm64: Fargate and the large pool; amd64: the GPU pool)
    expect(images).toHaveLength(2);
    for (const image of images) {
      const ctxDir = path.join(out, image.source.directory);
      const files = fs
        .readdirSync(ctxDir, { recursive: true, withFileTypes: true })
        .filter((f) => f.isFile())
        .map((f) => path.relative(ctxDir, path.join(f.parentPath, f.name)))
        .sort();
      expect(files).toEqual(["Dockerfile.mom", "dist/mom-ecs.js", "dist/mom-ecs.js.map"]);
    }
    const zips = Object.values(assets.files) as { source: { path: string } }[];
    const bundles = zips.filter((z) => fs.existsSync(path.join(out, z.source.path, "index.mjs")));
    expect(bundles.length).toBe(6); // api, scheduler, events, sweeper, seed, mom-channel
  });
});
