/**
 * The file the PBS commands find their servers in, metaqueue's `pbs.conf`: what the local
 * runtime writes and the CLI reads. Both sides name the same places from here. It holds each
 * site's server name, short name and API URL and the default server: nothing secret, so any
 * user on the machine may read it (0644); who they are comes from their own credential file.
 *
 * No imports beyond `node:path`: every PBS command loads this, and qsub must start in ≤ 100 ms.
 */
import { join } from "node:path";

/** Written by a root runtime, read by every user: PBS's `/etc/pbs.conf`. */
export const SYSTEM_CONF = "/etc/metaqueue.conf";

/**
 * A runtime that cannot write /etc writes `<data dir>/metaqueue.conf` instead. The data dir is
 * 0711 (others may pass, not list), so a user who knows the name can read it; the CLI looks
 * for it under the checkout it runs from (`<repo>/.metaqueue`, the default data dir).
 */
export const DATA_CONF_NAME = "metaqueue.conf";

/** A user's own list, read before the system-wide one (a deployed site, another runtime). */
export function userConfPath(home: string): string {
  return join(home, ".metaqueue", "servers.json");
}

export interface ConfServer {
  /** server name, e.g. "casper-pbs" */
  name: string;
  /** short name used in job IDs, e.g. "casper" */
  short: string;
  /** the site's API URL */
  url: string;
}

/** The file's content: `{ "default": "casper-pbs", "servers": [ { name, short, url } ] }`. */
export interface ConfFile {
  default: string;
  servers: ConfServer[];
}
