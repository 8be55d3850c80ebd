/**
 * The runtime's side of the CLI's server list (shared/config/client-conf.ts): where it goes and
 * what it holds. Every user on the machine reads it, as every PBS command reads /etc/pbs.conf,
 * so it is 0644 and holds no secret: names and URLs only.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { type ConfFile, DATA_CONF_NAME, SYSTEM_CONF, userConfPath } from "../../shared/config/client-conf.js";
import type { MetaqueueConfig } from "../../shared/config/site-config.js";

/**
 * Where a runtime writes the list when `METAQUEUE_CONF` names no file: /etc/metaqueue.conf as
 * root (every user's commands look there first), else `<dataDir>/metaqueue.conf`, which the
 * commands of this checkout find when the data dir is the default one.
 */
export function defaultConfPath(dataDir: string, uid = process.getuid?.(), systemPath = SYSTEM_CONF): string {
  return uid === 0 ? systemPath : path.join(dataDir, DATA_CONF_NAME);
}

/**
 * Writes the list where the commands will look and returns that path: `explicit` when given,
 * else the default above; a root runtime that cannot write /etc (a read-only /etc in a
 * container) falls back to the data dir and says why through `warn`.
 */
export function publishConf(
  body: ConfFile,
  dataDir: string,
  explicit: string | undefined,
  warn: (line: string) => void,
  uid = process.getuid?.(),
  systemPath = SYSTEM_CONF,
): string {
  if (explicit !== undefined) {
    writeConfFile(explicit, body);
    return explicit;
  }
  const first = defaultConfPath(dataDir, uid, systemPath);
  try {
    writeConfFile(first, body);
    return first;
  } catch (err) {
    if (first !== systemPath) throw err;
    const fallback = path.join(dataDir, DATA_CONF_NAME);
    warn(
      `metaqueue: cannot write ${systemPath} (${(err as Error).message}); the server list is in ${fallback}`,
    );
    writeConfFile(fallback, body);
    return fallback;
  }
}

/** The list for these sites at these API URLs, the configured default site first in `default`. */
export function confFileFor(
  cfg: MetaqueueConfig,
  urls: { server: string; short: string; url: string }[],
): ConfFile {
  const def =
    cfg.sites.find((s) => s.name === cfg.defaultSite || s.server === cfg.defaultSite) ?? cfg.sites[0];
  return { default: def.server, servers: urls.map((u) => ({ name: u.server, short: u.short, url: u.url })) };
}

/**
 * Writes the list whole (a reader never sees half of it: temp file, then rename) and leaves it
 * 0644 whatever umask or an earlier start left.
 */
export function writeConfFile(file: string, body: ConfFile): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(body, null, 2)}\n`, { mode: 0o644 });
  fs.chmodSync(tmp, 0o644);
  fs.renameSync(tmp, file);
}

/**
 * An earlier version wrote the list to the runtime user's `~/.metaqueue/servers.json`, which the
 * commands read before the system-wide file: left there, its old URLs would hide the new ones
 * from this user. Removed only when it names nothing but this runtime's servers (a list the user
 * wrote for other servers stays). Returns the removed path.
 */
export function removeStaleUserConf(cfg: MetaqueueConfig, home = os.homedir()): string | undefined {
  const file = userConfPath(home);
  let old: Partial<ConfFile>;
  try {
    old = JSON.parse(fs.readFileSync(file, "utf8")) as Partial<ConfFile>;
  } catch {
    return undefined;
  }
  const ours = new Set(cfg.sites.map((s) => s.server));
  if (!Array.isArray(old.servers) || !old.servers.every((s) => ours.has(s?.name))) return undefined;
  fs.rmSync(file);
  return file;
}
