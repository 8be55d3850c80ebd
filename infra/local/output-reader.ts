/**
 * The local OutputReader: job output read with the job owner's rights, never the runtime's.
 *
 * A root runtime reads in a short-lived `node` process that drops to the owner (supplementary
 * groups, gid, uid: permanently, and checks it cannot come back) before it opens anything.
 * Never seteuid inside the runtime itself: the switch applies to the whole process, so any
 * file operation another request has on libuv's thread pool at that moment would run as that
 * user (or that user's open as root, if the switch back came first).
 *
 * A runtime that is not root runs every job as itself (README "Status and limits"), so reading
 * as itself is reading as the job ran: in process, with the same flags and checks.
 *
 * Either way the file is opened O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_NOCTTY: a planted link is
 * refused, a FIFO opens at once (no writer needed with O_NONBLOCK) and is refused by the fstat
 * that follows, like any file that is not a regular one; at most `max` bytes are read.
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import { lookupOsUser, type OsUser, osGroupIds } from "../../shared/auth/os-user.js";
import {
  type OutputReader,
  type OutputRefusal,
  type OutputTail,
  tailWindow,
} from "../../shared/ports/index.js";

export { tailWindow };

const C = fs.constants;
export const OUTPUT_READ_FLAGS = C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY;

/** A reader process that has not answered by then is killed (the read is refused). */
const CHILD_TIMEOUT_MS = 10_000;
/** Reader processes at once; more requests wait (each is a node start, ~40 ms of CPU). */
const MAX_CHILDREN = 4;

function refusalOf(code: string | undefined): OutputRefusal | "missing" {
  if (code === "ENOENT" || code === "ENOTDIR") return "missing";
  if (code === "ELOOP") return "link";
  if (code === "EACCES" || code === "EPERM") return "denied";
  return "error";
}

const REFUSED_TEXT: Record<OutputRefusal, string> = {
  "no-account": "the job's owner has no account on this host",
  denied: "permission denied",
  link: "a symbolic link",
  "not-regular": "not a regular file",
  error: "could not be read",
};

function refused(reason: OutputRefusal, detail?: string): OutputTail {
  return { exists: false, refused: reason, message: detail ?? REFUSED_TEXT[reason] };
}

/** Read in this process, with this process's rights. */
export async function readTailHere(file: string, from: number | undefined, max: number): Promise<OutputTail> {
  let fh: fs.promises.FileHandle;
  try {
    fh = await fs.promises.open(file, OUTPUT_READ_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const r = refusalOf(code);
    return r === "missing" ? { exists: false } : refused(r, r === "error" ? code : undefined);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) return refused("not-regular");
    const { start, len } = tailWindow(st.size, from, max);
    const buf = Buffer.alloc(len);
    let got = 0;
    while (got < len) {
      const { bytesRead } = await fh.read(buf, got, len - got, start + got);
      if (bytesRead === 0) break; // truncated meanwhile
      got += bytesRead;
    }
    return { exists: true, size: st.size, offset: start, text: buf.subarray(0, got).toString("utf8") };
  } catch (e) {
    return refused("error", (e as Error).message);
  } finally {
    await fh.close();
  }
}

/**
 * The reader process (CommonJS, run with `node -e`, no file of its own, so it works the same
 * under tsx, vitest and a bundle). argv: uid gid groups(csv) file from("" = tail) max.
 * It drops to the user first, and proves it cannot regain root, before opening anything.
 * It prints one JSON line; the bytes travel as base64 so nothing is lost on the way.
 */
