/**
 * A job's output files, as a MOM opens them: as the job's user, never through a link, never
 * blocking on a FIFO, regular files only (`/dev/null` meaning "discard"); what cannot be
 * delivered is kept under `undelivered/`, and the obituary says where each stream went
 * (`delivered`), which is all the API will ever read for that job.
 */
import * as fs from "node:fs";
import * as path from "node:path";
import { asUser, type OsUser } from "../auth/os-user.js";
import { DEFAULT_UMASK } from "../pbs/job-start.js";
import type { Delivered, JobRunSpec } from "../ports/index.js";

/** A job ID or file name as one path component. */
export function safeName(s: string): string {
  return s.replace(/[/\0]/g, "_");
}

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

export interface Outputs {
  stdout: number | "ignore";
  stderr: number | "ignore";
  fds: number[];
  comments: string[];
  /** where each stream goes (the obituary reports it; the API reads only these) */
  delivered: Delivered;
}

const C = fs.constants;
/**
 * How an output file is opened. O_NOFOLLOW: a link planted at the path is refused, never
 * followed. O_NONBLOCK: a FIFO with no reader fails at once (ENXIO) instead of hanging the
 * whole MOM in open(); one with a reader opens and is refused by the fstat that follows.
 * O_NOCTTY: a terminal named as output never becomes the MOM's controlling terminal.
 * (libuv adds O_CLOEXEC to every open, so no other child inherits these fds.)
 */
export const OUTPUT_OPEN_FLAGS =
  C.O_WRONLY | C.O_CREAT | C.O_TRUNC | C.O_NOFOLLOW | C.O_NONBLOCK | C.O_NOCTTY;

/** The one special file PBS users name on purpose: output sent there is discarded. */
const DISCARD = "/dev/null";

/** A path the MOM would not write to, and why (the job's comment says it). */
export class OutputRefusedError extends Error {
  constructor(
    readonly path: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`output could not be delivered to ${path} (${reason})`, options);
  }
}

function refusalReason(e: unknown): string {
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === "ELOOP") return "a symbolic link";
  if (code === "ENXIO") return "a FIFO with no reader";
  if (code === "EISDIR") return "a directory";
  if (code === "EACCES" || code === "EPERM") return "permission denied";
  if (code === "ENOENT" || code === "ENOTDIR") return "no such directory";
  return code ?? errMsg(e);
}

/**
 * Opens `p` for a job's output with the caller's current rights (asUser): a regular file or
 * nothing. Returns an fd without O_NONBLOCK, which is reopened through /proc/self/fd: the magic
 * link names the very inode just checked, so no path is looked up again, and the job's
 * programs get an ordinary blocking descriptor. Throws OutputRefusedError.
 */
export function openOutputFile(p: string, mode = 0o644): number {
  let fd: number;
  try {
    fd = fs.openSync(p, OUTPUT_OPEN_FLAGS, mode);
  } catch (e) {
    throw new OutputRefusedError(p, refusalReason(e), { cause: e });
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new OutputRefusedError(p, st.isFIFO() ? "a FIFO" : "not a regular file");
    let plain: number;
    try {
      plain = fs.openSync(`/proc/self/fd/${fd}`, C.O_WRONLY);
    } catch {
      // no /proc: keep the O_NONBLOCK descriptor, which changes nothing for a regular file
      return fd;
    }
    const again = fs.fstatSync(plain);
    if (again.ino !== st.ino || again.dev !== st.dev) {
      fs.closeSync(plain);
      return fd;
    }
    fs.closeSync(fd);
    return plain;
  } catch (e) {
    fs.closeSync(fd);
    if (e instanceof OutputRefusedError) throw e;
    throw new OutputRefusedError(p, refusalReason(e), { cause: e });
  }
}

