/**
 * `-W stagein/stageout` on the real local stack (issue 13, point 4), run as root with a real
 * second OS user driving the real CLI: the MOM (root) copies each file as the job's user before
 * the job starts and after it ends; a stage-in it cannot do holds the job (hold s, PBS's
 * STAGEFAIL) and changes nothing on disk, even for a root-owned 0600 file the root MOM could
 * read; a failed stage-out keeps the files and says so; another storage host is refused at qsub.
 * Root only: it makes an OS user, as output-rights.test.ts does.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureCredential } from "../../infra/local/credentials.js";
import { lookupOsUser } from "../../shared/auth/os-user.js";
import { type CliIdentity, type Stack, script, startStack } from "./helpers.js";

const asRoot = process.getuid?.() === 0;
const bobName = `mqsb${process.pid % 100000}`;

interface User extends CliIdentity {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

let s: Stack;
let bob: User;
let made = false;

beforeAll(async () => {
  if (!asRoot) return;
  s = await startStack();
  fs.chmodSync(s.dir, 0o755);
  const home = path.join(s.dir, `home-${bobName}`);
  fs.mkdirSync(home, { mode: 0o755 });
  execFileSync("useradd", ["-M", "-N", "-d", home, "-s", "/bin/bash", bobName]);
  made = true;
  const acct = lookupOsUser(bobName);
  if (!acct) throw new Error(`could not create user ${bobName}`);
  fs.chownSync(home, acct.uid, acct.gid);
  const cred = ensureCredential(s.mq.credentials, bobName, {
    file: path.join(home, ".metaqueue", "credential"),
  });
  bob = { name: bobName, credential: cred.file, uid: acct.uid, gid: acct.gid, home };
}, 120_000);

afterAll(async () => {
  await s?.mq.stop();
  if (made) {
    try {
      execFileSync("userdel", [bobName]);
    } catch {
      // already gone
    }
  }
});

/** A directory of bob's, outside his home (the storage side). */
function bobDir(name: string): string {
  const d = path.join(s.dir, name);
  fs.mkdirSync(d, { recursive: true, mode: 0o755 });
  fs.chownSync(d, bob.uid, bob.gid);
  return d;
}

function bobFile(p: string, text: string, mode = 0o644): void {
  fs.writeFileSync(p, text, { mode });
  fs.chownSync(p, bob.uid, bob.gid);
}

async function qsubAs(args: string[], body: string): Promise<{ code: number; id: string; stderr: string }> {
  const sc = script(bob.home, `j${Math.random().toString(36).slice(2, 8)}.pbs`, body);
  fs.chownSync(sc, bob.uid, bob.gid);
  const r = await s.cli("qsub", [...args, sc], { as: bob, cwd: bob.home });
  return { code: r.code, id: r.stdout.trim(), stderr: r.stderr };
}

const seqOf = (id: string) => id.split(".")[0];

