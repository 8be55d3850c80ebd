/**
 * What the PBS commands load to start (issue 14: workflow tools run a process per job and per
 * poll, so every module a command starts with costs every job). Not a timed test: it lists the
 * Node built-ins each command's process loaded, running the real cli/bin shim and bundle
 * (test/global-setup.ts builds them) through config, credential and one HTTP request.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";

const run = promisify(execFile);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-startup-"));
// written at exit: process.moduleLoadList, every built-in module and binding loaded
const preload = path.join(dir, "list-modules.cjs");
fs.writeFileSync(
  preload,
  `process.on("exit", () => require("node:fs").writeFileSync(process.env.MQ_MODULE_LIST, process.moduleLoadList.join("\\n")));\n`,
);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** The built-ins `cmd args` loaded, run against a server that refuses connections. */
async function modulesOf(cmd: string, args: string[]): Promise<{ modules: string[]; stderr: string }> {
  const list = path.join(dir, `${cmd}.txt`);
  // what the shim cli/bin/<cmd> execs (the shim itself is tested below)
  const r = await run(process.execPath, ["-r", preload, path.resolve("cli/bin/load.cjs"), cmd, ...args], {
    cwd: dir,
    env: {
      PATH: process.env.PATH,
      HOME: dir,
      MQ_MODULE_LIST: list,
      METAQUEUE_CONF: path.join(dir, "none.json"),
      // port 1: nothing listens, the request is refused (exit 1) after config, credential, connect
      METAQUEUE_SERVER_URL: "http://127.0.0.1:1",
      METAQUEUE_TOKEN: "t",
    },
  }).catch((e: { stderr: string }) => ({ stderr: e.stderr }));
  return { modules: fs.readFileSync(list, "utf8").split("\n"), stderr: r.stderr };
}

describe("what a PBS command loads to start", () => {
  for (const [cmd, args] of [
    ["qsub", ["-h", "--", "/bin/true"]],
    ["qstat", ["1"]],
    ["qdel", ["1"]],
  ] as const) {
    it(`${cmd}: no ES module loader, no node:http, no child_process (commander's), no fs/promises`, async () => {
      const { modules, stderr } = await modulesOf(cmd, [...args]);
      // it did get as far as the request
      expect(stderr).toContain("cannot connect to server");
      // the request goes over a plain socket (cli/src/http1.ts): node:http's client, its Agent and
      // parser (about 6 ms of CPU in a fresh process) are never loaded; TLS only for https
      expect(modules).toContain("NativeModule net");
      expect(modules).not.toContain("NativeModule http");
      expect(modules).not.toContain("NativeModule _http_client");
      expect(modules).not.toContain("NativeModule tls");
      // CommonJS shim and bundle: Node's ES module loader (about 5 ms) never loads a module
      // (its utils, assert and loader are part of every start, even `node -e 0`)
      expect(modules).not.toContain("NativeModule internal/modules/esm/module_job");
      expect(modules).not.toContain("NativeModule internal/modules/esm/translators");
      // scripts/build.mjs lazyChildProcess: commander loads node:child_process only when used
      expect(modules).not.toContain("NativeModule child_process");
      expect(modules).not.toContain("NativeModule fs/promises");
    });
  }
});

/**
 * The shim (scripts/build.mjs says why it is sh): Node starts without NODE_EXTRA_CA_CERTS, the
 * command's environment has it back, and its TLS connection is handed the file
 * (test/unit/cli/http1.test.ts connects with it).
 */
describe("the shim and NODE_EXTRA_CA_CERTS", () => {
  // written at exit by the command's process: what it has of the variable
  const probe = path.join(dir, "ca-probe.cjs");
  fs.writeFileSync(
    probe,
    `process.on("exit", () => require("node:fs").writeFileSync(process.env.MQ_CA_PROBE, JSON.stringify({ env: process.env.NODE_EXTRA_CA_CERTS ?? null, moved: process.env.METAQUEUE_DEFERRED_CA_CERTS ?? null, deferred: process[Symbol.for("metaqueue.deferredExtraCaCerts")] ?? null })));\n`,
  );
  /** `qstat --version` through the npm-linked shim (a symlink, as npm installs it) */
  async function version(extra: Record<string, string>) {
    const out = path.join(dir, `ca-${Object.keys(extra).join("-")}.json`);
    const r = await run(path.resolve("node_modules/.bin/qstat"), ["--version"], {
      cwd: dir,
      env: { PATH: process.env.PATH, HOME: dir, MQ_CA_PROBE: out, ...extra },
    });
    return { stdout: r.stdout, stderr: r.stderr, seen: JSON.parse(fs.readFileSync(out, "utf8")) };
  }
  // a file that is not there: Node warns as it starts when it reads the variable itself
  const missing = path.join(dir, "no-such-ca.pem");

  it("keeps the variable from Node's start, and gives it back to the command", async () => {
    const r = await version({ NODE_EXTRA_CA_CERTS: missing, NODE_OPTIONS: `--require ${probe}` });
    expect(r.stdout).toContain("pbs_version = metaqueue");
    expect(r.stderr).not.toContain("Ignoring extra certs");
    expect(r.seen).toEqual({ env: missing, moved: null, deferred: missing });
  });

  it("leaves it to Node when NODE_OPTIONS picks another CA store", async () => {
    const r = await version({
      NODE_EXTRA_CA_CERTS: missing,
      NODE_OPTIONS: `--use-openssl-ca --require ${probe}`,
    });
    expect(r.stderr).toContain("Ignoring extra certs");
    expect(r.seen).toEqual({ env: missing, moved: null, deferred: null });
  });

  it("changes nothing without the variable", async () => {
    const r = await version({ NODE_OPTIONS: `--require ${probe}` });
    expect(r.seen).toEqual({ env: null, moved: null, deferred: null });
  });
});
