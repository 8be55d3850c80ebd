/**
 * Issue 12: job code on an ECS task cannot act for the site. The ECS MOM entry
 * (infra/mom/ecs.ts) runs here as its own process, as the container runs it: root, with the
 * task's variables (fake credential URI and token, fake keys, MOM_KEY), reaching DynamoDB Local
 * and the SQS emulator through DDB_ENDPOINT/SQS_ENDPOINT. The job runs as MOM_JOB_USER
 * (`nobody` here, the image's `node` on AWS): it sees none of the task's variables in `env`,
 * cannot read the MOM's /proc/<pid>/environ, and the obituary is signed with the MOM's key
 * exactly as a local MOM signs it. Needs root (to switch uid), as the MOM has it in its image.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { CreateTableCommand } from "@aws-sdk/client-dynamodb";
import { ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DynamoDbLocal, startDynamoDbLocal } from "../../infra/local/dynamodb.js";
import { ensureQueues, makeSqsClient, type SqsEmulator, startSqsEmulator } from "../../infra/local/sqs.js";
import { momKey, verifyReport } from "../../shared/auth/mom-report.js";
import { lookupOsUser } from "../../shared/auth/os-user.js";
import { LOCAL_CREDENTIALS, makeDynamoClients } from "../../shared/adapters/aws-clients.js";
import { createTableInput } from "../../shared/adapters/dynamodb/table.js";
import { siteQueues } from "../../shared/adapters/sqs/queue-defs.js";
import type { JobRunSpec } from "../../shared/ports/index.js";

const TABLE = "mq-ecs-isolation-test";
const ROOT = path.resolve(import.meta.dirname, "../..");
const SITE_SECRET = "site-mom-secret-for-the-test";
const JOB_USER = "nobody";
const isRoot = process.getuid?.() === 0 && !!lookupOsUser(JOB_USER);

/** The task's own variables, fake: none may reach the job. */
const TASK_ENV: Record<string, string> = {
  AWS_CONTAINER_CREDENTIALS_RELATIVE_URI: "/v2/credentials/fake-guid-0b5e",
  AWS_CONTAINER_AUTHORIZATION_TOKEN: "fake-container-token",
  ECS_CONTAINER_METADATA_URI_V4: "http://169.254.170.2/v4/fake",
  // the SDK's credentials for the local endpoints (the task's real ones come from the URI above)
  AWS_ACCESS_KEY_ID: LOCAL_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: LOCAL_CREDENTIALS.secretAccessKey,
  AWS_SESSION_TOKEN: "fake-session-token",
  AWS_REGION: "us-east-1",
};