describe.runIf(asRoot)("-W stagein/stageout", () => {
  it("stage-in copies a file (and a directory) before the job reads them; qstat -f shows stagein", async () => {
    const store = bobDir("store-in");
    bobFile(path.join(store, "input.dat"), "INPUT-42\n");
    fs.mkdirSync(path.join(store, "tree", "sub"), { recursive: true });
    bobFile(path.join(store, "tree", "sub", "leaf.txt"), "LEAF\n");
    execFileSync("chown", ["-R", `${bob.uid}:${bob.gid}`, path.join(store, "tree")]);
    const list = `in.dat@localhost:${store}/input.dat,intree@${os.hostname()}:${store}/tree`;
    const q = await qsubAs(["-N", "stin", "-W", `stagein=${list}`], "cat in.dat intree/sub/leaf.txt\n");
    expect(q.stderr).toBe("");
    expect(await s.attr(q.id, "stagein")).toBe(list);
    await s.waitState(q.id, ["F"], 60_000);
    expect(await s.attr(q.id, "Exit_status")).toBe("0");
    const out = fs.readFileSync(path.join(bob.home, `stin.o${seqOf(q.id)}`), "utf8");
    expect(out).toBe("INPUT-42\nLEAF\n");
    // copied as bob, not as the root MOM
    expect(fs.statSync(path.join(bob.home, "in.dat")).uid).toBe(bob.uid);
    expect(fs.statSync(path.join(bob.home, "intree", "sub", "leaf.txt")).uid).toBe(bob.uid);
  }, 90_000);

  it("stage-out copies back what the job wrote, as the job's user", async () => {
    const store = bobDir("store-out");
    const dest = path.join(store, "result.txt");
    const q = await qsubAs(
      ["-N", "stout", "-W", `stageout=made.txt@${os.hostname()}:${dest}`],
      "echo RESULT-$PBS_JOBID > made.txt\n",
    );
    expect(q.stderr).toBe("");
    await s.waitState(q.id, ["F"], 60_000);
    expect(await s.attr(q.id, "Exit_status")).toBe("0");
    expect(fs.readFileSync(dest, "utf8")).toBe(`RESULT-${q.id}\n`);
    expect(fs.statSync(dest).uid).toBe(bob.uid);
  }, 90_000);

  it("a missing stage-in source holds the job with PBS's reason and creates nothing", async () => {
    const store = bobDir("store-missing");
    bobFile(path.join(store, "first.dat"), "FIRST\n");
    const list = `first.dat@localhost:${store}/first.dat,second.dat@localhost:${store}/nope.dat`;
    const q = await qsubAs(["-N", "stmiss", "-W", `stagein=${list}`], "echo ran > ran.txt\n");
    expect(q.stderr).toBe("");
    try {
      await s.waitState(q.id, ["H"], 60_000);
    } catch (e) {
      console.log(
        (await s.cli("qstat", ["-x", "-f", q.id])).stdout,
        (await s.cli("tracejob", [q.id])).stdout,
      );
      throw e;
    }
    expect(await s.attr(q.id, "Hold_Types")).toBe("s");
    expect(String(await s.attr(q.id, "comment"))).toMatch(
      /^Job held: File stage in failed: .*nope\.dat: No such file or directory/,
    );
    // nothing staged, nothing run
    expect(fs.existsSync(path.join(bob.home, "first.dat"))).toBe(false);
    expect(fs.existsSync(path.join(bob.home, "ran.txt"))).toBe(false);
    // the owner may not lift a system hold, an operator (root here) may; fixed, it runs
    expect((await s.cli("qrls", ["-h", "s", q.id], { as: bob })).code).not.toBe(0);
    bobFile(path.join(store, "nope.dat"), "SECOND\n");
    expect((await s.cli("qrls", ["-h", "s", q.id])).code).toBe(0);
    await s.waitState(q.id, ["F"], 60_000);
    expect(fs.readFileSync(path.join(bob.home, "second.dat"), "utf8")).toBe("SECOND\n");
  }, 120_000);

  it("a root-owned 0600 file is not staged in for the user, although the MOM runs as root", async () => {
    const secret = path.join(s.dir, "root-secret.dat");
    fs.writeFileSync(secret, "ROOT-ONLY\n", { mode: 0o600 });
    const q = await qsubAs(["-W", `stagein=stolen.dat@localhost:${secret}`], "cat stolen.dat\n");
    expect(q.stderr).toBe("");
    await s.waitState(q.id, ["H"], 60_000);
    expect(String(await s.attr(q.id, "comment"))).toMatch(
      /File stage in failed: .*root-secret\.dat: Permission denied/,
    );
    expect(fs.existsSync(path.join(bob.home, "stolen.dat"))).toBe(false);
    expect((await s.cli("qdel", [q.id])).code).toBe(0);
  }, 90_000);

  it("a failed stage-out keeps the files, keeps the script's Exit_status and says why", async () => {
    const locked = path.join(s.dir, "root-only-dir");
    fs.mkdirSync(locked, { mode: 0o700 });
    const q = await qsubAs(
      ["-N", "stfail", "-W", `stageout=keep.txt@localhost:${locked}/keep.txt`],
      "echo KEEP > keep.txt\n",
    );
    await s.waitState(q.id, ["F"], 60_000);
    expect(await s.attr(q.id, "Exit_status")).toBe("0");
    expect(String(await s.attr(q.id, "comment"))).toMatch(
      /File stage out failed: .*Permission denied.*files are kept/,
    );
    expect(fs.readFileSync(path.join(bob.home, "keep.txt"), "utf8")).toBe("KEEP\n");
    expect(fs.existsSync(path.join(locked, "keep.txt"))).toBe(false);
  }, 90_000);

  it("another storage host is refused at qsub with the reason; nothing is queued", async () => {
    const q = await qsubAs(["-W", "stagein=a.dat@elsewhere.example.org:/data/a.dat"], "true\n");
    expect(q.code).not.toBe(0);
    expect(q.id).toBe("");
    expect(q.stderr).toMatch(/storage host elsewhere\.example\.org is not this host .*no rcp\/scp/);
    const bad = await qsubAs(["-W", "stageout=justapath"], "true\n");
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/Illegal attribute or resource value: -W stageout=justapath/);
  }, 60_000);
});
