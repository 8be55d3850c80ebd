/**
 * OS accounts, looked up the way PBS does (getpwnam, getgrouplist), through `getent` and `id`
 * run without a shell. Names are checked against NAME_RE first, so nothing from a request is
 * ever an option or a shell word here.
 */
import { execFileSync } from "node:child_process";
import { isValidName } from "../pbs/names.js";

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

/**
 * Answers are kept for LOOKUP_TTL_MS: the MOM looks its job's owner up for every job, and each
 * lookup forks a process (execFileSync blocks the MOM meanwhile). An account changed is seen
 * within that time; "no such account" is not kept, so an account just created is seen at once.
 */
export const LOOKUP_TTL_MS = 30_000;
const cache = new Map<string, { at: number; out: string | undefined }>();

function run(cmd: string, args: string[]): string | undefined {
  const key = `${cmd}\0${args.join("\0")}`;
  const now = Date.now();
  const hit = cache.get(key);
  if (hit && now - hit.at < LOOKUP_TTL_MS) return hit.out;
  let out: string | undefined;
  try {
    out = execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 5000 });
  } catch {
    out = undefined;
  }
  if (cache.size > 1000) cache.clear();
  if (out !== undefined) cache.set(key, { at: now, out });
  return out;
}

/** The account `name`, or undefined when there is none. */
export function lookupOsUser(name: string): OsUser | undefined {
  if (!isValidName(name)) return undefined;
  const line = run("getent", ["passwd", "--", name])?.split("\n")[0];
  if (!line) return undefined;
  const f = line.split(":");
  if (f.length < 7 || f[0] !== name) return undefined;
  const uid = Number(f[2]);
  const gid = Number(f[3]);
  if (!Number.isInteger(uid) || !Number.isInteger(gid)) return undefined;
  return { name, uid, gid, home: f[5], shell: f[6] };
}

/** The groups of `name` (primary first), or [] when unknown. */
export function osGroups(name: string): string[] {
  if (!isValidName(name)) return [];
  const out = run("id", ["-Gn", "--", name]);
  return out ? out.trim().split(/\s+/).filter(isValidName) : [];
}

/** Numeric group ids of `name` (for spawning a job with its supplementary groups known). */
export function osGroupIds(name: string): number[] {
  if (!isValidName(name)) return [];
  const out = run("id", ["-G", "--", name]);
  return out
    ? out
        .trim()
        .split(/\s+/)
        .map(Number)
        .filter((n) => Number.isInteger(n))
    : [];
}

/**
 * Runs `fn` with the effective uid/gid (and groups) of `account`, so that opening the job's
 * files and checking its working directory is decided by the kernel for that user, not for
 * the root MOM (a root open() would follow a user's symlink onto any file). Synchronous on
 * purpose: no other JavaScript of this process runs while the identity is switched. The switch
 * is process-wide (glibc applies it to every thread), so a file operation already running on
 * libuv's thread pool meanwhile runs as that user too: keep the window to a few syscalls, and
 * never switch in a process that serves requests (the API reads output in a child process).
 */
export function asUser<T>(account: OsUser | undefined, fn: () => T): T {
  if (!account || !process.seteuid || !process.setegid || !process.setgroups) return fn();
  const groups = process.getgroups?.() ?? [];
  const egid = process.getegid?.() ?? 0;
  const ids = osGroupIds(account.name);
  process.setgroups(ids.length ? ids : [account.gid]);
  process.setegid(account.gid);
  process.seteuid(account.uid);
  try {
    return fn();
  } finally {
    process.seteuid(0);
    process.setegid(egid);
    process.setgroups(groups);
  }
}
