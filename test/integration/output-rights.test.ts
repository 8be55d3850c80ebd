/**
 * The site acts for a user only with that user's rights (issue 10, part 1 and 4), on the real
 * local stack run as root with two real OS users driving the real CLI, and output read through
 * the dashboard's API call (GET /v1/jobs/<id>/output?stream=o|e):
 * - output paths that name files the user may not read are never read for them (not even for
 *   a job that never ran), and a root-owned file named as output is never written;
 * - the MOM does not write through a link, and keeps such output in undelivered/;
 * - a manager reading a user's output gets only what that user could read;
 * - a FIFO as output neither hangs the MOM (the node takes the next job at once) nor any read.
 * Root only: it makes OS users, as auth.test.ts does.
 */
import { createHash } from "node:crypto";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureCredential } from "../../infra/local/credentials.js";
import { readCredentialFile } from "../../shared/auth/credential-file.js";
import { lookupOsUser } from "../../shared/auth/os-user.js";
import { parseConfig } from "../../shared/config/site-config.js";
import { type CliIdentity, type Stack, script, startStack } from "./helpers.js";

const asRoot = process.getuid?.() === 0;
const tag = process.pid % 100000;
const users = { bob: `mqob${tag}`, alice: `mqoa${tag}` };

/** One node: a MOM that hangs would leave no other node to run the next job. */
const oneNode = parseConfig({
  sites: [
    {
      name: "casper",
      server: "casper-pbs",
      queues: [{ name: "casper", attributes: { "resources_default.walltime": "00:05:00" } }],
      nodes: [{ name: "n1", ncpus: 2, mem: "4gb" }],
    },
  ],
});

interface User extends CliIdentity {
  name: string;
  uid: number;
  gid: number;
  home: string;
}

let s: Stack;
let bob: User;
let alice: User;
const made: string[] = [];

function makeUser(name: string): User {
  const home = path.join(s.dir, `home-${name}`);
  fs.mkdirSync(home, { mode: 0o755 });
  execFileSync("useradd", ["-M", "-N", "-d", home, "-s", "/bin/bash", name]);
  made.push(name);
  const acct = lookupOsUser(name);
  if (!acct) throw new Error(`could not create user ${name}`);
  fs.chownSync(home, acct.uid, acct.gid);
  const cred = ensureCredential(s.mq.credentials, name, {
    file: path.join(home, ".metaqueue", "credential"),
  });
  return { name, credential: cred.file, uid: acct.uid, gid: acct.gid, home };
}

beforeAll(async () => {
  if (!asRoot) return;
  s = await startStack(undefined, oneNode);
  // other users must reach their homes (and the CLI's server list) under the stack's folder
  fs.chmodSync(s.dir, 0o755);
  bob = makeUser(users.bob);
  alice = makeUser(users.alice);
}, 120_000);

afterAll(async () => {
  await s?.mq.stop();
  for (const u of made) {
    try {
      execFileSync("userdel", [u]);
    } catch {
      // already gone
    }
  }
});

/** Whether `u` may read `p` (test -r run as that user): what the API must answer for them. */
const mayRead = (u: User, p: string) => spawnSync("test", ["-r", p], { uid: u.uid, gid: u.gid }).status === 0;
/** The undelivered/ copy a job's comment names. */
const keptAt = (comment: string) => /kept at (\S+)/.exec(comment)?.[1] ?? "";

const sha = (p: string) => createHash("sha256").update(fs.readFileSync(p)).digest("hex");

/** What the dashboard asks: the tail of a stream, as `who` (their credential). */
async function readOutput(id: string, stream: "o" | "e", who: { credential: string }) {
  const token = readCredentialFile(who.credential);
  const t0 = Date.now();
  const res = await fetch(`${s.mq.sites[0].url}/v1/jobs/${encodeURIComponent(id)}/output?stream=${stream}`, {
    headers: { authorization: `Bearer ${token}` },
    signal: AbortSignal.timeout(15_000),
  });
  const text = await res.text();
  return { status: res.status, text, ms: Date.now() - t0, json: JSON.parse(text) as Record<string, unknown> };
}

async function qsubAs(u: User, args: string[], body: string): Promise<string> {
  const sc = script(u.home, `j${Math.random().toString(36).slice(2, 8)}.pbs`, body);
  fs.chownSync(sc, u.uid, u.gid);
  const r = await s.cli("qsub", [...args, sc], { as: u, cwd: u.home });
  expect(r.stderr).toBe("");
  return r.stdout.trim();
}