/**
 * Opens the job's output files as the job's user (the kernel decides what that user may write;
 * a root MOM's own open would follow a user's link onto any file) and only as regular files.
 * What cannot be delivered is kept under `<tmpRoot>/undelivered/` (as PBS keeps it in its
 * spool), with a comment; the obituary says where each stream went.
 */
/** `p` itself, or `p/<name>.<o|e><seq>` when `p` is a directory (as PBS delivers to one). */
export function inDirectory(p: string, spec: Pick<JobRunSpec, "name" | "seq">, kind: "o" | "e"): string {
  try {
    if (fs.statSync(p).isDirectory()) return path.join(p, `${spec.name}.${kind}${spec.seq}`);
  } catch {
    // not there yet (or not visible to this user): a file to create
  }
  return p;
}

export function openOutputs(spec: JobRunSpec, tmpRoot: string, account?: OsUser): Outputs {
  const out: Outputs = { stdout: "ignore", stderr: "ignore", fds: [], comments: [], delivered: {} };
  const opened = new Map<string, { fd: number | "ignore"; at?: string }>();
  const open = (requested: string, kind: "o" | "e"): { fd: number | "ignore"; at?: string } => {
    // PBS: an -o/-e path naming an existing directory gets the default file name inside it.
    // Looked at as the job's user, so the answer says nothing about paths the user cannot see.
    const p = requested === DISCARD ? requested : asUser(account, () => inDirectory(requested, spec, kind));
    const seen = opened.get(p);
    if (seen) return seen;
    let res: { fd: number | "ignore"; at?: string };
    if (p === DISCARD) res = { fd: "ignore" };
    else {
      try {
        // as the job's user: the kernel decides whether that user may write there
        // created with the job's umask (PBS's default 077: private to the job's user)
        const fd = asUser(account, () => openOutputFile(p, 0o666 & ~(spec.umask ?? DEFAULT_UMASK)));
        out.fds.push(fd);
        res = { fd, at: p };
      } catch (e) {
        res = divert(p, e);
      }
    }
    opened.set(p, res);
    return res;
  };
  const divert = (p: string, e: unknown): { fd: number | "ignore"; at?: string } => {
    const why = e instanceof OutputRefusedError ? e.reason : errMsg(e);
    // 0711: the owner can open their own copy by name (the API reads it as them); nobody can
    // list the folder. Only root (the MOM) writes here, so nothing in it can be a planted link.
    const dir = path.join(tmpRoot, "undelivered");
    // one name per job, run and file: two jobs asking for the same name never share a copy
    const kept = path.join(dir, `${safeName(spec.jobId)}.${spec.runCount}.${safeName(path.basename(p))}`);
    try {
      fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
      fs.chmodSync(dir, 0o711);
      const fd = openOutputFile(kept, 0o600);
      out.fds.push(fd);
      fs.fchmodSync(fd, 0o600);
      if (account) fs.fchownSync(fd, account.uid, account.gid);
      out.comments.push(`output could not be delivered to ${p} (${why}); kept at ${kept}`);
      return { fd, at: kept };
    } catch {
      out.comments.push(`output could not be delivered to ${p} (${why}); discarded`);
      return { fd: "ignore" };
    }
  };
  const stdoutPath = spec.stdoutPath as string | null;
  let o: { fd: number | "ignore"; at?: string } | undefined;
  let e: { fd: number | "ignore"; at?: string } | undefined;
  if (spec.joinEo && spec.stderrPath) {
    e = open(spec.stderrPath, "e");
    o = e;
  } else if (stdoutPath) {
    o = open(stdoutPath, "o");
    e = spec.stderrPath ? open(spec.stderrPath, "e") : o;
  } else if (spec.stderrPath) {
    e = open(spec.stderrPath, "e");
    o = e;
  }
  if (o) {
    out.stdout = o.fd;
    if (o.at) out.delivered.o = o.at;
  }
  if (e) {
    out.stderr = e.fd;
    if (e.at) out.delivered.e = e.at;
  }
  return out;
}