describe.skipIf(!isRoot)(
  "ECS MOM process: the job cannot reach the task's credentials or the MOM's key",
  () => {
    let ddbLocal: DynamoDbLocal;
    let sqsEmu: SqsEmulator;
    let sqs: SQSClient;
    let eventsUrl: string;
    let dir: string;

    beforeAll(async () => {
      [ddbLocal, sqsEmu] = await Promise.all([startDynamoDbLocal(), startSqsEmulator()]);
      const { ddb } = makeDynamoClients({
        region: "us-east-1",
        endpoint: ddbLocal.endpoint,
        credentials: LOCAL_CREDENTIALS,
      });
      await ddb.send(new CreateTableCommand(createTableInput(TABLE)));
      sqs = makeSqsClient(sqsEmu.endpoint);
      const q = siteQueues("mq-iso-", "casper");
      eventsUrl = (await ensureQueues(sqs, [q.events]))[q.events.name];
      dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-ecs-iso-"));
      // the job's account must pass through to its re-rooted directories (the image's /scratch)
      fs.chmodSync(dir, 0o755);
    }, 60_000);

    afterAll(async () => {
      await Promise.all([ddbLocal?.stop(), sqsEmu?.stop()]);
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it("the job runs as the job account, its env has none of the task's variables, the MOM's environ is closed to it", async () => {
      const momId = "ecs:9:1";
      const script = [
        'echo "uid=$(id -u)"',
        // the launcher is the script's parent, the MOM the launcher's
        "mom=$(awk '{print $4}' /proc/$PPID/stat)",
        'echo "mom=$mom"',
        'if cat "/proc/$mom/environ" >/dev/null 2>&1; then echo "environ=readable"; else echo "environ=denied"; fi',
        'if tr "\\0" "\\n" <"/proc/$mom/environ" 2>/dev/null | grep -q CREDENTIALS; then echo "leak=yes"; fi',
        "echo ---",
        "env",
      ].join("\n");
      const spec: JobRunSpec = {
        jobId: "9.casper",
        seq: "9",
        runCount: 1,
        name: "STDIN",
        queue: "casper",
        owner: "alice@login1",
        script: `${script}\n`,
        workdir: "/home/alice/run",
        // as `qsub -V` would send them from a host with the same variables
        env: { PBS_O_WORKDIR: "/home/alice/run", FOO: "bar", AWS_SESSION_TOKEN: "from-the-submit-host" },
        killDelay: 1,
        stdoutPath: "/home/alice/run/STDIN.o9",
        stderrPath: "/home/alice/run/STDIN.e9",
        nodefile: ["casper-n01"],
        ncpus: 1,
        momId,
        execHost: "casper-n01",
      };
      const scratch = path.join(dir, "scratch");
      const child = spawn(process.execPath, ["--import", "tsx", "infra/mom/ecs.ts"], {
        cwd: ROOT,
        env: {
          PATH: process.env.PATH ?? "/usr/bin:/bin",
          HOME: os.homedir(),
          ...TASK_ENV,
          DDB_ENDPOINT: ddbLocal.endpoint,
          SQS_ENDPOINT: sqsEmu.endpoint,
          TABLE_NAME: TABLE,
          EVENTS_QUEUE_URL: eventsUrl,
          MOM_TMP: path.join(dir, "tmp"),
          MOM_PATH_ROOT: scratch,
          MOM_HEARTBEAT_MS: "500",
          MOM_JOB_USER: JOB_USER,
          MOM_KEY: momKey(SITE_SECRET, momId),
          JOB_SPEC: JSON.stringify(spec),
        },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (b) => {
        stderr += b;
      });
      const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
      expect(code, stderr).toBe(0);

      const out = fs.readFileSync(path.join(scratch, spec.stdoutPath), "utf8");
      const [head, envText] = out.split("---\n");
      expect(head).toContain(`uid=${lookupOsUser(JOB_USER)?.uid}`);
      expect(head).toContain(`mom=${child.pid}`);
      expect(head).toContain("environ=denied");
      expect(head).not.toContain("leak=yes");
      const names = envText
        .split("\n")
        .map((l) => l.split("=")[0])
        .filter(Boolean);
      expect(names).toContain("FOO");
      expect(names).toContain("PBS_JOBID");
      for (const name of [...Object.keys(TASK_ENV), "MOM_KEY", "JOB_SPEC", "MOM_JOB_USER", "TABLE_NAME"])
        expect(names).not.toContain(name);
      expect(names.filter((n) => /^(AWS_|ECS_)/.test(n))).toEqual([]);
      expect(envText).not.toContain("fake-container-token");

      // the obituary on the events queue is signed with this MOM's key, as a local MOM's is
      const r = await sqs.send(
        new ReceiveMessageCommand({ QueueUrl: eventsUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 2 }),
      );
      const bodies = (r.Messages ?? []).map((m) => JSON.parse(m.Body ?? "{}"));
      const obit = bodies.find((b) => b.kind === "obit");
      const env = verifyReport(SITE_SECRET, obit, Date.now(), 60_000, "obit");
      expect(env.momId).toBe(momId);
      expect(env.body).toMatchObject({ jobId: "9.casper", exitStatus: 0 });
    }, 90_000);
  },
);
