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

/**
 * Writes `token` to `file` with mode 0600 (directory 0700), atomically, and gives both to
 * `owner` when given (root issuing a credential for another user).
 */
export function writeCredentialFile(file: string, token: string, owner?: { uid: number; gid: number }): void {
  const dir = path.dirname(file);
  if (!fs.existsSync(dir)) {
    fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
    if (owner) fs.chownSync(dir, owner.uid, owner.gid);
  }
  const tmp = path.join(dir, `.credential.${process.pid}.${randomBytes(4).toString("hex")}`);
  fs.writeFileSync(tmp, `${token}\n`, { mode: 0o600, flag: "wx" });
  fs.chmodSync(tmp, 0o600);
  if (owner) fs.chownSync(tmp, owner.uid, owner.gid);
  fs.renameSync(tmp, file);
}
