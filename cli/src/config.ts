/**
 * Where the PBS commands find their servers (the metaqueue counterpart of PBS's pbs.conf).
 *
 * 1. `METAQUEUE_SERVER_URL` names the default server's URL and wins. Servers listed in the config
 *    file (below), if there is one, stay reachable by name.
 * 2. The JSON file named by `METAQUEUE_CONF`, and only that one (as `PBS_CONF_FILE` replaces
 *    `/etc/pbs.conf`); else the first of these that exists:
 *    - `$HOME/.metaqueue/servers.json`, the user's own list;
 *    - `/etc/metaqueue.conf`, written by a root runtime for every user;
 *    - `<checkout>/.metaqueue/metaqueue.conf`, written by a runtime that could not write /etc
 *      into its default data dir (shared/config/client-conf.ts).
 *    `{ "default": "casper-pbs", "servers": [ { "name": "casper-pbs", "short": "casper", "url": "http://127.0.0.1:8421" } ] }`
 */
import { closeSync, fstatSync, openSync, readFileSync } from "node:fs";
import { homedir } from "node:os";
import { fileURLToPath } from "node:url";
import { DATA_CONF_NAME, SYSTEM_CONF, userConfPath } from "../../shared/config/client-conf.js";
import { type Env, envSchema, readEnv, v } from "../../shared/config/env.js";
import { MetaqueueError } from "../../shared/errors.js";

export interface ServerEntry {
  /** server name, e.g. "casper-pbs" */
  name: string;
  /** short name used in job IDs, e.g. "casper"; "" when unknown (METAQUEUE_SERVER_URL) */
  short: string;
  url: string;
  /** true for the entry built from METAQUEUE_SERVER_URL: its name is not known client-side */
  fromEnv?: boolean;
}

export interface ClientConfig {
  /** name of the default server */
  default: string;
  servers: ServerEntry[];
}

/** A client-side failure (no server, unknown server, cannot connect). Exit code 1. */
export class ClientError extends MetaqueueError {
  constructor(code: string, message: string, exitCode = 1) {
    super(code, message, 0, exitCode);
  }
}

export const NO_SERVER_MESSAGE =
  'cannot find a metaqueue server: start one with "npm start" or set METAQUEUE_SERVER_URL';

/**
 * What the PBS commands read from their environment (the rest of it is the job's: qsub passes
 * PBS_O_* and -v/-V variables on). No zod here: it would add to every command's start, and
 * qsub must start in ≤ 100 ms. An empty variable counts as unset, as before.
 */
export const CliEnvSchema = envSchema({
  /** the server list (default: ~/.metaqueue/servers.json, /etc/metaqueue.conf, <checkout>/.metaqueue/metaqueue.conf) */
  METAQUEUE_CONF: v.optional(),
  /** the default server's URL; wins over the list */
  METAQUEUE_SERVER_URL: v.optional(),
  /** a deployed site's JWT (docs/deploy.md) */
  METAQUEUE_TOKEN: v.optional(),
  /** the local credential file (default ~/.metaqueue/credential) */
  METAQUEUE_CREDENTIAL: v.optional(),
  HOME: v.optional(),
});

export function cliEnv(env: Env = process.env) {
  return readEnv("metaqueue client", CliEnvSchema, env);
}

/**
 * The system-wide lists, in the order they are tried: /etc, then the default data dir of the
 * checkout this CLI runs from (cli/src/config.ts and the bundles cli/dist/<cmd>.js all sit two
 * folders below it).
 */
export function systemConfPaths(): string[] {
  return [SYSTEM_CONF, fileURLToPath(new URL(`../../.metaqueue/${DATA_CONF_NAME}`, import.meta.url))];
}

/**
 * Reads a server list; refuses one that anyone may write: the commands send the user's
 * credential to the URLs it names, so whoever can change it could collect credentials.
 */
export function readConfText(path: string): string {
  const fd = openSync(path, "r");
  try {
    if (fstatSync(fd).mode & 0o002)
      throw new ClientError("BadConfig", `${path} is writable by every user: refused`);
    return readFileSync(fd, "utf8");
  } finally {
    closeSync(fd);
  }
}

