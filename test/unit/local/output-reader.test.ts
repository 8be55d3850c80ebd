/**
 * The local OutputReader (infra/local/output-reader.ts): regular files only, never through a
 * link, never blocking on a FIFO, at most `max` bytes; and, for a root runtime, read in a
 * process running as the job's owner, so a file the owner cannot read is refused.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import { afterAll, describe, expect, it } from "vitest";
import {
  localOutputReader,
  readTailAs,
  readTailHere,
  tailWindow,
} from "../../../infra/local/output-reader.js";
import { lookupOsUser } from "../../../shared/auth/os-user.js";
import type { OutputTail } from "../../../shared/ports/index.js";

const asRoot = process.getuid?.() === 0;
const nobody = asRoot ? lookupOsUser("nobody") : undefined;
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-reader-"));
fs.chmodSync(dir, 0o755);
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

const file = (name: string, text: string, mode = 0o644) => {
  const p = path.join(dir, name);
  fs.writeFileSync(p, text, { mode });
  fs.chmodSync(p, mode);
  return p;
};

/** A FIFO nobody writes to; if a regression blocks in open(), a thread unblocks it after 3 s. */
function fifoWithSafety(name: string): { p: string; done: () => Promise<number> } {
  const p = path.join(dir, name);
  execFileSync("mkfifo", ["-m", "0666", p]);
  const w = new Worker(
    `const fs = require("node:fs"); const { workerData: w } = require("node:worker_threads");
     Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 3000);
     try { const fd = fs.openSync(w.p, fs.constants.O_WRONLY | fs.constants.O_NONBLOCK); fs.closeSync(fd); } catch {}`,
    { eval: true, workerData: { p } },
  );
  return { p, done: () => w.terminate() };
}

type Read = (file: string, from: number | undefined, max: number) => Promise<OutputTail>;
const ways: [string, Read][] = [["in process", readTailHere]];
if (nobody)
  ways.push(["as another user (root runtime)", (f, from, max) => readTailAs(nobody, [], f, from, max)]);

describe.each(ways)("reading %s", (_name, read) => {
  it("reads the tail, from an offset, at most max bytes, and again from 0 after a rewrite", async () => {
    const p = file("out.txt", "0123456789");
    expect(await read(p, undefined, 4)).toEqual({ exists: true, size: 10, offset: 6, text: "6789" });
    expect(await read(p, 2, 3)).toEqual({ exists: true, size: 10, offset: 2, text: "234" });
    expect(await read(p, 10, 3)).toEqual({ exists: true, size: 10, offset: 10, text: "" });
    expect(await read(p, 50, 3)).toEqual({ exists: true, size: 10, offset: 0, text: "012" });
  });

  it("answers exists: false for a file not there yet", async () => {
    expect(await read(path.join(dir, "not-yet"), undefined, 10)).toEqual({ exists: false });
  });

  it("never follows a link, even to a file it could read", async () => {
    const target = file("target.txt", "through the link\n");
    const link = path.join(dir, `link-${Math.random().toString(36).slice(2)}`);
    fs.symlinkSync(target, link);
    expect(await read(link, undefined, 100)).toMatchObject({ exists: false, refused: "link" });
  });

  it("refuses a FIFO at once, without a writer and without blocking", async () => {
    const f = fifoWithSafety(`fifo-${Math.random().toString(36).slice(2)}`);
    const t0 = Date.now();
    const r = await read(f.p, undefined, 100);
    const took = Date.now() - t0;
    await f.done();
    expect(r).toMatchObject({ exists: false, refused: "not-regular" });
    expect(took).toBeLessThan(2000);
  });

  it("refuses a directory and a device", async () => {
    expect(await read(dir, undefined, 100)).toMatchObject({ exists: false, refused: "not-regular" });
    expect(await read("/dev/zero", undefined, 100)).toMatchObject({ exists: false, refused: "not-regular" });
  });
});

describe.runIf(!!nobody)("a root runtime reads as the job's owner", () => {
  it("refuses a file the owner may not read (root's 0600 file), which an in-process read would return", async () => {
    const secret = file("secret", "root only\n", 0o600);
    const owner = nobody as NonNullable<typeof nobody>;
    expect(await readTailAs(owner, [], secret, undefined, 100)).toMatchObject({
      exists: false,
      refused: "denied",
    });
    const reader = localOutputReader({ root: true });
    expect(await reader.tail("nobody", secret, undefined, 100)).toMatchObject({ refused: "denied" });
    // and the owner's own file is read
    const mine = file("nobodys", "nobody's output\n", 0o600);
    fs.chownSync(mine, owner.uid, owner.gid);
    expect(await reader.tail("nobody", mine, undefined, 100)).toMatchObject({
      exists: true,
      text: "nobody's output\n",
    });
  });

  it("reads with the owner's supplementary groups", async () => {
    // nobody's groups as the OS lists them are [nogroup]: a group-only file of another group
    // is refused, and the same file is read when that group is among the owner's groups
    const owner = nobody as NonNullable<typeof nobody>;
    const p = file("group-only", "for the group\n", 0o640);
    fs.chownSync(p, 0, 4242);
    expect(await readTailAs(owner, [owner.gid], p, undefined, 100)).toMatchObject({ refused: "denied" });
    expect(await readTailAs(owner, [owner.gid, 4242], p, undefined, 100)).toMatchObject({
      exists: true,
      text: "for the group\n",
    });
  });
});

describe("localOutputReader", () => {
  it("refuses an owner with no account here when the runtime is root", async () => {
    const p = file("anyone.txt", "x");
    expect(
      await localOutputReader({ root: true }).tail("mq_no_such_user_here", p, undefined, 10),
    ).toMatchObject({
      exists: false,
      refused: "no-account",
    });
  });

  it("tailWindow: the last max bytes by default; a from past the end starts again at 0", () => {
    expect(tailWindow(10, undefined, 4)).toEqual({ start: 6, len: 4 });
    expect(tailWindow(10, 3, 100)).toEqual({ start: 3, len: 7 });
    expect(tailWindow(10, 11, 4)).toEqual({ start: 0, len: 4 });
    expect(tailWindow(0, undefined, 4)).toEqual({ start: 0, len: 0 });
  });
});
