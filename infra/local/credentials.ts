/**
 * The local credential registry: which token hash means which user, in
 * `<dataDir>/credentials.json` (mode 0600, shared by every site of one runtime). Only hashes
 * are kept, so the registry file alone lets nobody act as a user; the tokens live in each
 * user's own 0600 credential file.
 *
 * The API reads the registry on every request only when the file changed (mtime), so a
 * credential issued by `npm run credential` while the runtime runs works at once.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import {
  type Authenticator,
  hashToken,
  type Identity,
  isValidName,
  tokenAuthenticator,
} from "../../shared/api/identity.js";
import {
  defaultCredentialPath,
  newToken,
  readCredentialFile,
  readCredentialFileFor,
  writeCredentialFile,
} from "../../shared/auth/credential-file.js";
import { lookupOsUser, osGroups } from "../../shared/auth/os-user.js";
import { RejectedError } from "../../shared/errors.js";

interface Entry {
  hash: string;
  groups: string[];
  issued: string;
}

/** A dashboard link's token: short-lived, one per user, kept apart from the user's credential. */
interface LinkEntry {
  user: string;
  groups: string[];
  /** epoch ms after which it is refused */
  expires: number;
}

interface RegistryFile {
  version: 1;
  users: Record<string, Entry>;
  /** dashboard link tokens by hash (absent in files older versions wrote) */
  links?: Record<string, LinkEntry>;
}

export class CredentialRegistry {
  private byHash = new Map<string, Identity>();
  private links = new Map<string, LinkEntry>();
  private mtime = -1;

  constructor(
    readonly file: string,
    private readonly now: () => number = Date.now,
  ) {}

  private read(): RegistryFile {
    try {
      const raw = JSON.parse(fs.readFileSync(this.file, "utf8")) as RegistryFile;
      if (raw?.version === 1 && raw.users && typeof raw.users === "object") return raw;
    } catch {
      // missing or unreadable: an empty registry (every request is refused, never accepted)
    }
    return { version: 1, users: {} };
  }

  private refresh(): void {
    let m: number;
    try {
      m = fs.statSync(this.file).mtimeMs;
    } catch {
      m = 0;
    }
    if (m === this.mtime) return;
    const reg = this.read();
    const map = new Map<string, Identity>();
    for (const [user, e] of Object.entries(reg.users)) {
      if (isValidName(user) && typeof e?.hash === "string")
        map.set(e.hash, { user, groups: (e.groups ?? []).filter(isValidName) });
    }
    const links = new Map<string, LinkEntry>();
    for (const [h, l] of Object.entries(reg.links ?? {})) {
      if (isValidName(l?.user) && typeof l.expires === "number")
        links.set(h, { user: l.user, groups: (l.groups ?? []).filter(isValidName), expires: l.expires });
    }
    this.byHash = map;
    this.links = links;
    this.mtime = m;
  }

  lookup(tokenHash: string): Identity | undefined {
    this.refresh();
    const id = this.byHash.get(tokenHash);
    if (id) return id;
    const link = this.links.get(tokenHash);
    if (link && link.expires > this.now()) return { user: link.user, groups: link.groups };
    return undefined;
  }

  private write(reg: RegistryFile): void {
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(reg, null, 2)}\n`, { mode: 0o600 });
    fs.renameSync(tmp, this.file);
    this.mtime = -1;
  }

  /** Record `token` as `user`'s credential (replacing an earlier one). */
  register(user: string, token: string, groups: string[]): void {
    if (!isValidName(user)) throw new RejectedError("BadUser", `not a valid user name: ${user}`);
    const reg = this.read();
    reg.users[user] = {
      hash: hashToken(token),
      groups: groups.filter(isValidName),
      issued: new Date().toISOString(),
    };
    this.write(reg);
  }

  /**
   * A new token for a dashboard link signing `user` in, valid for `ttlMs`. It replaces the
   * user's earlier link token (only the latest printed link works) and is not their credential:
   * a link that leaks from a terminal or a log gives a few hours of dashboard, not the
   * long-lived token the commands use. Expired link tokens are dropped here.
   */
  issueLink(user: string, groups: string[], ttlMs: number): string {
    if (!isValidName(user)) throw new RejectedError("BadUser", `not a valid user name: ${user}`);
    const reg = this.read();
    const now = this.now();
    const links: Record<string, LinkEntry> = {};
    for (const [h, l] of Object.entries(reg.links ?? {})) {
      if (l?.user !== user && typeof l?.expires === "number" && l.expires > now) links[h] = l;
    }
    const token = newToken();
    links[hashToken(token)] = { user, groups: groups.filter(isValidName), expires: now + ttlMs };
    this.write({ ...reg, links });
    return token;
  }

  authenticator(): Authenticator {
    return tokenAuthenticator((h) => this.lookup(h));
  }
}

export interface EnsureOptions {
  /** where the user's credential file is (default: that user's ~/.metaqueue/credential) */
  file?: string;
  /** make a new token even when the file holds one */
  renew?: boolean;
}

/**
 * Makes sure `user` has a credential file and that the registry knows it: reuses the token in
 * an existing file (so restarting the runtime, or a second runtime, does not invalidate it),
 * creates one on first use. When run as root for another user, the file is chowned to them.
 * Groups come from the OS account when there is one.
 */
export function ensureCredential(
  registry: CredentialRegistry,
  user: string,
  opts: EnsureOptions = {},
): { file: string; created: boolean } {
  if (!isValidName(user)) throw new RejectedError("BadUser", `not a valid user name: ${user}`);
  const account = lookupOsUser(user);
  const self = os.userInfo().username === user;
  const file =
    opts.file ??
    (self
      ? defaultCredentialPath(process.env)
      : account
        ? path.join(account.home, ".metaqueue", "credential")
        : undefined);
  if (!file) throw new RejectedError("BadUser", `no account ${user} on this host: name a file with --out`);
  // root writing into another user's folder: as that user's file, following nothing they planted
  const owner =
    process.getuid?.() === 0 && account && !self ? { uid: account.uid, gid: account.gid } : undefined;
  const read = () => (owner ? readCredentialFileFor(file, owner) : readCredentialFile(file));
  let token = opts.renew ? undefined : read();
  const created = token === undefined;
  if (!token) {
    token = newToken();
    writeCredentialFile(file, token, owner);
  }
  registry.register(user, token, account ? osGroups(user) : []);
  return { file, created };
}

/**
 * How long a dashboard link printed at start signs its user in: a working day. The token sits
 * in the URL's fragment, which browsers never send to a server (so no access log has it), but
 * the link itself is printed to a terminal and whatever records npm start's output.
 */
export const DASHBOARD_LINK_TTL_MS = 8 * 3600_000;

/** `<url>/ui/#token=...`: a link that signs `user` in (web/src/api.ts takes the fragment). */
export function dashboardLink(registry: CredentialRegistry, user: string, siteUrl: string): string {
  const account = lookupOsUser(user);
  const token = registry.issueLink(user, account ? osGroups(user) : [], DASHBOARD_LINK_TTL_MS);
  return `${siteUrl}/ui/#token=${encodeURIComponent(token)}`;
}
