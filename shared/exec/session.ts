/**
 * The session channel of an interactive job (qsub -I), MOM side. PBS's MOM connects back to a
 * port qsub listens on; here qsub reaches the MOM instead (the API may be a Lambda that cannot
 * call a submit host back, and a submit host behind NAT could not be reached): the MOM listens
 * on a unix socket for this one run, at a path the executor also knows (sessionSocketPath), and
 * qsub learns it from the API (GET /v1/jobs/{id}/session).
 *
 * Who may attach: the socket is the job user's, mode 0600, in a root-owned 0711 folder, so the
 * kernel lets only that user (and root) connect; and the first line must carry the session's
 * one-time secret, which the server gave the submitter alone and of which the MOM holds only the
 * SHA-256 (compared in constant time). A wrong secret is answered `ERR` and the MOM keeps
 * listening; the right one is answered `OK`, the listener closes and its path is removed, so
 * there is exactly one session per run.
 *
 * The protocol, after the connect: qsub sends one JSON line, SessionHello; the MOM answers one
 * line, `OK` or `ERR <why>`; then the stream is the terminal's bytes both ways (qsub sends
 * nothing more before `OK`, so nothing of the terminal is read by the handshake). qsub's end of
 * input (non-TTY: its stdin ended) is a half-close; the MOM ends the stream when the job is over.
 */
import * as fs from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import { sessionKeyMatches } from "../auth/session-key.js";

/** What qsub sends first. */
export interface SessionHello {
  /** the session's one-time secret */
  key: string;
  /** qsub's stdin is a terminal: the job gets a pseudo-terminal */
  tty: boolean;
  rows?: number;
  cols?: number;
  /** qsub's TERM, for the job's pseudo-terminal */
  term?: string;
}

export interface AcceptedSession {
  socket: net.Socket;
  hello: SessionHello;
}

/** A first line longer than this is not a hello. */
const MAX_HELLO_BYTES = 4096;
/** A connection that says nothing this long is dropped (it must not hold the session). */
const HELLO_TIMEOUT_MS = 10_000;
/** unix socket paths are limited to 107 bytes on Linux (sun_path) */
const MAX_SOCKET_PATH = 107;

const safe = (s: string) => s.replace(/[/\0]/g, "_");

export function sessionsRoot(tmpRoot: string): string {
  return path.join(tmpRoot, "sessions");
}

/** Where the MOM of `tmpRoot` listens for run `runCount` of `jobId`. */
export function sessionSocketPath(tmpRoot: string, jobId: string, runCount: number): string {
  return path.join(sessionsRoot(tmpRoot), `${safe(jobId)}.${runCount}.sock`);
}

/** Parse and check a hello line; a reason when it is not one. */
export function parseHello(line: string): SessionHello | string {
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return "malformed hello";
  }
  if (typeof v !== "object" || v === null) return "malformed hello";
  const h = v as Record<string, unknown>;
  if (typeof h.key !== "string" || typeof h.tty !== "boolean") return "malformed hello";
  const dim = (x: unknown) =>
    typeof x === "number" && Number.isInteger(x) && x > 0 && x < 10000 ? x : undefined;
  const out: SessionHello = { key: h.key, tty: h.tty };
  const rows = dim(h.rows);
  const cols = dim(h.cols);
  if (rows !== undefined) out.rows = rows;
  if (cols !== undefined) out.cols = cols;
  // a terminal type name only: it ends up in the job's environment
  if (typeof h.term === "string" && /^[A-Za-z0-9._+-]{1,64}$/.test(h.term)) out.term = h.term;
  return out;
}

export interface SessionListener {
  /** resolves with the first connection that proved the secret; rejects on close() or failure */
  accepted: Promise<AcceptedSession>;
  /** stop listening (the job was killed before qsub attached); removes the socket */
  close(): void;
}

/**
 * Listen at `socketPath` for the holder of the secret hashed `keyHash`. `owner`: the job's
 * account, who alone may connect (absent: the MOM's own user).
 */