const CHILD = `"use strict";
const fs = require("node:fs");
const [u, g, gs, file, fromArg, maxArg] = process.argv.slice(1);
const say = (o) => process.stdout.write(JSON.stringify(o));
const uid = Number(u), gid = Number(g), max = Number(maxArg);
process.setgroups(gs.split(",").filter(Boolean).map(Number));
process.setgid(gid);
process.setuid(uid);
if (process.getuid() !== uid || process.geteuid() !== uid || process.getgid() !== gid || process.getegid() !== gid) {
  say({ refused: "error", message: "could not switch to the job's owner" });
  process.exit(0);
}
let back = false;
try { process.setuid(0); back = true; } catch {}
if (back && uid !== 0) { say({ refused: "error", message: "could not drop root" }); process.exit(0); }
const C = fs.constants;
let fd;
try {
  fd = fs.openSync(file, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY);
} catch (e) {
  say({ errno: e.code || "EIO" });
  process.exit(0);
}
const st = fs.fstatSync(fd);
if (!st.isFile()) { say({ refused: "not-regular" }); process.exit(0); }
let start = fromArg === "" ? Math.max(0, st.size - max) : Number(fromArg);
if (start > st.size) start = 0;
const len = Math.max(0, Math.min(max, st.size - start));
const buf = Buffer.alloc(len);
let got = 0;
while (got < len) {
  const n = fs.readSync(fd, buf, got, len - got, start + got);
  if (n === 0) break;
  got += n;
}
say({ size: st.size, offset: start, data: buf.subarray(0, got).toString("base64") });
`;

interface ChildAnswer {
  errno?: string;
  refused?: OutputRefusal;
  message?: string;
  size?: number;
  offset?: number;
  data?: string;
}

let running = 0;
const waiting: (() => void)[] = [];
async function slot<T>(fn: () => Promise<T>): Promise<T> {
  if (running >= MAX_CHILDREN) await new Promise<void>((r) => waiting.push(r));
  running++;
  try {
    return await fn();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

/** Read as `account` in a child process that drops to it; this process must be root. */
export function readTailAs(
  account: OsUser,
  groups: number[],
  file: string,
  from: number | undefined,
  max: number,
): Promise<OutputTail> {
  return slot(
    () =>
      new Promise<OutputTail>((resolve) => {
        const args = [
          String(account.uid),
          String(account.gid),
          (groups.length ? groups : [account.gid]).join(","),
          file,
          from === undefined ? "" : String(from),
          String(max),
        ];
        // no environment (no NODE_OPTIONS, nothing of the runtime's), and "/" as cwd
        const child = spawn(process.execPath, ["-e", CHILD, ...args], {
          cwd: "/",
          env: {},
          stdio: ["ignore", "pipe", "pipe"],
          timeout: CHILD_TIMEOUT_MS,
        });
        const limit = Math.ceil((max * 4) / 3) + 4096;
        const chunks: Buffer[] = [];
        let bytes = 0;
        let errText = "";
        child.stdout.on("data", (d: Buffer) => {
          bytes += d.length;
          if (bytes <= limit) chunks.push(d);
        });
        child.stderr.on("data", (d: Buffer) => {
          if (errText.length < 2048) errText += d.toString("utf8");
        });
        child.once("error", (e) => resolve(refused("error", e.message)));
        child.once("close", (code, signal) => {
          if (bytes > limit) return resolve(refused("error", "reader answered too much"));
          let a: ChildAnswer;
          try {
            a = JSON.parse(Buffer.concat(chunks).toString("utf8")) as ChildAnswer;
          } catch {
            const why = signal ? `reader killed by ${signal}` : `reader exited ${code}: ${errText.trim()}`;
            return resolve(refused("error", why.slice(0, 300)));
          }
          if (a.errno) {
            const r = refusalOf(a.errno);
            return resolve(
              r === "missing" ? { exists: false } : refused(r, r === "error" ? a.errno : undefined),
            );
          }
          if (a.refused) return resolve(refused(a.refused, a.message));
          resolve({
            exists: true,
            size: Number(a.size),
            offset: Number(a.offset),
            text: Buffer.from(a.data ?? "", "base64").toString("utf8"),
          });
        });
      }),
  );
}

export interface LocalOutputReaderOptions {
  /** whether this process is root (default: asks the OS); tests set it to exercise both ways */
  root?: boolean;
}

export function localOutputReader(opts: LocalOutputReaderOptions = {}): OutputReader {
  const root = opts.root ?? process.getuid?.() === 0;
  return {
    async tail(owner, file, from, max) {
      if (!root) return readTailHere(file, from, max);
      const account = lookupOsUser(owner);
      if (!account) return refused("no-account");
      // root's own jobs ran as root: reading as root is reading with the owner's rights
      if (account.uid === 0) return readTailHere(file, from, max);
      return readTailAs(account, osGroupIds(account.name), file, from, max);
    },
  };
}
