/**
 * The site's data services are the runtime's alone (issue 10): DynamoDB Local and the SQS
 * emulator have no authentication, so nobody else may reach them. On the real local stack:
 * the data dir's modes, then another OS user, directly and from a job of theirs, trying the
 * two Unix sockets and DynamoDB Local's TCP port; and the stack still runs a job to its end.
 * The OS-user parts need root to create the user (as in auth.test.ts) and skip otherwise.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureCredential } from "../../infra/local/credentials.js";
import { startLocal } from "../../infra/local/runtime.js";
import { lookupOsUser } from "../../shared/auth/os-user.js";
import { type CliIdentity, type Stack, script, smallConfig, startStack } from "./helpers.js";

const asRoot = process.getuid?.() === 0;
const userName = `mqd${process.pid % 100000}`;
let s: Stack;
let dataDir: string;
let other: CliIdentity;
let home: string;

/** Tries every target and prints `{name: "connected" | error code}` as one JSON line. */
const PROBE = `
const net = require("node:net");
const targets = JSON.parse(process.argv[2]);
const out = {};
let left = targets.length;
for (const t of targets) {
  let done = false;
  const finish = (r) => {
    if (done) return;
    done = true;
    out[t.name] = r;
    c.destroy();
    if (--left === 0) console.log(JSON.stringify(out));
  };
  const c = net.connect(t.path ? { path: t.path } : { host: "127.0.0.1", port: t.port });
  c.setTimeout(3000, () => finish("timeout"));
  c.on("connect", () => finish("connected"));
  c.on("error", (e) => finish(e.code));
}
`;

function targets() {
  return [
    { name: "ddb.sock", path: path.join(dataDir, "sock", "ddb.sock") },
    { name: "sqs.sock", path: path.join(dataDir, "sock", "sqs.sock") },
    { name: "ddb.tcp", port: s.mq.dynamodb.port },
  ];
}

/** Ports in LISTEN state in the network namespace of process `pid`. */
function listeningPorts(pid: number): number[] {
  const ports: number[] = [];
  for (const f of ["tcp", "tcp6"]) {
    let text = "";
    try {
      text = fs.readFileSync(`/proc/${pid}/net/${f}`, "utf8");
    } catch {
      continue;
    }
    for (const line of text.split("\n").slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols[3] === "0A") ports.push(Number.parseInt(cols[1].split(":")[1], 16));
    }
  }
  return ports;
}

beforeAll(async () => {
  s = await startStack();
  dataDir = path.join(s.dir, "data");
  // the other user must reach the CLI's server list and their own home
  fs.chmodSync(s.dir, 0o755);
  home = path.join(s.dir, "other-home");
  fs.mkdirSync(home);
  fs.writeFileSync(path.join(home, "probe.cjs"), PROBE, { mode: 0o644 });
  if (asRoot) {
    execFileSync("useradd", ["-M", "-N", "-d", home, "-s", "/bin/bash", userName]);
    const acct = lookupOsUser(userName);
    if (!acct) throw new Error(`could not create user ${userName}`);
    fs.chownSync(home, acct.uid, acct.gid);
    const cred = ensureCredential(s.mq.credentials, userName, {
      file: path.join(home, ".metaqueue", "credential"),
    });
    other = { credential: cred.file, uid: acct.uid, gid: acct.gid, home };
  }
}, 90_000);

afterAll(async () => {
  await s?.mq.stop();
  if (asRoot) {
    try {
      execFileSync("userdel", [userName]);
    } catch {
      // already gone
    }
  }
});

