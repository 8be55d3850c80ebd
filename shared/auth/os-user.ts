/**
 * OS accounts, looked up the way PBS does (getpwnam, getgrouplist), through `getent` and `id`
 * run without a shell. Names are checked against NAME_RE first, so nothing from a request is
 * ever an option or a shell word here.
 */
import { execFileSync } from "node:child_process";
import { isValidName } from "../api/identity.js";

export interface OsUser {
  name: string;
  uid: number;
  gid: number;
  home: string;
  shell: string;
}

function run(cmd: string, args: string[]): string | undefined {
  try {
    return execFileSync(cmd, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"], timeout: 5000 });
  } catch {
    return undefined;
  }
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
