/**
 * Any user on the machine reaches the local metaqueue once issued a credential (issue 13,
 * point 6), and the dashboard link `npm start` prints signs its user in. On the real stack:
 * `infra/local/main.ts` as a process, a copy of the CLI bundle installed in a folder of its
 * own with the runtime's data dir beside it (a checkout and its default `.metaqueue`), and, as
 * root, a second OS user with a fresh HOME holding only a credential.
 */
import { type ChildProcess, execFile, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { lookupOsUser } from "../../shared/auth/os-user.js";

const run = promisify(execFile);
const asRoot = process.getuid?.() === 0;
const userName = `mqo${process.pid % 100000}`;
const root = fs.mkdtempSync(path.join(os.tmpdir(), "mq-users-"));
const dataDir = path.join(root, ".metaqueue");
let proc: ChildProcess;
let out = "";
let userCreated = false;

/** What `npm start` printed, once it says it is up. */
async function waitUp(timeoutMs: number): Promise<string> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (out.includes("metaqueue is up")) return out;
    if (proc.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`runtime did not come up:\n${out.slice(-3000)}`);
}

beforeAll(async () => {
  // the checkout other users run the commands from: readable by all, the CLI bundle in it
  fs.chmodSync(root, 0o755);
  for (const d of ["bin", "dist"]) fs.mkdirSync(path.join(root, "cli", d), { recursive: true });
  fs.copyFileSync("cli/package.json", path.join(root, "cli", "package.json"));
  // one bundle per command (scripts/build.mjs)
  for (const f of fs.readdirSync("cli/dist").filter((f) => f.endsWith(".cjs")))
    fs.copyFileSync(path.join("cli/dist", f), path.join(root, "cli/dist", f));
  for (const f of fs.readdirSync("cli/bin"))
    fs.copyFileSync(path.join("cli/bin", f), path.join(root, "cli/bin", f));
  const cfgFile = path.join(root, "config.json");
  fs.writeFileSync(
    cfgFile,
    JSON.stringify({
      sites: [
        {
          name: "casper",
          server: "casper-pbs",
          queues: [{ name: "casper" }],
          nodes: [{ name: "n1", ncpus: 2 }],
        },
      ],
    }),
  );
  proc = spawn(process.execPath, ["--import", "tsx", "infra/local/main.ts"], {
    env: {
      ...process.env,
      METAQUEUE_CONFIG: cfgFile,
      METAQUEUE_DATA: dataDir,
      // where a runtime that cannot write /etc puts it; named here so a root test leaves /etc alone
      METAQUEUE_CONF: path.join(dataDir, "metaqueue.conf"),
      METAQUEUE_CREDENTIAL: path.join(root, "runtime-credential"),
      METAQUEUE_TICK_MS: "500",
    },
    detached: true, // its own process group: the stop below reaches DynamoDB Local and the MOMs
    stdio: ["ignore", "pipe", "pipe"],
  });
  proc.stdout?.on("data", (b) => {
    out += String(b);
  });
  proc.stderr?.on("data", (b) => {
    out += String(b);
  });
  await waitUp(120_000);
}, 150_000);

afterAll(async () => {
  if (proc?.pid) {
    try {
      process.kill(-proc.pid, "SIGINT");
      await new Promise((r) => setTimeout(r, 3000));
      process.kill(-proc.pid, "SIGKILL");
    } catch {
      // gone
    }
  }
  if (userCreated) {
    try {
      execFileSync("userdel", [userName]);
    } catch {
      // already gone
    }
  }
  fs.rmSync(root, { recursive: true, force: true });
}, 30_000);

describe("the dashboard link npm start prints", () => {
  it("signs the runtime's user in with a token in the fragment only", async () => {
    const m = /dashboard: (\S+)/.exec(out);
    expect(m, out).not.toBeNull();
    const link = new URL(m?.[1] ?? "");
    expect(link.pathname).toBe("/ui/");
    expect(link.search).toBe(""); // nothing a server or its log would see
    const token = decodeURIComponent(/^#token=(.+)$/.exec(link.hash)?.[1] ?? "");
    expect(token).not.toBe("");
    const get = (t: string) =>
      fetch(`${link.origin}/v1/server`, { headers: { authorization: `Bearer ${t}` } });
    const ok = await get(token);
    expect(ok.status).toBe(200);
    expect(((await ok.json()) as { server: { name: string } }).server.name).toBe("casper-pbs");
    expect((await get(`${token.slice(0, -2)}xx`)).status).toBe(401);
    // it is not the runtime user's long-lived credential
    expect(fs.readFileSync(path.join(root, "runtime-credential"), "utf8").trim()).not.toBe(token);
  });
});

describe("a second user on the machine", () => {
  it.skipIf(!asRoot)(
    "finds the server with only a credential in a fresh HOME (as root only: it needs a second OS user)",
    async () => {
      const home = path.join(root, "home");
      fs.mkdirSync(home);
      execFileSync("useradd", ["-M", "-N", "-d", home, "-s", "/bin/bash", userName]);
      userCreated = true;
      const acct = lookupOsUser(userName);
      if (!acct) throw new Error(`could not create user ${userName}`);
      fs.chownSync(home, acct.uid, acct.gid);
      // what the admin runs: `npm run credential -- <user>`
      const issued = await run(process.execPath, ["--import", "tsx", "scripts/credential.ts", userName], {
        env: { ...process.env, METAQUEUE_DATA: dataDir },
      });
      expect(issued.stdout).toContain(path.join(home, ".metaqueue", "credential"));
      expect(fs.readdirSync(path.join(home, ".metaqueue"))).toEqual(["credential"]);

      // the user's commands, with nothing of the runtime's environment
      const asUser = (cmd: string, args: string[], input?: string) => {
        const p = run(
          "runuser",
          [
            "-u",
            userName,
            "--",
            "env",
            "-i",
            `HOME=${home}`,
            // the shim runs the `node` on PATH, as a user's shell would find it
            `PATH=${path.dirname(process.execPath)}:/usr/bin:/bin`,
            path.join(root, "cli/bin", cmd),
            ...args,
          ],
          { cwd: home },
        );
        if (input !== undefined) p.child.stdin?.end(input);
        return p;
      };
      const server = await asUser("qstat", ["-B"]);
      expect(server.stdout).toContain("casper-pbs");
      const id = (await asUser("qsub", [], "echo hello\n")).stdout.trim();
      expect(id).toMatch(/^\d+\.casper$/);
      const full = (await asUser("qstat", ["-x", "-f", id])).stdout;
      expect(full).toContain(`Job_Owner = ${userName}@`);
    },
    60_000,
  );
});
