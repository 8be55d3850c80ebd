/**
 * Who may do what, on the real local stack with the real CLI: two identities (a second OS
 * user when the tests run as root, else a second credential file), PBS privilege levels,
 * queue ACLs, credentials that are missing or forged, and the audit trail tracejob shows.
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureCredential } from "../../infra/local/credentials.js";
import { lookupOsUser, osGroups } from "../../shared/auth/os-user.js";
import { type CliIdentity, type Stack, script, startStack } from "./helpers.js";

const asRoot = process.getuid?.() === 0;
const bobName = asRoot ? `mqt${process.pid % 100000}` : "bob";
let s: Stack;
let bob: CliIdentity;
let bobHome: string;
let me: string;

beforeAll(async () => {
  s = await startStack();
  me = execFileSync("id", ["-un"], { encoding: "utf8" }).trim();
  // a second user must be able to reach the CLI's server list and its own home
  fs.chmodSync(s.dir, 0o755);
  bobHome = path.join(s.dir, "bob-home");
  fs.mkdirSync(bobHome);
  if (asRoot) {
    execFileSync("useradd", ["-M", "-N", "-d", bobHome, "-s", "/bin/bash", bobName]);
    const acct = lookupOsUser(bobName);
    if (!acct) throw new Error(`could not create user ${bobName}`);
    fs.chownSync(bobHome, acct.uid, acct.gid);
    const cred = ensureCredential(s.mq.credentials, bobName, {
      file: path.join(bobHome, ".metaqueue", "credential"),
    });
    bob = { credential: cred.file, uid: acct.uid, gid: acct.gid, home: bobHome };
  } else {
    const cred = ensureCredential(s.mq.credentials, bobName, { file: path.join(s.dir, "bob-credential") });
    bob = { credential: cred.file };
  }
}, 90_000);

afterAll(async () => {
  await s?.mq.stop();
  if (asRoot) {
    try {
      execFileSync("userdel", [bobName]);
    } catch {
      // already gone
    }
  }
});

const held = (dir: string) =>
  script(dir, `held${Math.random().toString(36).slice(2, 7)}.pbs`, "#PBS -h\nsleep 30\n");

describe("identity", () => {
  it("refuses a request with no credential, a forged one, or one others can read", async () => {
    const none = path.join(s.dir, "no-such-credential");
    let r = await s.cli("qstat", [], { as: { credential: none } });
    expect(r.code).toBe(159);
    expect(r.stderr).toMatch(/^qstat: Unauthorized Request: no credential/);

    const forged = path.join(s.dir, "forged");
    fs.writeFileSync(forged, "Zm9yZ2VkLXRva2VuLW5vdC1pc3N1ZWQtYnktdGhlLXJ1bnRpbWU\n", { mode: 0o600 });
    r = await s.cli("qstat", [], { as: { credential: forged } });
    expect(r.code).toBe(159);
    expect(r.stderr).toMatch(/credential not recognized/);

    const open = path.join(s.dir, "open");
    fs.copyFileSync(s.credential, open);
    fs.chmodSync(open, 0o644);
    r = await s.cli("qstat", [], { as: { credential: open } });
    expect(r.code).toBe(159);
    expect(r.stderr).toMatch(/accessible by others/);

    // the old trusted header is ignored: without a token it is anonymous
    const url = s.mq.sites[0].url;
    const res = await fetch(`${url}/v1/jobs`, { headers: { "x-metaqueue-user": me } });
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { message: string } }).error.message).toMatch(/Unauthorized/);
    // health and the OpenAPI document stay public
    expect((await fetch(`${url}/health`)).status).toBe(200);
  });
});

describe("PBS privilege levels", () => {
  it("a user sees every job but changes only their own; a manager changes any, and it is audited", async () => {
    const mine = (await s.cli("qsub", [held(s.dir)])).stdout.trim();
    const theirs = (await s.cli("qsub", [held(bobHome)], { cwd: bobHome, as: bob })).stdout.trim();
    expect(mine).toMatch(/^\d+\.casper$/);
    expect(theirs).toMatch(/^\d+\.casper$/);
    expect(await s.attr(theirs, "Job_Owner")).toMatch(new RegExp(`^${bobName}@`));

    // bob sees both
    const st = await s.cli("qstat", [], { as: bob, cwd: bobHome });
    expect(st.stdout).toContain(mine.split(".")[0]);
    expect(st.stdout).toContain(theirs.split(".")[0]);

    // bob may not touch mine: PBS message and exit code, nothing changes
    const before = await s.cli("qstat", ["-f", "-F", "json", mine]);
    for (const [cmd, args] of [
      ["qdel", [mine]],
      ["qhold", [mine]],
      ["qrls", [mine]],
      ["qalter", ["-N", "stolen", mine]],
      ["qmove", ["casper", mine]],
      ["qrerun", [theirs]],
      ["qhold", ["-h", "o", theirs]],
    ] as const) {
      const r = await s.cli(cmd, [...args], { as: bob, cwd: bobHome });
      expect(r.code, `${cmd} ${args.join(" ")}`).toBe(159);
      expect(r.stderr).toMatch(new RegExp(`^${cmd}: Unauthorized Request`));
    }
    const after = await s.cli("qstat", ["-f", "-F", "json", mine]);
    const strip = (t: string) => {
      const j = Object.values(JSON.parse(t).Jobs)[0] as Record<string, unknown>;
      return { state: j.job_state, name: j.Job_Name, holds: j.Hold_Types };
    };
    expect(strip(after.stdout)).toEqual(strip(before.stdout));

    // bob may act on his own job
    expect((await s.cli("qalter", ["-N", "renamed", theirs], { as: bob, cwd: bobHome })).code).toBe(0);
    expect((await s.cli("qhold", [theirs], { as: bob, cwd: bobHome })).code).toBe(0);
    expect((await s.cli("qrls", [theirs], { as: bob, cwd: bobHome })).code).toBe(0);
    expect(await s.attr(theirs, "Job_Name")).toBe("renamed");

    // the runtime's user is a manager: may delete bob's job
    expect((await s.cli("qdel", [theirs])).code).toBe(0);
    expect((await s.cli("qdel", [mine])).code).toBe(0);

    // tracejob shows the refusals and the manager's action, with who
    const tj = (await s.cli("tracejob", [mine])).stdout;
    expect(tj).toMatch(new RegExp(`audit: qdel refused for ${bobName}`));
    expect(tj).toMatch(new RegExp(`audit: qalter refused for ${bobName}`));
    const tj2 = (await s.cli("tracejob", [theirs])).stdout;
    expect(tj2).toMatch(
      new RegExp(`audit: qdel allowed for ${me} \\(manager privilege on a job of ${bobName}\\)`),
    );
    expect(tj2).toMatch(new RegExp(`audit: qrerun refused for ${bobName}`));
    // and the day's audit trail has them too
    const trail = await s.mq.sites[0].ctx.store.listAudit(new Date().toISOString().slice(0, 10));
    expect(trail.some((a) => a.user === bobName && a.action === "qdel" && a.outcome === "refused")).toBe(
      true,
    );
  });

  it("qmgr changes need a manager; an operator may set only the operator attributes", async () => {
    // qmgr exits with its number of failed commands, as PBS's does
    let r = await s.cli("qmgr", ["-c", "set server scheduling = False"], { as: bob, cwd: bobHome });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^qmgr: Unauthorized Request: \S+ is not a manager/);
    // reading is for everyone
    r = await s.cli("qmgr", ["-c", "list queue casper"], { as: bob, cwd: bobHome });
    expect(r.code).toBe(0);

    expect((await s.cli("qmgr", ["-c", `set server operators += ${bobName}@*`])).code).toBe(0);
    await new Promise((res) => setTimeout(res, 1100)); // server objects are cached for 1 s
    r = await s.cli("qmgr", ["-c", "set queue casper enabled = True"], { as: bob, cwd: bobHome });
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    r = await s.cli("qmgr", ["-c", `set server managers += ${bobName}@*`], { as: bob, cwd: bobHome });
    expect(r.code).toBe(1);
    r = await s.cli("qmgr", ["-c", "create queue bobq queue_type = Execution"], { as: bob, cwd: bobHome });
    expect(r.code).toBe(1);
    expect((await s.cli("qmgr", ["-c", `set server operators -= ${bobName}@*`])).code).toBe(0);
    const trail = await s.mq.sites[0].ctx.store.listAudit(new Date().toISOString().slice(0, 10));
    expect(trail.some((a) => a.action === "qmgr" && a.user === bobName && a.outcome === "allowed")).toBe(
      true,
    );
    expect(trail.some((a) => a.action === "qmgr" && a.user === bobName && a.outcome === "refused")).toBe(
      true,
    );
  });

  it("queue acl_users and acl_groups decide who may submit", async () => {
    const cmds = async (c: string) => expect((await s.cli("qmgr", ["-c", c])).code).toBe(0);
    await cmds(`set queue casper acl_users = ${me}`);
    await cmds("set queue casper acl_user_enable = True");
    await new Promise((res) => setTimeout(res, 1100));
    let r = await s.cli("qsub", [held(bobHome)], { as: bob, cwd: bobHome });
    expect(r.code).toBe(159);
    expect(r.stderr).toMatch(
      /^qsub: Unauthorized Request: user \S+ is not in the access list of queue casper/,
    );
    r = await s.cli("qsub", [held(s.dir)]);
    expect(r.code).toBe(0);
    await s.cli("qdel", [r.stdout.trim()]);
    await cmds("set queue casper acl_user_enable = False");
    const myGroup = osGroups(me)[0] ?? "nogroup-here";
    await cmds(`set queue casper acl_groups = ${myGroup}`);
    await cmds("set queue casper acl_group_enable = True");
    await new Promise((res) => setTimeout(res, 1100));
    r = await s.cli("qsub", [held(bobHome)], { as: bob, cwd: bobHome });
    if (asRoot && !osGroups(bobName).includes(myGroup)) {
      expect(r.code).toBe(159);
      expect(r.stderr).toMatch(/group access list of queue casper/);
    }
    await cmds("set queue casper acl_group_enable = False");
  });
});

describe.runIf(asRoot)("job execution as the submitting user", () => {
  it("runs bob's job as bob, and cannot write where bob cannot", async () => {
    await new Promise((res) => setTimeout(res, 1100));
    const sc = script(bobHome, "whoami.pbs", "#PBS -N whoami\nid -un\n");
    fs.chmodSync(sc, 0o644);
    const id = (await s.cli("qsub", [sc], { as: bob, cwd: bobHome })).stdout.trim();
    await s.waitState(id, ["F"]);
    const out = path.join(bobHome, `whoami.o${id.split(".")[0]}`);
    expect(fs.readFileSync(out, "utf8").trim()).toBe(bobName);
    expect(fs.statSync(out).uid).toBe(bob.uid);

    // -o into a directory only root may write: the output is not delivered there
    const rootOnly = path.join(s.dir, "root-only");
    fs.mkdirSync(rootOnly, { mode: 0o755 });
    const id2 = (
      await s.cli("qsub", ["-o", path.join(rootOnly, "stolen.out"), sc], { as: bob, cwd: bobHome })
    ).stdout.trim();
    await s.waitState(id2, ["F"]);
    expect(fs.existsSync(path.join(rootOnly, "stolen.out"))).toBe(false);
    expect(await s.attr(id2, "comment")).toMatch(/could not be delivered/);
  });
});
