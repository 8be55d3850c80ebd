/**
 * The local runtime's data is the site's state (job owners, scripts, credential hashes): only
 * the runtime user may read or change it. Folders 0700, files 0600, owned by the runtime user.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { socketInUse } from "./ports.js";

/**
 * Creates `dir` (and missing parents) and makes it 0700. Refuses a folder that belongs to
 * someone else or is a symlink: whoever owns it could swap what is inside.
 */
export function ensurePrivateDir(dir: string): void {
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const st = fs.lstatSync(dir);
  if (!st.isDirectory()) throw new Error(`${dir}: not a directory`);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) {
    throw new Error(`${dir}: owned by uid ${st.uid}, not by this runtime's uid ${uid}`);
  }
  fs.chmodSync(dir, 0o700);
}

/**
 * Tightens what an earlier version left readable (DynamoDB Local's 0644 .db file, 0755
 * folders): every folder under `dir` to 0700 and every file to 0600. Symlinks are neither
 * followed nor changed; sockets and other special files are left as they are (a stale socket
 * is replaced at start).
 */
export function privatizeTree(dir: string): void {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
    throw err;
  }
  fs.chmodSync(dir, 0o700);
  for (const e of entries) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) privatizeTree(p);
    else if (e.isFile()) fs.chmodSync(p, 0o600);
  }
}

/**
 * The runtime's data dir: 0711, and everything in it private except the `traversable` entries
 * (the MOMs' scratch, `mom/`). Jobs run as their owners and must reach their TMPDIR and script
 * under `mom/<node>/<job>/` (0700, owned by the job's user), so others may pass through the
 * data dir but not list it; what it holds (the database, the sockets, the credential
 * registry, the peer secret) is 0700/0600.
 */
export function prepareDataDir(dataDir: string, traversable: string[]): void {
  ensurePrivateDir(dataDir);
  for (const e of fs.readdirSync(dataDir, { withFileTypes: true })) {
    if (traversable.includes(e.name)) continue;
    const p = path.join(dataDir, e.name);
    if (e.isDirectory()) privatizeTree(p);
    else if (e.isFile()) fs.chmodSync(p, 0o600);
  }
  fs.chmodSync(dataDir, 0o711);
}

/**
 * Where a local data service listens: `socketPath` in its private folder (refused while another
 * runtime answers on it), or, without one, a fresh private folder under the system temp dir that
 * `removeTemp()` deletes.
 */
export async function claimSocket(
  what: string,
  socketPath: string | undefined,
  name: string,
): Promise<{ socketPath: string; removeTemp: () => void }> {
  if (socketPath === undefined) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `mq-${name}-`));
    return {
      socketPath: path.join(dir, name),
      removeTemp: () => fs.rmSync(dir, { recursive: true, force: true }),
    };
  }
  const p = path.resolve(socketPath);
  ensurePrivateDir(path.dirname(p));
  if (await socketInUse(p)) throw new Error(`${what}: ${p} is in use by another runtime`);
  return { socketPath: p, removeTemp: () => {} };
}
