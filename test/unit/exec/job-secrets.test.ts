/**
 * Issue 12: a job on an ECS task cannot act for the site. Its environment is built from its run
 * spec only, and the spec loses every AWS_*, ECS_* and MOM name twice: in the RunTask overrides
 * the executor builds, and in the task before the job starts (a spec sent by an older server).
 */
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { containerEnvironment } from "../../../shared/adapters/executor/ecs.js";
import { isSiteSecretName, specWithoutSiteSecrets } from "../../../shared/exec/job-secrets.js";
import { buildJobEnv, jobAccount } from "../../../shared/exec/run-job.js";
import type { JobRunSpec } from "../../../shared/ports/index.js";
import { taskJobSpec } from "../../../infra/mom/ecs.js";

/** What the task's environment holds and a job must never see (fake values). */
const TASK_SECRETS: Record<string, string> = {
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v2/credentials/0b5e-fake",
  AWS_CONTAINER_CREDENTIALS_FULL_URI: "http://169.254.170.23/v1/credentials",
  AWS_CONTAINER_AUTHORIZATION_TOKEN: "fake-token",
  AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE: "/var/run/token",
  AWS_ACCESS_KEY_ID: "AKIAFAKE",
  AWS_SECRET_ACCESS_KEY: "fake-secret",
  AWS_SESSION_TOKEN: "fake-session",
  AWS_WEB_IDENTITY_TOKEN_FILE: "/var/run/web-identity",
  ECS_CONTAINER_METADATA_URI_V4: "http://169.254.170.2/v4/fake",
  MOM_KEY: "f".repeat(64),
};
const FORBIDDEN = Object.keys(TASK_SECRETS);

const spec = (env: Record<string, string>): JobRunSpec => ({
  jobId: "7.casper",
  seq: "7",
  runCount: 1,
  name: "STDIN",
  queue: "casper",
  owner: "alice@login1",
  script: "env\n",
  workdir: "/home/alice/run",
  env,
  killDelay: 1,
  stdoutPath: "/home/alice/run/STDIN.o7",
  stderrPath: "/home/alice/run/STDIN.e7",
  nodefile: ["casper-n01"],
  ncpus: 1,
  momId: "ecs:7:1",
  execHost: "casper-n01",
});

describe("a job's environment on ECS carries none of the site's secrets", () => {
  // `qsub -V` on a host with the same variables sends them in the Variable_List
  const userEnv = { PBS_O_WORKDIR: "/home/alice/run", FOO: "bar", MY_AWS: "kept", ...TASK_SECRETS };

  it("the task's spec and the job environment built from it: none of them, the user's own kept", () => {
    // the task's environment: the spec (an older server did not clean it) beside the real ones
    const taskEnv = { ...TASK_SECRETS, JOB_SPEC: JSON.stringify(spec(userEnv)), TABLE_NAME: "t" };
    const s = taskJobSpec(taskEnv, "/scratch");
    const env = buildJobEnv(s, "/tmp/mq/7.casper.1", "/tmp/mq/7.casper.1/nodefile");
    for (const name of [...FORBIDDEN, "JOB_SPEC", "JOB_SPEC_GZ"]) expect(env).not.toHaveProperty(name);
    expect(Object.keys(env).filter(isSiteSecretName)).toEqual([]);
    expect(Object.values(env)).not.toContain("fake-secret");
    expect(env).toMatchObject({ FOO: "bar", MY_AWS: "kept", PBS_O_WORKDIR: "/scratch/home/alice/run" });
    expect(env.PBS_JOBID).toBe("7.casper");
  });

  it("the RunTask overrides carry the spec without them (DescribeTasks shows overrides)", () => {
    const overrides = containerEnvironment("mom", spec(userEnv), "site-secret");
    const byName = new Map(overrides.map((kv) => [kv.name, kv.value ?? ""]));
    const json =
      byName.get("JOB_SPEC") ?? gunzipSync(Buffer.from(byName.get("JOB_SPEC_GZ") ?? "", "base64")).toString();
    const sent = JSON.parse(json) as JobRunSpec;
    expect(Object.keys(sent.env).filter(isSiteSecretName)).toEqual([]);
    expect(sent.env).toEqual({ PBS_O_WORKDIR: "/home/alice/run", FOO: "bar", MY_AWS: "kept" });
    // the MOM's own key travels beside the spec, for the MOM only (the job never gets it: above)
    expect(byName.get("MOM_KEY")).toMatch(/^[0-9a-f]{64}$/);
  });

  it("a spec with nothing to clean is passed as it is", () => {
    const s = spec({ FOO: "bar" });
    expect(specWithoutSiteSecrets(s)).toBe(s);
    expect(isSiteSecretName("aws_session_token")).toBe(true);
    expect(isSiteSecretName("PBS_O_HOME")).toBe(false);
  });
});

describe.skipIf(process.getuid?.() !== 0)("the ECS MOM's job account (root MOM)", () => {
  const s = spec({});
  it("runs every job as MOM_JOB_USER, whoever owns it", () => {
    expect(jobAccount(s, false, "nobody").account?.name).toBe("nobody");
    expect(jobAccount({ ...s, owner: "root@h" }, false, "nobody").account?.uid).not.toBe(0);
  });
  it("refuses to run a job as root, or with no account, or an unknown one", () => {
    expect(jobAccount(s, false, "").refused).toMatch(/names no account/);
    expect(jobAccount(s, false, "root").refused).toMatch(/is root/);
    expect(jobAccount(s, false, "no-such-account-x").refused).toMatch(/does not exist/);
  });
});
