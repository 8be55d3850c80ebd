/**
 * qsub -I on the real local stack (issue 13, point 4): the real qsub binary, the runtime's
 * scheduler and MOM processes, DynamoDB Local and the SQS emulator. A session without a
 * terminal (commands piped in), one with a pseudo-terminal (qsub run under util-linux `script`),
 * qdel of a running session, and the session's user (a second OS account when run as root).
 */
import { execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureCredential } from "../../infra/local/credentials.js";
import { lookupOsUser } from "../../shared/auth/os-user.js";
import { type CliIdentity, type Stack, startStack } from "./helpers.js";

const asRoot = process.getuid?.() === 0;
const BIN = path.resolve("node_modules/.bin");
let s: Stack;
let carol: (CliIdentity & { name: string }) | undefined;

beforeAll(async () => {
  s = await startStack();
  if (asRoot) {
    fs.chmodSync(s.dir, 0o755);
    const name = `mqi${process.pid % 100000}`;
    const home = path.join(s.dir, `home-${name}`);
    fs.mkdirSync(home, { mode: 0o755 });
    execFileSync("useradd", ["-M", "-N", "-d", home, "-s", "/bin/bash", name]);
    const acct = lookupOsUser(name);
    if (!acct) throw new Error(`could not create ${name}`);
    fs.chownSync(home, acct.uid, acct.gid);
    const cred = ensureCredential(s.mq.credentials, name, {
      file: path.join(home, ".metaqueue", "credential"),
    });
    carol = { name, credential: cred.file, uid: acct.uid, gid: acct.gid, home };
  }
}, 120_000);

afterAll(async () => {
  await s?.mq.stop();
  if (carol) {
    try {
      execFileSync("userdel", [carol.name]);
    } catch {
      // already gone
    }
  }
});

/** qsub (or any command line) as a child we drive: its output so far and its exit. */
function drive(cmd: string, args: string[], as?: CliIdentity) {
  const child = spawn(cmd, args, {
    cwd: as?.home ?? s.dir,
    env: {
      ...process.env,
      METAQUEUE_CONF: s.conf,
      METAQUEUE_SERVER_URL: "",
      METAQUEUE_CREDENTIAL: as?.credential ?? s.credential,
      METAQUEUE_TOKEN: "",
      TERM: "xterm",
      ...(as?.home ? { HOME: as.home, USER: "", LOGNAME: "" } : {}),
    },
    stdio: ["pipe", "pipe", "pipe"],
    ...(as?.uid !== undefined ? { uid: as.uid, gid: as.gid } : {}),
  });
  let out = "";
  let err = "";
  child.stdout.on("data", (b) => {
    out += String(b);
  });
  child.stderr.on("data", (b) => {
    err += String(b);
  });
  let gone = false;
  const exited = new Promise<number>((r) =>
    child.on("exit", (code, sig) => {
      gone = true;
      r(code ?? 128 + (sig ? 1 : 0));
    }),
  );
  const until = async (re: RegExp, ms = 60_000) => {
    const end = Date.now() + ms;
    while (Date.now() < end && !gone) {
      if (re.test(out)) return out;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`no ${re} in qsub's output:\n${out}\nstderr:\n${err}`);
  };
  return { child, exited, until, out: () => out, err: () => err };
}

const jobIdIn = (out: string) => /qsub: waiting for job (\S+) to start/.exec(out)?.[1] ?? "";

describe("qsub -I", () => {
  it("without a terminal runs the piped commands as the job and exits with the shell's status", async () => {
    const q = drive(path.join(BIN, "qsub"), ["-I", "-l", "walltime=00:05:00", "-N", "inter"], carol);
    q.child.stdin.end(
      'echo "id=$PBS_JOBID env=$PBS_ENVIRONMENT user=$(id -un) pwd=$PWD"; test -s "$PBS_NODEFILE" && echo nodefile-ok; test -d "$TMPDIR" && echo tmpdir-ok; exit 3\n',
    );
    const code = await q.exited;
    const out = q.out();
    const id = jobIdIn(out);
    expect(id, `${out}\n${q.err()}`).toMatch(/^\d+\.casper$/);
    expect(out).toContain(`qsub: job ${id} ready`);
    expect(out).toContain(`id=${id} env=PBS_INTERACTIVE`);
    expect(out).toContain("nodefile-ok");
    expect(out).toContain("tmpdir-ok");
    if (carol) expect(out).toContain(`user=${carol.name} pwd=${carol.home}`);
    expect(out).toContain(`qsub: job ${id} completed`);
    // the job's comment says why when the status is not the shell's
    expect(code, `${await s.attr(id, "comment")}`).toBe(3);
    expect(await s.attr(id, "job_state")).toBe("F");
    expect(await s.attr(id, "Exit_status")).toBe("3");
    expect(await s.attr(id, "interactive")).toBe("True");
    // no output files: the terminal was the output
    expect(fs.readdirSync(carol?.home ?? s.dir).filter((f) => f.startsWith("inter.o"))).toEqual([]);
  }, 120_000);

  it("with a terminal gives the job a pseudo-terminal", async () => {
    const qsub = path.join(BIN, "qsub");
    // util-linux script gives qsub a terminal of its own; we type into it
    const q = drive("script", ["-qfec", `${qsub} -I -l walltime=00:05:00`, "/dev/null"]);
    await q.until(/qsub: job \S+ ready/);
    q.child.stdin.write("tty; echo term=$TERM; exit 4\r");
    const code = await q.exited;
    const out = q.out();
    expect(out).toMatch(/\/dev\/pts\/\d+/);
    expect(out).toContain("term=xterm");
    expect(out).toMatch(/qsub: job \S+ completed/);
    expect(code).toBe(4);
  }, 120_000);

  it("qdel ends a running session", async () => {
    const q = drive(path.join(BIN, "qsub"), ["-I", "-l", "walltime=00:05:00"]);
    await q.until(/qsub: job \S+ ready/);
    const id = jobIdIn(q.out());
    q.child.stdin.write("echo started; sleep 300\n");
    await q.until(/started/);
    const del = await s.cli("qdel", [id]);
    expect(del.code, del.stderr).toBe(0);
    const code = await q.exited;
    expect(q.out()).toContain(`qsub: job ${id} completed`);
    expect(code).not.toBe(0);
    expect(await s.attr(id, "job_state")).toBe("F");
  }, 120_000);

  it("refuses -W block=true with -I", async () => {
    const r = await s.cli("qsub", ["-I", "-W", "block=true"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("-W block=true cannot be used with an interactive job (-I)");
  });
});