describe.runIf(asRoot)("output is read and written with the owner's rights only", () => {
  it("a held job naming /etc/shadow and root's credential as output reads neither", async () => {
    const rootCred = fs.readFileSync(s.credential, "utf8").trim();
    const shadow = fs.readFileSync("/etc/shadow", "utf8");
    const id = await qsubAs(bob, ["-h", "-o", "/etc/shadow", "-e", s.credential], "true\n");
    for (const stream of ["o", "e"] as const) {
      for (const who of [bob, { credential: s.credential }]) {
        const r = await readOutput(id, stream, who);
        expect(r.status, `${stream} ${r.text}`).toBe(404);
        expect(r.text).toMatch(/no output yet/);
        expect(r.text).not.toContain(rootCred);
        if (shadow.length > 8) expect(r.text).not.toContain(shadow.slice(0, 8));
      }
    }
    expect((await s.cli("qdel", [id])).code).toBe(0);
  });

  it("a root-owned 0600 file named as output is never written; the run's output is read from undelivered/", async () => {
    const secret = path.join(s.dir, "site-secret");
    fs.writeFileSync(secret, "ROOT-SECRET\n", { mode: 0o600 });
    const before = sha(secret);
    const id = await qsubAs(bob, ["-o", secret, "-e", secret], "echo from-bob\n");
    await s.waitState(id, ["F"]);
    expect(sha(secret)).toBe(before);
    const comment = String(await s.attr(id, "comment"));
    expect(comment).toMatch(
      /could not be delivered to .*site-secret \(permission denied\); kept at .*undelivered/,
    );
    const r = await readOutput(id, "o", bob);
    expect(r.text).not.toContain("ROOT-SECRET");
    // the undelivered/ copy is bob's: read as bob, when the MOM's folder lets him reach it
    const kept = keptAt(comment);
    expect(fs.statSync(kept).uid).toBe(bob.uid);
    expect(r.status).toBe(mayRead(bob, kept) ? 200 : 403);
    if (r.status === 200) {
      expect(r.json.path).toBe(kept);
      expect(r.json.text).toBe("from-bob\n");
    }
  });

  it("bob's -o a link to alice's 0600 file: not written through, refused while running, kept in undelivered/", async () => {
    const hers = path.join(alice.home, "private.out");
    fs.writeFileSync(hers, "ALICE-PRIVATE\n", { mode: 0o600 });
    fs.chownSync(hers, alice.uid, alice.gid);
    const before = sha(hers);
    const link = path.join(bob.home, "link.out");
    execFileSync("ln", ["-s", hers, link], { uid: bob.uid, gid: bob.gid });
    const id = await qsubAs(bob, ["-o", link], "echo through-link\nsleep 3\n");
    await s.waitState(id, ["R"]);
    const running = await readOutput(id, "o", bob);
    expect(running.status).toBe(403);
    expect(running.text).toMatch(/a symbolic link/);
    expect(running.text).not.toContain("ALICE-PRIVATE");
    await s.waitState(id, ["F"]);
    expect(sha(hers)).toBe(before);
    expect(fs.lstatSync(link).isSymbolicLink()).toBe(true);
    const comment = String(await s.attr(id, "comment"));
    expect(comment).toMatch(
      /could not be delivered to .*link\.out \(a symbolic link\); kept at .*undelivered/,
    );
    const done = await readOutput(id, "o", bob);
    expect(done.text).not.toContain("ALICE-PRIVATE");
    expect(done.status).toBe(mayRead(bob, keptAt(comment)) ? 200 : 403);
    if (done.status === 200) expect(done.json.text).toBe("through-link\n");
  });

  it("another user is refused; a manager reads a user's output as that user", async () => {
    const out = path.join(bob.home, "mine.out");
    const id = await qsubAs(bob, ["-o", out, "-j", "oe"], "echo bob-only\n");
    await s.waitState(id, ["F"]);
    fs.chmodSync(out, 0o600);
    expect((await readOutput(id, "o", alice)).status).toBe(403);
    const mgr = await readOutput(id, "o", { credential: s.credential });
    expect(mgr.status).toBe(200);
    expect(mgr.json.text).toBe("bob-only\n");
    expect(mgr.json.path).toBe(out);
    // the delivered file becomes one bob cannot read: the manager cannot read it either
    fs.chownSync(out, 0, 0);
    const now = await readOutput(id, "o", { credential: s.credential });
    expect(now.status).toBe(403);
    expect(now.text).toMatch(/permission denied/);
    expect(now.text).not.toContain("bob-only");
  });

  it("a FIFO as output hangs nothing: the job ends, the node takes the next job at once, reads answer", async () => {
    const fifo = path.join(bob.home, "f");
    execFileSync("mkfifo", [fifo], { uid: bob.uid, gid: bob.gid });
    const id = await qsubAs(bob, ["-o", fifo, "-j", "oe"], "echo to-fifo\nsleep 8\n");
    await s.waitState(id, ["R"]);
    // the only node's MOM is not stuck in open(): the next job runs and ends within seconds
    // (first, before any read: a reader opening the FIFO would unblock a stuck MOM)
    const t0 = Date.now();
    const next = await qsubAs(bob, ["-o", path.join(bob.home, "next.out")], "echo next\n");
    await s.waitState(next, ["F"], 15_000);
    const tookMs = Date.now() - t0;
    console.log(`FIFO job: next job on the same node finished ${tookMs} ms after submit`);
    expect(tookMs).toBeLessThan(10_000);
    expect(fs.readFileSync(path.join(bob.home, "next.out"), "utf8")).toBe("next\n");
    // a read while it runs: the path the MOM was given is the FIFO, refused at once
    expect(await s.attr(id, "job_state")).toBe("R");
    const running = await readOutput(id, "o", bob);
    expect(running.status).toBe(403);
    expect(running.text).toMatch(/not a regular file/);
    expect(running.ms).toBeLessThan(5000);
    await s.waitState(id, ["F"]);
    expect(String(await s.attr(id, "Exit_status"))).toBe("0");
    const comment = String(await s.attr(id, "comment"));
    expect(comment).toMatch(
      /could not be delivered to .*\/f \(a FIFO with no reader\); kept at .*undelivered/,
    );
    expect(fs.statSync(fifo).isFIFO()).toBe(true);
    const done = await readOutput(id, "o", bob);
    expect(done.ms).toBeLessThan(5000);
    expect(done.status).toBe(mayRead(bob, keptAt(comment)) ? 200 : 403);
    if (done.status === 200) expect(done.json.text).toBe("to-fifo\n");
  });
});
