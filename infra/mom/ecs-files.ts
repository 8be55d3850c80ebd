/**
 * What the ECS MOM's two modes share (infra/mom/ecs.ts per run, infra/mom/ecs-node.ts per
 * node): their environment and clients, the job's directories, its output upload.
 */
import fs from "node:fs";
import path from "node:path";
import type { SQSClient } from "@aws-sdk/client-sqs";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { OsUser } from "../../shared/auth/os-user.js";
import type { JobRunSpec } from "../../shared/ports/index.js";
import { putOutput, type RunOutputGrant } from "./output-upload.js";

export interface EcsMomEnv {
  JOB_SPEC?: string;
  JOB_SPEC_GZ?: string;
  TABLE_NAME?: string;
  EVENTS_QUEUE_URL?: string;
  /**
   * the bucket the run's output grant names (logs only: the MOM has no S3 right, it PUTs to the
   * grant's URLs); a run dispatched without a grant keeps its output in the container
   */
  OUTPUT_BUCKET?: string;
  /** re-root the job's paths under this directory */
  MOM_PATH_ROOT?: string;
  /** parent of the per-job TMPDIR; default os.tmpdir() */
  MOM_TMP?: string;
  /** default 10000 */
  MOM_HEARTBEAT_MS?: string;
  /**
   * this task's key, HMAC(site MOM secret, momId), from the task overrides: reports are signed
   * with it. The job cannot read it: it runs as MOM_JOB_USER, and its environment is its own.
   */
  MOM_KEY?: string;
  /** the account every job runs as (the MOM must be root to switch); set in the image */
  MOM_JOB_USER?: string;
  /** how often a running job's output is snapshotted to OUTPUT_BUCKET when it grew; default 60000 */
  MOM_OUTPUT_SYNC_MS?: string;
  [k: string]: string | undefined;
}

export interface EcsMomClients {
  doc: DynamoDBDocumentClient;
  sqs: SQSClient;
}

/** The spec with its directories re-rooted under `root` (PBS_O_WORKDIR follows the workdir). */
export function rebaseSpec(spec: JobRunSpec, root: string | undefined): JobRunSpec {
  if (!root) return spec;
  const under = (p: string) => path.join(root, path.resolve("/", p));
  const workdir = under(spec.workdir);
  const env = { ...spec.env };
  if (env.PBS_O_WORKDIR === spec.workdir) env.PBS_O_WORKDIR = workdir;
  return {
    ...spec,
    workdir,
    env,
    stdoutPath: under(spec.stdoutPath),
    stderrPath: spec.stderrPath ? under(spec.stderrPath) : spec.stderrPath,
  };
}

/**
 * `dir` and its missing parents; those created here are given to the job's account (a root
 * MOM's mkdir would leave them root's, and the job could not write its output in them).
 */
export function makeDirs(dir: string, account: OsUser | undefined): void {
  const first = fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
  if (!first || !account) return;
  for (let d = dir; ; d = path.dirname(d)) {
    fs.chownSync(d, account.uid, account.gid);
    if (d === first || path.dirname(d) === d) break;
  }
}

/**
 * Upload stdout/stderr to s3://bucket/<jobId>/<file> through the run's grant; a failed upload
 * is logged, not fatal. The job may have left anything at those paths: opened
 * O_NOFOLLOW|O_NONBLOCK, as the job's account (a directory the job replaced by a link leads
 * nowhere it could not read itself), and read only as a regular file, so a FIFO cannot hang
 * the MOM before its obituary.
 */
export async function uploadOutputs(
  spec: JobRunSpec,
  grant: RunOutputGrant | undefined,
  log: (l: string) => void,
  account?: OsUser,
): Promise<void> {
  if (!grant) return;
  // a joined stream is one file: upload it once
  const files = [...new Set([spec.stdoutPath, spec.stderrPath])].filter((p): p is string => !!p);
  await Promise.all(
    files.map(async (file) => {
      try {
        await putOutput(grant, file, account);
      } catch (err) {
        log(`ECS MOM: could not upload ${file} of ${spec.jobId}: ${(err as Error).message}`);
      }
    }),
  );
}
