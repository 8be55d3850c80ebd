/**
 * The local credential file: one line holding a random token, readable only by its user, in
 * `~/.metaqueue/credential` (or `$METAQUEUE_CREDENTIAL`). The CLI reads it for every request;
 * the local runtime creates one for the user who starts it and `npm run credential` creates one
 * for another user. Like ssh with a private key, a file others can read is refused: the token
 * is the user's identity.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { MetaqueueError } from "../errors.js";

export class CredentialFileError extends MetaqueueError {
  constructor(message: string) {
    super("BadCredential", message, 401, 159);
  }
}

const TOKEN_RE = /^[A-Za-z0-9_-]{32,256}$/;

export function defaultCredentialPath(env: Record<string, string | undefined>, home = os.homedir()): string {
  return env.METAQUEUE_CREDENTIAL || path.join(home, ".metaqueue", "credential");
}

export function newToken(): string {
  return randomBytes(32).toString("base64url");
}

/**
 * The token in `file`, or undefined when there is no file. Throws when the file is open to
 * other users (group or world bits), belongs to someone else, or does not hold a token.
 */
export function readCredentialFile(file: string): string | undefined {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CredentialFileError(`cannot read credential file ${file}: ${(e as Error).message}`);
  }
  if (!st.isFile()) throw new CredentialFileError(`credential file ${file} is not a regular file`);
  if ((st.mode & 0o077) !== 0) {
    throw new CredentialFileError(
      `credential file ${file} is accessible by others (mode ${(st.mode & 0o777).toString(8)}): run chmod 600 ${file}`,
    );
  }
  const uid = process.getuid?.();
  // root may hold another user's file (an admin acting for them); nobody else may
  if (uid !== undefined && uid !== 0 && st.uid !== uid)
    throw new CredentialFileError(`credential file ${file} belongs to another user (uid ${st.uid})`);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8").trim();
  } catch (e) {
    throw new CredentialFileError(`cannot read credential file ${file}: ${(e as Error).message}`);
  }
  if (!TOKEN_RE.test(text))
    throw new CredentialFileError(`credential file ${file} does not hold a credential`);
  return text;
}

/** The account a credential file is written for, when root writes it for another user. */
export interface CredentialOwner {
  uid: number;
  gid: number;
}

const C = fs.constants;

/**
 * Root acting in a folder another user owns (`~bob/.metaqueue`) must not follow anything bob
 * planted there: a link as the folder (onto /root/.metaqueue), a link or a FIFO as the file.
 * So the folder is opened once, O_NOFOLLOW|O_DIRECTORY, checked to be a real folder of that
 * user that nobody else may write, and every later step names its entries through
 * /proc/self/fd/<fd>/: the very folder checked, whatever bob renames meanwhile.
 * Returns the folder's fd (the caller closes it), or undefined when the folder is not there.
 */
function openOwnedFolder(dir: string, owner: CredentialOwner, create: boolean): number | undefined {
  if (create) {
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
      // made by root: give it to the user before anyone can look (nothing else is in it yet)
      fs.lchownSync(dir, owner.uid, owner.gid);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === "ENOENT") {
        // its parent is missing too (a home not made yet): make the parents as before
        fs.mkdirSync(path.dirname(dir), { recursive: true, mode: 0o755 });
        return openOwnedFolder(dir, owner, true);
      }
      if (code !== "EEXIST") throw e;
    }
  }
  let fd: number;
  try {
    fd = fs.openSync(dir, C.O_RDONLY | C.O_DIRECTORY | C.O_NOFOLLOW);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT" && !create) return undefined;
    if (code === "ELOOP" || code === "ENOTDIR")
      throw new CredentialFileError(`credential folder ${dir} is not a folder (a link or a file): refused`);
    throw new CredentialFileError(`cannot open credential folder ${dir}: ${(e as Error).message}`);
  }
  const st = fs.fstatSync(fd);
  if (st.uid !== owner.uid || (st.mode & 0o022) !== 0) {
    fs.closeSync(fd);
    throw new CredentialFileError(
      `credential folder ${dir} must belong to uid ${owner.uid} and be writable by it alone (uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)})`,
    );
  }
  return fd;
}

/**
 * The token in `owner`'s credential `file`, read by root without following a link or opening
 * anything but a regular file of that user (0600): undefined when there is none.
 */
export function readCredentialFileFor(file: string, owner: CredentialOwner): string | undefined {
  const dfd = openOwnedFolder(path.dirname(file), owner, false);
  if (dfd === undefined) return undefined;
  let fd: number;
  try {
    fd = fs.openSync(
      `/proc/self/fd/${dfd}/${path.basename(file)}`,
      C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY,
    );
  } catch (e) {
    fs.closeSync(dfd);
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw new CredentialFileError(`cannot read credential file ${file}: ${(e as Error).message}`);
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new CredentialFileError(`credential file ${file} is not a regular file`);
    if (st.uid !== owner.uid || (st.mode & 0o077) !== 0)
      throw new CredentialFileError(
        `credential file ${file} must belong to uid ${owner.uid} with mode 600 (uid ${st.uid}, mode ${(st.mode & 0o777).toString(8)})`,
      );
    const text = fs.readFileSync(fd, "utf8").trim();
    if (!TOKEN_RE.test(text))
      throw new CredentialFileError(`credential file ${file} does not hold a credential`);
    return text;
  } finally {
    fs.closeSync(fd);
    fs.closeSync(dfd);
  }
}

/**
 * Writes `token` to `file` with mode 0600 (directory 0700), atomically (a new file renamed over
 * the old). With `owner` (root issuing a credential for another user) both belong to that user,
 * and nothing the user planted is followed: see openOwnedFolder; the new file is created
 * O_EXCL|O_NOFOLLOW, and the rename replaces whatever is at the name (a link is replaced, not
 * followed).
 */
export function writeCredentialFile(file: string, token: string, owner?: CredentialOwner): void {
  const dir = path.dirname(file);
  const tmpName = `.credential.${process.pid}.${randomBytes(4).toString("hex")}`;
  if (!owner) {
    if (!fs.existsSync(dir)) fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(dir, tmpName);
    fs.writeFileSync(tmp, `${token}\n`, { mode: 0o600, flag: "wx" });
    fs.chmodSync(tmp, 0o600);
    fs.renameSync(tmp, file);
    return;
  }
  const dfd = openOwnedFolder(dir, owner, true) as number;
  const at = (name: string) => `/proc/self/fd/${dfd}/${name}`;
  try {
    const fd = fs.openSync(at(tmpName), C.O_WRONLY | C.O_CREAT | C.O_EXCL | C.O_NOFOLLOW, 0o600);
    try {
      fs.writeFileSync(fd, `${token}\n`);
      fs.fchmodSync(fd, 0o600);
      fs.fchownSync(fd, owner.uid, owner.gid);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(at(tmpName), at(path.basename(file)));
  } catch (e) {
    fs.rmSync(at(tmpName), { force: true });
    if (e instanceof CredentialFileError) throw e;
    throw new CredentialFileError(`cannot write credential file ${file}: ${(e as Error).message}`);
  } finally {
    fs.closeSync(dfd);
  }
}
