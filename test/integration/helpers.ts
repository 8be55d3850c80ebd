/** Start a real local metaqueue (DynamoDB Local, SQS emulator, MOM processes) and drive the real CLI. */
import { execFile } from "node:child_process";
import { GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { parseConfig } from "../../shared/config/site-config.js";
import { type LocalMetaqueue, startLocal } from "../../infra/local/runtime.js";
import type { SiteSettings } from "../../shared/server/settings.js";

const run = promisify(execFile);
const BIN = path.resolve("node_modules/.bin");

export interface Stack {
  mq: LocalMetaqueue;
  conf: string;
  dir: string;
  /** the runtime user's credential file (what the CLI sends by default) */
  credential: string;
  /**
   * Runs a real CLI command. `as` acts as another identity: its credential file, and when it
   * names an OS account (`uid`), the process runs as that user, as a real second user would.
   */
  cli(
    cmd: string,
    args: string[],
    opts?: { cwd?: string; input?: string; as?: CliIdentity },
  ): Promise<{ code: number; stdout: string; stderr: string }>;
  waitState(id: string, states: string[], timeoutMs?: number): Promise<string>;
  attr(id: string, name: string): Promise<string | undefined>;
}

export interface CliIdentity {
  credential: string;
  uid?: number;
  gid?: number;
  home?: string;
}

export const smallConfig = parseConfig({
  sites: [
    {
      name: "casper",
      server: "casper-pbs",
      queues: [
        {
          name: "casper",
          attributes: { "resources_max.walltime": "01:00:00", "resources_default.walltime": "00:10:00" },
        },
      ],
      nodes: [
        { name: "n1", ncpus: 4, mem: "8gb" },
        { name: "n2", ncpus: 4, mem: "8gb" },
      ],
    },
  ],
});

/** The seed pair, small: casper and derecho, one 2-core node each, no pulls configured. */
export const twoSiteConfig = parseConfig({
  defaultSite: "casper",
  sites: [
    {
      name: "casper",
      server: "casper-pbs",
      queues: [{ name: "casper" }],
      nodes: [{ name: "c1", ncpus: 2, mem: "4gb" }],
    },
    {
      name: "derecho",
      server: "desched1",
      queues: [{ name: "main" }],
      nodes: [{ name: "d1", ncpus: 2, mem: "4gb" }],
    },
  ],
});

export async function startStack(
  dataDir?: string,
  config = smallConfig,
  tuning: { tickMs?: number; settings?: Partial<SiteSettings> } = {},
): Promise<Stack> {
  const dir = dataDir ?? fs.mkdtempSync(path.join(os.tmpdir(), "mq-it-"));
  const conf = path.join(dir, "servers.json");
  const credential = path.join(dir, "credential");
  const mq = await startLocal({
    config,
    dataDir: path.join(dir, "data"),
    confPath: conf,
    credentialPath: credential,
    tickMs: tuning.tickMs ?? 500,
    momHeartbeatMs: 500,
    // Jobs start in their submit directory without a login shell (`jobStart: workdir`), not as
    // PBS does (home-login: job-start.test.ts and peers.test.ts keep that): a login shell reads
    // the machine user's profile, and root's here runs `pyenv rehash`, whose lock a job killed
    // mid-profile (qdel, a stack stopped after its test) leaves behind; every later login shell
    // then waits PYENV_REHASH_TIMEOUT (60 s) for it, and tests time out far from the cause.
    settings: {
      killDelay: 1,
      momStaleMs: 3000,
      dispatchGraceMs: 5000,
      jobStart: "workdir",
      ...tuning.settings,
    },
    // MQ_TEST_LOG=<file> keeps the runtime's log (errors with their stacks) for a failing test
    log: process.env.MQ_TEST_LOG
      ? (l: string) => fs.appendFileSync(process.env.MQ_TEST_LOG as string, `${l}\n`)
      : () => {},
  });
  const cli: Stack["cli"] = async (cmd, args, opts = {}) => {
    const as = opts.as;
    const env = {
      ...process.env,
      METAQUEUE_CONF: conf,
      METAQUEUE_SERVER_URL: "",
      METAQUEUE_CREDENTIAL: as?.credential ?? credential,
      METAQUEUE_TOKEN: "",
      ...(as?.home ? { HOME: as.home, USER: "", LOGNAME: "" } : {}),
    };
    try {
      const p = run(path.join(BIN, cmd), args, {
        cwd: opts.cwd ?? dir,
        env,
        maxBuffer: 16 * 1024 * 1024,
        ...(as?.uid !== undefined ? { uid: as.uid, gid: as.gid } : {}),
      });
      if (opts.input !== undefined) {
        p.child.stdin?.end(opts.input);
      }
      const r = await p;
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return {
        code: typeof e.code === "number" ? e.code : 1,
        stdout: e.stdout ?? "",
        stderr: e.stderr ?? "",
      };
    }
  };
  const attr = async (id: string, name: string) => {
    const r = await cli("qstat", ["-x", "-f", "-F", "json", id]);
    if (r.code !== 0) return undefined;
    const jobs = JSON.parse(r.stdout).Jobs ?? {};
    const j = Object.values(jobs)[0] as Record<string, unknown> | undefined;
    const v = j?.[name];
    return v === undefined ? undefined : String(v);
  };
  const waitState = async (id: string, states: string[], timeoutMs = 30_000) => {
    const end = Date.now() + timeoutMs;
    let last: string | undefined;
    while (Date.now() < end) {
      last = await attr(id, "job_state");
      if (last && states.includes(last)) return last;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`job ${id} did not reach ${states.join("/")} in ${timeoutMs} ms (last: ${last})`);
  };
  return { mq, conf, dir, credential, cli, waitState, attr };
}

export function script(dir: string, name: string, body: string): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, body);
  return p;
}

/** Job IDs in the first column of qstat's default table. */
export const idsOf = (table: string) =>
  table
    .split("\n")
    .slice(2)
    .map((l) => l.split(/\s+/)[0])
    .filter(Boolean);

/** Messages on a queue, visible or in flight (what a consumer has not deleted). */
export async function queueDepth(sqs: SQSClient, queueUrl: string): Promise<number> {
  const out = await sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return (
    Number(out.Attributes?.ApproximateNumberOfMessages) +
    Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible)
  );
}
