import { describe, expect, it } from "vitest";
import { z } from "zod";
import { CliEnvSchema } from "../../../cli/src/config.js";
import { executorFromEnv } from "../../../lambdas/ecs-env.js";
import { LambdaEnvSchema, unconfiguredExecutor } from "../../../lambdas/env.js";
import { envSchema, readEnv, v } from "../../../shared/config/env.js";
import { EnvError } from "../../../shared/errors.js";

function problems(f: () => unknown): string[] {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(EnvError);
    return (err as EnvError).problems;
  }
  throw new Error("did not throw");
}

describe("readEnv", () => {
  const schema = envSchema({
    TABLE: v.string(),
    URL: v.string(),
    BEAT_MS: v.int({ min: 1, default: 10_000 }),
    KEEP_MS: v.optionalInt({ min: 0 }),
    NOTE: v.optional(),
  });

  it("reads values, applies defaults, and takes an empty variable as unset", () => {
    expect(readEnv("t", schema, { TABLE: "t1", URL: "u", KEEP_MS: "0", NOTE: "" })).toEqual({
      TABLE: "t1",
      URL: "u",
      BEAT_MS: 10_000,
      KEEP_MS: 0,
      NOTE: undefined,
    });
  });

  it("lists every missing or invalid variable in one error naming the entry", () => {
    let err: unknown;
    try {
      readEnv("local MOM", schema, { URL: "", BEAT_MS: "fast", KEEP_MS: "-1" });
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(EnvError);
    expect((err as EnvError).problems).toEqual([
      "TABLE: is not set",
      "URL: is not set",
      'BEAT_MS: is not an integer: "fast"',
      "KEEP_MS: must be at least 0",
    ]);
    expect((err as Error).message).toMatch(
      /^local MOM: bad environment: TABLE: is not set; URL: is not set; /,
    );
  });

  it("takes a zod schema the same way (Standard Schema), with the same error", () => {
    const z1 = z.object({ A: z.string().min(1), N: z.coerce.number().int() });
    expect(readEnv("t", z1, { A: "x", N: "3" })).toEqual({ A: "x", N: 3 });
    const p = problems(() => readEnv("t", z1, { N: "x" }));
    expect(p).toHaveLength(2);
    expect(p[0]).toMatch(/^A: /);
    expect(p[1]).toMatch(/^N: /);
  });
});

/** What a Lambda must have set, and nothing more. */
const LAMBDA_REQUIRED = {
  AWS_REGION: "r",
  SITE_SHORT: "s",
  SITE_SERVER: "s-pbs",
  TABLE_NAME: "t",
  SCHED_QUEUE_URL: "https://q/sched",
  EVENTS_QUEUE_URL: "https://q/events",
};

describe("the entries' schemas", () => {
  it("a Lambda without its environment names every variable it lacks", () => {
    const p = problems(() => readEnv("Lambda", LambdaEnvSchema, { SCHED_QUEUE_URL: "not a url" }));
    expect(p.map((x) => x.split(":")[0])).toEqual([
      "AWS_REGION",
      "SITE_SHORT",
      "SITE_SERVER",
      "TABLE_NAME",
      "SCHED_QUEUE_URL",
      "EVENTS_QUEUE_URL",
    ]);
  });

  it("a Lambda's optional variables may be empty, as unset", () => {
    const e = readEnv("Lambda", LambdaEnvSchema, {
      ...LAMBDA_REQUIRED,
      MOM_SECRET_PARAMETER: "",
      PEERS: "",
    });
    expect(e.MOM_SECRET_PARAMETER).toBeUndefined();
    expect(e.KILL_DELAY).toBe(10);
  });

  it("a Lambda's settings: the script lease margin and the refusals before a hold, defaults and set", () => {
    const d = readEnv("Lambda", LambdaEnvSchema, LAMBDA_REQUIRED);
    expect([d.MAX_RUN_REFUSALS, d.SCRIPT_LEASE_MARGIN_DAYS]).toEqual([20, 30]);
    const e = readEnv("Lambda", LambdaEnvSchema, {
      ...LAMBDA_REQUIRED,
      MAX_RUN_REFUSALS: "3",
      SCRIPT_LEASE_MARGIN_DAYS: "60",
    });
    expect([e.MAX_RUN_REFUSALS, e.SCRIPT_LEASE_MARGIN_DAYS]).toEqual([3, 60]);
    expect(
      problems(() => readEnv("Lambda", LambdaEnvSchema, { ...LAMBDA_REQUIRED, MAX_RUN_REFUSALS: "0" })),
    ).toHaveLength(1);
  });

  it("the ECS executor: none without ECS_CLUSTER; with it, every other variable it needs", () => {
    expect(executorFromEnv({})).toBe(unconfiguredExecutor);
    expect(problems(() => executorFromEnv({ ECS_CLUSTER: "c", ECS_SUBNETS: " , " }))).toEqual([
      "AWS_REGION: is not set (ECS_CLUSTER is)",
      "ECS_TASK_DEFINITION: is not set (ECS_CLUSTER is)",
      "ECS_SUBNETS: is not set (ECS_CLUSTER is)",
    ]);
    const ex = executorFromEnv({
      AWS_REGION: "us-east-1",
      ECS_CLUSTER: "c",
      ECS_TASK_DEFINITION: "td",
      ECS_SUBNETS: "s1, s2",
    });
    expect(ex).not.toBe(unconfiguredExecutor);
  });

  it("the CLI's: an empty variable is unset, as `X= qsub` means", () => {
    expect(readEnv("cli", CliEnvSchema, { METAQUEUE_SERVER_URL: "", HOME: "/h" })).toEqual({
      METAQUEUE_CONF: undefined,
      METAQUEUE_SERVER_URL: undefined,
      METAQUEUE_TOKEN: undefined,
      METAQUEUE_CREDENTIAL: undefined,
      HOME: "/h",
    });
  });
});