export function listenForSession(opts: {
  socketPath: string;
  keyHash: string;
  owner?: { uid: number; gid: number };
}): SessionListener {
  const { socketPath, keyHash } = opts;
  let settle!: { resolve: (s: AcceptedSession) => void; reject: (e: Error) => void };
  const accepted = new Promise<AcceptedSession>((resolve, reject) => {
    settle = { resolve, reject };
  });
  // a caller that only ever closes must not see an unhandled rejection
  accepted.catch(() => {});
  let done = false;
  const unlink = () => fs.rmSync(socketPath, { force: true });
  const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true });
  const finish = (r: AcceptedSession | Error) => {
    if (done) return;
    done = true;
    server.close();
    try {
      unlink();
    } catch {
      // already gone
    }
    if (r instanceof Error) settle.reject(r);
    else settle.resolve(r);
  };

  server.on("connection", (socket) => {
    if (done) {
      socket.destroy();
      return;
    }
    let buf = Buffer.alloc(0);
    const timer = setTimeout(() => socket.destroy(), HELLO_TIMEOUT_MS);
    const refuse = (why: string) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.end(`ERR ${why}\n`);
      socket.destroySoon();
    };
    const onData = (chunk: Buffer) => {
      buf = Buffer.concat([buf, chunk]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) {
        if (buf.length > MAX_HELLO_BYTES) refuse("hello too long");
        return;
      }
      const hello = parseHello(buf.subarray(0, nl).toString("utf8"));
      if (typeof hello === "string") return refuse(hello);
      if (!sessionKeyMatches(hello.key, keyHash)) return refuse("permission denied: wrong session key");
      if (done) return refuse("the session is already attached");
      clearTimeout(timer);
      socket.off("data", onData);
      socket.pause();
      // qsub sends nothing before OK: there is no terminal input in `buf` past the line
      socket.write("OK\n");
      finish({ socket, hello });
    };
    socket.on("data", onData);
    socket.on("error", () => clearTimeout(timer));
    socket.resume();
  });
  server.on("error", (e) => finish(new Error(`cannot listen on ${socketPath}: ${e.message}`, { cause: e })));

  try {
    if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH)
      throw new Error(`session socket path is longer than ${MAX_SOCKET_PATH} bytes: ${socketPath}`);
    const dir = path.dirname(socketPath);
    // root's and 0711: the job's user reaches their socket by name, nobody lists the sessions
    fs.mkdirSync(dir, { recursive: true, mode: 0o711 });
    fs.chmodSync(dir, 0o711);
    unlink();
    // created 0600 (umask), chowned before anyone can know the path (the API tells it only
    // once the job runs, and the job runs only once this returns)
    const old = process.umask(0o177);
    try {
      server.listen(socketPath);
    } finally {
      process.umask(old);
    }
    server.once("listening", () => {
      try {
        fs.chmodSync(socketPath, 0o600);
        if (opts.owner) fs.chownSync(socketPath, opts.owner.uid, opts.owner.gid);
      } catch (e) {
        finish(new Error(`cannot hand the session socket to the job's user: ${(e as Error).message}`));
      }
    });
  } catch (e) {
    finish(e instanceof Error ? e : new Error(String(e)));
  }
  return { accepted, close: () => finish(new Error("the session was closed before qsub attached")) };
}

/** util-linux `script`, which gives a session a pseudo-terminal without a native module. */
function scriptBinary(): string | undefined {
  for (const p of ["/usr/bin/script", "/bin/script"]) {
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // next
    }
  }
  return undefined;
}

/** Quote a word for /bin/sh. */
const shq = (w: string) => `'${w.replace(/'/g, `'\\''`)}'`;

/**
 * What the launcher runs for an interactive job: [argv0, ...command]. Without a terminal, the
 * top shell reads the commands qsub sends (PBS does the same for `echo cmd | qsub -I`); with
 * one, util-linux `script` makes a pseudo-terminal, sizes it as qsub's, and runs the top shell
 * on it (a login shell `-bash` unless the site starts jobs in their workdir). Throws when the
 * host has no `script`.
 */
export function sessionCommand(top: { shell: string; argv0?: string }, hello: SessionHello): string[] {
  if (!hello.tty) return [top.argv0 ?? "", top.shell];
  const script = scriptBinary();
  if (!script) throw new Error("this host has no util-linux `script` for an interactive terminal");
  const size =
    hello.rows !== undefined && hello.cols !== undefined
      ? `stty rows ${hello.rows} cols ${hello.cols} 2>/dev/null; `
      : "";
  // script runs this with $SHELL -c (maybe dash): only POSIX sh here; bash's exec -a sets argv0
  const run = top.argv0
    ? `exec /bin/bash -c 'exec -a "$0" "$1"' ${shq(top.argv0)} ${shq(top.shell)}`
    : `exec ${shq(top.shell)}`;
  return ["", script, "-qfec", `${size}${run}`, "/dev/null"];
}

export interface AttachedSession {
  /** a line for the terminal from the MOM (`=>> PBS: ...`) */
  say(text: string): void;
  /** after the job's end: its output drained, the session ends (qsub sees the end) */
  end(): Promise<void>;
}

/**
 * Join the session to the job's stdio pipes: qsub's bytes to stdin (its half-close ends stdin),
 * stdout and stderr to qsub. A session that drops while the job runs is a hangup: `hangup` is
 * called (the runner HUPs the job's group, as a terminal's close does).
 */
export function attachSession(
  child: {
    stdin: NodeJS.WritableStream | null;
    stdout: NodeJS.ReadableStream | null;
    stderr: NodeJS.ReadableStream | null;
  },
  session: AcceptedSession,
  hangup: () => void,
): AttachedSession {
  const sock = session.socket;
  let over = false;
  sock.on("error", () => {});
  child.stdin?.on("error", () => {});
  if (child.stdin) sock.pipe(child.stdin);
  sock.on("close", () => {
    if (!over) hangup();
  });
  const drained: Promise<void>[] = [];
  for (const out of [child.stdout, child.stderr]) {
    if (!out) continue;
    out.on("data", (b: Buffer) => {
      if (!sock.destroyed) sock.write(b);
    });
    drained.push(new Promise((r) => out.once("close", () => r())));
  }
  sock.resume();
  return {
    say: (text) => {
      if (!sock.destroyed && sock.writable) sock.write(text);
    },
    end: async () => {
      over = true;
      // leftovers of the group were KILLed before this: the pipes close; bounded all the same
      await Promise.race([Promise.all(drained), new Promise((r) => setTimeout(r, 2000).unref())]);
      await new Promise<void>((r) => {
        if (sock.destroyed) return r();
        sock.end(() => r());
        setTimeout(r, 2000).unref();
      });
      sock.destroy();
    },
  };
}
