/**
 * `npm run credential -- bob` run as root writes into bob's home: nothing bob planted there (a
 * link as the folder or the file, a FIFO, a folder of someone else) may make root write or read
 * elsewhere, or hang. Run as root, the owner is `nobody`; otherwise the test's own user.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import { afterAll, beforeEach, describe, expect, it } from "vitest";
import { CredentialRegistry, ensureCredential } from "../../../infra/local/credentials.js";
import {
  newToken,
  readCredentialFileFor,
  writeCredentialFile,
} from "../../../shared/auth/credential-file.js";
import { lookupOsUser } from "../../../shared/auth/os-user.js";

const asRoot = process.getuid?.() === 0;
const nobody = asRoot ? lookupOsUser("nobody") : undefined;
const owner = nobody
  ? { uid: nobody.uid, gid: nobody.gid }
  : { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
const root = fs.mkdtempSync(path.join(os.tmpdir(), "mq-cred-"));
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

let home: string;
let victimDir: string;
let victim: string;
beforeEach(() => {
  // the user's home (theirs), and a folder and file of the site's that they must not reach
  home = fs.mkdtempSync(path.join(root, "home-"));
  fs.chownSync(home, owner.uid, owner.gid);
  victimDir = fs.mkdtempSync(path.join(root, "site-"));
  victim = path.join(victimDir, "credential");
  fs.writeFileSync(victim, `${newToken()}\n`, { mode: 0o600 });
});

const folder = () => path.join(home, ".metaqueue");
const file = () => path.join(folder(), "credential");

describe("writeCredentialFile for another user", () => {
  it("creates the folder (0700) and the file (0600), both the user's", () => {
    const t = newToken();
    writeCredentialFile(file(), t, owner);
    expect(fs.statSync(folder()).uid).toBe(owner.uid);
    expect(fs.statSync(folder()).mode & 0o777).toBe(0o700);
    expect(fs.statSync(file()).uid).toBe(owner.uid);
    expect(fs.statSync(file()).mode & 0o777).toBe(0o600);
    expect(readCredentialFileFor(file(), owner)).toBe(t);
    expect(fs.readdirSync(folder())).toEqual(["credential"]);
  });

  it("refuses a folder that is a link (onto the site's folder): nothing is written there", () => {
    const before = fs.readFileSync(victim, "utf8");
    fs.symlinkSync(victimDir, folder());
    expect(() => writeCredentialFile(file(), newToken(), owner)).toThrow(/not a folder/);
    expect(() => readCredentialFileFor(file(), owner)).toThrow(/not a folder/);
    expect(fs.readFileSync(victim, "utf8")).toBe(before);
    expect(fs.readdirSync(victimDir)).toEqual(["credential"]);
    expect(fs.statSync(victim).uid).toBe(process.getuid?.());
  });

  it.runIf(!!nobody)("refuses a folder that is not the user's", () => {
    fs.mkdirSync(folder(), { mode: 0o700 }); // root's
    expect(() => writeCredentialFile(file(), newToken(), owner)).toThrow(/must belong to uid/);
  });

  it("never reads through a link as the file, and replaces the link (not its target) on renew", () => {
    fs.mkdirSync(folder(), { mode: 0o700 });
    fs.chownSync(folder(), owner.uid, owner.gid);
    fs.symlinkSync(victim, file());
    const before = fs.readFileSync(victim, "utf8");
    expect(() => readCredentialFileFor(file(), owner)).toThrow(
      /cannot read credential file .*(ELOOP|symbolic)/,
    );
    const t = newToken();
    writeCredentialFile(file(), t, owner);
    expect(fs.lstatSync(file()).isFile()).toBe(true);
    expect(fs.readFileSync(victim, "utf8")).toBe(before);
    expect(readCredentialFileFor(file(), owner)).toBe(t);
  });

  it("does not block on a FIFO as the file, and replaces it on renew", async () => {
    fs.mkdirSync(folder(), { mode: 0o700 });
    fs.chownSync(folder(), owner.uid, owner.gid);
    execFileSync("mkfifo", ["-m", "0600", file()]);
    fs.chownSync(file(), owner.uid, owner.gid);
    // should a regression block in open(), a thread opens the other end after 3 s
    const safety = new Worker(
      `const fs = require("node:fs"); const { workerData: p } = require("node:worker_threads");
       Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
       try { fs.closeSync(fs.openSync(p, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK)); } catch {}`,
      { eval: true, workerData: file() },
    );
    const t0 = Date.now();
    expect(() => readCredentialFileFor(file(), owner)).toThrow(/not a regular file/);
    expect(Date.now() - t0).toBeLessThan(2000);
    await safety.terminate();
    writeCredentialFile(file(), newToken(), owner);
    expect(fs.lstatSync(file()).isFile()).toBe(true);
  });
});

describe.runIf(!!nobody)("ensureCredential as root for another user", () => {
  it("does not take over a token a link points at (the site's own credential)", () => {
    const reg = new CredentialRegistry(path.join(root, `registry-${Math.random()}.json`));
    fs.mkdirSync(folder(), { mode: 0o700 });
    fs.chownSync(folder(), owner.uid, owner.gid);
    fs.symlinkSync(victim, file());
    expect(() => ensureCredential(reg, "nobody", { file: file() })).toThrow(/cannot read credential file/);
    // --renew issues a fresh token in a real file of the user's; the site's file is untouched
    const before = fs.readFileSync(victim, "utf8");
    const r = ensureCredential(reg, "nobody", { file: file(), renew: true });
    expect(r.created).toBe(true);
    expect(fs.readFileSync(victim, "utf8")).toBe(before);
    expect(fs.lstatSync(file()).uid).toBe(owner.uid);
    expect(fs.readFileSync(file(), "utf8")).not.toBe(before);
  });
});
