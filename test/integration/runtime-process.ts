/**
 * `npm start` as a separate process group (infra/local/main.ts), for tests that SIGKILL the
 * whole runtime (DynamoDB Local, the SQS emulator and its messages, the MOMs) and start it
 * again on the same data; and the real CLI pointed at it.
 */
import { type ChildProcess, execFile, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

export interface RuntimeProcess {
  /** the real CLI, run in `dir`; resolves to its stdout, rejects on a non-zero exit */
  cli(cmd: string, args: string[], input?: string): Promise<string>;
  /** start the runtime and wait until `qstat -B <probe>` answers */
  start(probe?: string[]): Promise<void>;
  /** SIGKILL the process group: nothing of the runtime is left to clean up */
  kill(): void;
  /** SIGINT, then SIGKILL what is left (afterAll) */
  stop(): Promise<void>;
  /** resolves when the runtime process has exited (a fault injected into it killed it) */
  exited(timeoutMs: number): Promise<void>;
}

export function runtimeProcess(
  dir: string,
  config: unknown,
  env: Record<string, string> = {},
): RuntimeProcess {
  const conf = path.join(dir, "servers.json");
  const cfgFile = path.join(dir, "config.json");
  const credential = path.join(dir, "credential");
  const logFile = path.join(dir, "runtime.log");
  // jobs start in their submit directory, no login shell, unless the config says: why in
  // helpers.ts startStack
  const sites = (config as { sites: Record<string, unknown>[] }).sites;
  fs.writeFileSync(
    cfgFile,
    JSON.stringify({ ...(config as object), sites: sites.map((s) => ({ jobStart: "workdir", ...s })) }),
  );
  let proc: ChildProcess | undefined;

  const cli: RuntimeProcess["cli"] = async (cmd, args, input) => {
    const p = run(path.resolve("node_modules/.bin", cmd), args, {
      cwd: dir,
      env: { ...process.env, METAQUEUE_CONF: conf, METAQUEUE_CREDENTIAL: credential },
    });
    if (input !== undefined) p.child.stdin?.end(input);
    return (await p).stdout;
  };

  const start: RuntimeProcess["start"] = async (probe = []) => {
    const since = Date.now();
    proc = spawn(process.execPath, ["--import", "tsx", "infra/local/main.ts"], {
      env: {
        ...process.env,
        METAQUEUE_CONFIG: cfgFile,
        METAQUEUE_DATA: path.join(dir, "data"),
        METAQUEUE_CONF: conf,
        METAQUEUE_CREDENTIAL: credential,
        METAQUEUE_TICK_MS: "500",
        ...env,
      },
      detached: true, // its own process group: SIGKILL reaches DynamoDB Local and the MOMs too
      stdio: ["ignore", fs.openSync(logFile, "a"), fs.openSync(logFile, "a")],
    });
    for (let i = 0; i < 240; i++) {
      if (fs.existsSync(conf) && fs.statSync(conf).mtimeMs >= since) {
        try {
          await cli("qstat", ["-B", ...probe]);
          return;
        } catch {
          /* not yet */
        }
      }
      await new Promise((r) => setTimeout(r, 250));
    }
    throw new Error(`runtime did not come up: ${fs.readFileSync(logFile, "utf8").slice(-2000)}`);
  };

  const exited: RuntimeProcess["exited"] = (timeoutMs) =>
    new Promise((resolve, reject) => {
      const p = proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return resolve();
      const t = setTimeout(() => reject(new Error(`runtime still running after ${timeoutMs} ms`)), timeoutMs);
      p.once("exit", () => {
        clearTimeout(t);
        resolve();
      });
    });

  const kill = () => {
    if (proc?.pid) process.kill(-proc.pid, "SIGKILL");
  };

  const stop = async () => {
    if (!proc?.pid) return;
    try {
      process.kill(-proc.pid, "SIGINT");
      await new Promise((r) => setTimeout(r, 3000));
      process.kill(-proc.pid, "SIGKILL");
    } catch {
      /* gone */
    }
  };

  return { cli, start, kill, stop, exited };
}

/**
 * The seed pair for SIGKILL tests: casper and derecho with one node each, derecho pulling
 * casper's overflow, with transfer timings short enough for a test.
 */
export function pullPairConfig(casperNcpus: number, derechoNcpus: number) {
  return {
    defaultSite: "casper",
    sites: [
      {
        name: "casper",
        server: "casper-pbs",
        queues: [{ name: "casper" }],
        nodes: [{ name: "c1", ncpus: casperNcpus }],
      },
      {
        name: "derecho",
        server: "desched1",
        queues: [{ name: "main" }],
        nodes: [{ name: "d1", ncpus: derechoNcpus }],
        federation: { pull: [{ queue: "main", from: "casper@casper-pbs" }] },
      },
    ],
  };
}

/** METAQUEUE_SETTINGS for quick transfers (a lost step re-sent within a second or so). */
export const QUICK_TRANSFERS = { transferTimeoutMs: 4000, transferResendMs: 1000, offerIntervalMs: 200 };

/** Every job a site has, finished ones too, as that site stores them (listing does not follow moves). */
export async function siteJobs(
  cli: RuntimeProcess["cli"],
  server: string,
): Promise<Record<string, Record<string, unknown>>> {
  return JSON.parse(await cli("qstat", ["-x", "-f", "-F", "json", `@${server}`])).Jobs ?? {};
}