describe("the data services are the runtime's alone", () => {
  it("the data dir lets others pass (to their jobs' scratch) but not look; all it holds is 0700/0600", () => {
    const uid = process.getuid?.();
    expect(fs.statSync(dataDir).mode & 0o777).toBe(0o711);
    expect(s.mq.ddbEndpoint).toBe(`unix:${path.join(dataDir, "sock", "ddb.sock")}`);
    expect(s.mq.sqsEndpoint).toBe(`unix:${path.join(dataDir, "sock", "sqs.sock")}`);
    const seen: string[] = [];
    const bad: string[] = [];
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        // the MOMs' scratch: each job's folder is 0700 and its owner's (shared/exec/run-job.ts)
        if (dir === dataDir && e.name === "mom") continue;
        const st = fs.lstatSync(p);
        const mode = st.mode & 0o777;
        const want = e.isDirectory() ? 0o700 : 0o600;
        seen.push(path.relative(dataDir, p));
        if (mode !== want) bad.push(`${path.relative(dataDir, p)} ${mode.toString(8)}`);
        if (uid !== undefined && st.uid !== uid) bad.push(`${path.relative(dataDir, p)} uid ${st.uid}`);
        if (e.isDirectory()) walk(p);
      }
    };
    walk(dataDir);
    expect(bad).toEqual([]);
    expect(seen).toEqual(
      expect.arrayContaining([
        "sock",
        path.join("sock", "ddb.sock"),
        path.join("sock", "sqs.sock"),
        "dynamodb",
        path.join("dynamodb", "shared-local-instance.db"),
        "credentials.json",
        "peer-secret",
      ]),
    );
  });

  it.skipIf(!asRoot)(
    "DynamoDB Local's port is in a network namespace of its own, not on this host",
    async () => {
      const { pid, port, isolation } = s.mq.dynamodb;
      expect(isolation).toBe("netns");
      // the JVM does listen on that port, in its namespace...
      expect(listeningPorts(pid)).toContain(port);
      // ...and nothing does here, for root either
      expect(listeningPorts(process.pid)).not.toContain(port);
      const code = await new Promise<string>((resolve) => {
        const c = net.connect({ host: "127.0.0.1", port });
        c.on("connect", () => {
          c.destroy();
          resolve("connected");
        });
        c.on("error", (e: NodeJS.ErrnoException) => resolve(e.code ?? "error"));
      });
      expect(code).toBe("ECONNREFUSED");
    },
  );

  it.skipIf(!asRoot)("another OS user can connect to neither socket nor the port", () => {
    const out = execFileSync(process.execPath, [path.join(home, "probe.cjs"), JSON.stringify(targets())], {
      uid: other.uid,
      gid: other.gid,
      cwd: home,
      encoding: "utf8",
    });
    expect(JSON.parse(out)).toEqual({
      "ddb.sock": "EACCES",
      "sqs.sock": "EACCES",
      "ddb.tcp": "ECONNREFUSED",
    });
  });

  it.skipIf(!asRoot)("a job of that user cannot either, and the job still runs to its end", async () => {
    const t = targets();
    const body = [
      "#!/bin/bash",
      "#PBS -N probe",
      `${process.execPath} ${path.join(home, "probe.cjs")} '${JSON.stringify(t)}'`,
      // without node too: bash's own TCP, and a plain open of the sockets
      `(exec 3<>/dev/tcp/127.0.0.1/${s.mq.dynamodb.port}) 2>/dev/null && echo "bash.tcp connected" || echo "bash.tcp refused"`,
      `ls ${path.join(dataDir, "sock")} >/dev/null 2>&1 && echo "ls.sock listed" || echo "ls.sock denied"`,
      "",
    ].join("\n");
    const file = script(home, "probe.pbs", body);
    fs.chownSync(file, other.uid as number, other.gid as number);
    const sub = await s.cli("qsub", [file], { cwd: home, as: other });
    expect(sub.code, sub.stderr).toBe(0);
    const id = sub.stdout.trim();
    // F: the MOM's obituary arrived and the server ended the job
    expect(await s.waitState(id, ["F"], 60_000)).toBe("F");
    expect(await s.attr(id, "Exit_status")).toBe("0");
    const outFile = path.join(home, `probe.o${id.split(".")[0]}`);
    const lines = fs.readFileSync(outFile, "utf8").trim().split("\n");
    expect(JSON.parse(lines[0])).toEqual({
      "ddb.sock": "EACCES",
      "sqs.sock": "EACCES",
      "ddb.tcp": "ECONNREFUSED",
    });
    expect(lines.slice(1)).toEqual(["bash.tcp refused", "ls.sock denied"]);
  });

  it("a second runtime on the same data is refused instead of taking over the sockets", async () => {
    const second = startLocal({
      config: smallConfig,
      dataDir,
      confPath: path.join(s.dir, "second-servers.json"),
      credentialPath: s.credential,
      log: () => {},
    });
    await expect(second).rejects.toThrow(/ddb\.sock is in use by another runtime/);
  });

  it("the runtime's own job runs to its end over the private sockets", async () => {
    const sub = await s.cli("qsub", [script(s.dir, "hello.pbs", "#!/bin/bash\n#PBS -N hello\necho hello\n")]);
    expect(sub.code, sub.stderr).toBe(0);
    const id = sub.stdout.trim();
    expect(await s.waitState(id, ["F"], 60_000)).toBe("F");
    expect(await s.attr(id, "Exit_status")).toBe("0");
    expect(fs.readFileSync(path.join(s.dir, `hello.o${id.split(".")[0]}`), "utf8")).toBe("hello\n");
  });
});
