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

interface RegistryFile {
  version: 1;
  users: Record<string, Entry>;
}

export class CredentialRegistry {
  private byHash = new Map<string, Identity>();
  private mtime = -1;

  constructor(readonly file: string) {}

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
    this.byHash = map;
    this.mtime = m;
  }

  lookup(tokenHash: string): Identity | undefined {
    this.refresh();
    return this.byHash.get(tokenHash);
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
    fs.mkdirSync(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.${process.pid}.tmp`;
    fs.writeFileSync(tmp, `${JSON.stringify(reg, null, 2)}\n`, { mode: 0o600 });
    fs.renameSync(tmp, this.file);
    this.mtime = -1;
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