function readConfigFile(path: string, read: (p: string) => string): ClientConfig | undefined {
  let text: string;
  try {
    text = read(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    if (err instanceof ClientError) throw err;
    throw new ClientError("BadConfig", `cannot read ${path}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ClientError("BadConfig", `invalid JSON in ${path}: ${(err as Error).message}`);
  }
  const obj = raw as Partial<ClientConfig> | null;
  if (!obj || typeof obj !== "object" || !Array.isArray(obj.servers)) {
    throw new ClientError("BadConfig", `invalid server list in ${path}: "servers" must be an array`);
  }
  const servers: ServerEntry[] = [];
  for (const s of obj.servers) {
    if (!s || typeof s.name !== "string" || typeof s.url !== "string") {
      throw new ClientError("BadConfig", `invalid server entry in ${path}: needs "name" and "url"`);
    }
    servers.push({ name: s.name, short: typeof s.short === "string" ? s.short : s.name, url: s.url });
  }
  const def = typeof obj.default === "string" ? obj.default : (servers[0]?.name ?? "");
  return { default: def, servers };
}

/**
 * Loads the client configuration. Returns undefined when there is none at all (no env URL and no
 * config file). Throws ClientError on a config file that exists but does not parse.
 * `systemConfs` are the system-wide lists (tests name their own).
 */
export function loadClientConfig(
  env: Env = process.env,
  read: (path: string) => string = readConfText,
  systemConfs: string[] = systemConfPaths(),
): ClientConfig | undefined {
  const e = cliEnv(env);
  const candidates = e.METAQUEUE_CONF
    ? [e.METAQUEUE_CONF]
    : [userConfPath(e.HOME ?? homedir()), ...systemConfs];
  let fromFile: ClientConfig | undefined;
  for (const p of candidates) {
    fromFile = readConfigFile(p, read);
    if (fromFile) break;
  }
  const url = e.METAQUEUE_SERVER_URL;
  if (url) {
    const known = fromFile?.servers.find((s) => sameUrl(s.url, url));
    const entry: ServerEntry = known ?? { name: "default", short: "", url, fromEnv: true };
    const others = (fromFile?.servers ?? []).filter((s) => s !== known);
    return { default: entry.name, servers: [entry, ...others] };
  }
  return fromFile;
}

function sameUrl(a: string, b: string): boolean {
  return a.replace(/\/+$/, "") === b.replace(/\/+$/, "");
}

function matches(s: ServerEntry, name: string): boolean {
  if (s.name === name || (s.short !== "" && s.short === name)) return true;
  // a fully qualified name in a job ID: "123.casper.example.org" -> "casper.example.org"
  const first = name.split(".")[0];
  return first !== name && (s.name === first || (s.short !== "" && s.short === first));
}

/**
 * The server for a name or short name (as found in job IDs, `queue@server` and `@server`); the
 * default server when no name is given. Throws ClientError (exit 1) when there is no configuration
 * or the name is unknown. With METAQUEUE_SERVER_URL set, unknown names go to the default server
 * (whose name is not known here; the server decides).
 */
export function resolveServer(config: ClientConfig | undefined, nameOrShort?: string): ServerEntry {
  if (!config || config.servers.length === 0) throw new ClientError("NoServer", NO_SERVER_MESSAGE);
  const def = config.servers.find((s) => s.name === config.default) ?? config.servers[0];
  if (!nameOrShort) return def;
  const found = config.servers.find((s) => matches(s, nameOrShort));
  if (found) return found;
  if (def.fromEnv) return def;
  throw new ClientError("UnknownServer", `Server name unknown: ${nameOrShort}`);
}

/** Completes a bare job ID ("123", "45[]") with the server's short name: "123.casper". */
export function qualifyJobId(id: string, server: ServerEntry): string {
  if (id.includes(".") || server.short === "") return id;
  return `${id}.${server.short}`;
}
