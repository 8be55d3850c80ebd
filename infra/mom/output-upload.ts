/**
 * A job's output to S3, from the ECS MOM (issue 12, point 7): whole at the run's end (before the
 * obituary: a job seen as finished has its output in place) and, while it runs, a snapshot of
 * each stream every MOM_OUTPUT_SYNC_MS that it grew, so `qpeek`-style tails and the dashboard's
 * output tail work on AWS as they do locally. Both go to the key the API's S3 OutputReader reads
 * (`outputKey`: the job's own prefix); a snapshot carries the object metadata `partial: 1`, which
 * the reader reports (shared/adapters/s3/output-reader.ts), and the end's upload none.
 *
 * Cost bound: at most one PUT per stream per interval, only when the file changed since the last
 * one: 60 s (the default) is at most 60 PUTs per stream per running hour, 120 for a job with
 * separate stdout and stderr ($0.0006 at $0.005 per 1,000 PUTs); a quiet job costs nothing.
 * Each snapshot is the whole file (S3 has no append): the bytes sent grow with the output, the
 * request count does not.
 *
 * Files are opened as the job's account, without following a link and without blocking, and
 * read only as regular files (a FIFO cannot hang the MOM): the job may have left anything at its
 * output paths.
 *
 * The MOM has no S3 right of its own (issue 12 point 2): each upload is a plain HTTP PUT to a
 * URL of the run's output grant (shared/adapters/s3/output-grant.ts: presigned by the server
 * for this run's keys only, the snapshot's `partial` metadata signed in), carried by the run's
 * dispatch and renewed over the MOM's push channel before it expires (RunOutputGrant).
 */
import fs from "node:fs";
import http from "node:http";
import https from "node:https";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { signReport } from "../../shared/auth/mom-report.js";
import { asUser, type OsUser } from "../../shared/auth/os-user.js";
import type { MomLink } from "../../shared/exec/mom-link.js";
import type { MomPush } from "../../shared/ports/channel.js";
import type { OutputGrant, OutputPut } from "../../shared/ports/index.js";

/** The default interval between a running job's output snapshots. */
export const OUTPUT_SYNC_MS = 60_000;
/** A grant this close to its expiry is renewed before a PUT (a PUT of a big file takes a while). */
export const GRANT_RENEW_BEFORE_MS = 5 * 60_000;

/** What an upload found at the path: the file's size and modification time, or nothing to send. */
export type FileState = { size: number; mtimeMs: number } | undefined;

/** S3 (or whatever the URL names) refused a PUT. */
export class OutputPutError extends Error {
  constructor(
    readonly status: number | undefined,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** Fresh upload URLs for a run, from the server (the MOM's signed `grant` request on its channel). */
export type GrantRenewer = (jobId: string, runCount: number, names: string[]) => Promise<OutputGrant>;

/** The server refused to renew a run's grant (this MOM does not hold that run, or it ended). */
export class GrantRefusedError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** No answer to a grant renewal in time (the channel unreachable): the MOM goes on without. */
export class GrantUnavailableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** How long a renewal may take, connect included: an upload waits for it, and the obituary for the upload. */
export const GRANT_RENEW_TIMEOUT_MS = 15_000;

/**
 * Renew grants over the MOM's push channel: a `grant` request signed with the MOM's key
 * (shared/server/output-grant.ts answers it only for a run the job item says this MOM holds).
 * `link` is called at each renewal: a per-run MOM connects only once it needs to. Bounded by
 * `timeoutMs`, connect included: a channel that cannot be reached must not hold up the end's
 * upload, and so the obituary, for ever (MomLink.start retries until it connects).
 */
export function channelRenewer(
  link: () => Promise<MomLink>,
  key: string,
  momId: string,
  timeoutMs = GRANT_RENEW_TIMEOUT_MS,
): GrantRenewer {
  return (jobId, runCount, names) => {
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new GrantUnavailableError(`no output grant of ${jobId} within ${timeoutMs} ms`)),
        timeoutMs,
      );
      timer.unref();
    });
    const asked = (async () => {
      const l = await link();
      let answer: MomPush;
      try {
        answer = await l.ask(
          { type: "grant", report: signReport(key, momId, "grant", { jobId, runCount, names }) },
          (m) => m.type === "grant" && m.jobId === jobId && m.runCount === runCount,
          timeoutMs,
        );
      } catch (err) {
        throw new GrantUnavailableError(`output grant of ${jobId}: ${(err as Error).message}`, {
          cause: err,
        });
      }
      if (answer.type !== "grant" || !answer.grant)
        throw new GrantRefusedError(
          `output grant of ${jobId} run ${runCount} refused: ${answer.type === "grant" ? answer.refused : "?"}`,
        );
      return answer.grant;
    })();
    return Promise.race([asked, late]).finally(() => clearTimeout(timer));
  };
}

/**
 * The right to write one run's output (issue 12 point 2): the grant the dispatch carried, and a
 * new one asked for when it nears its expiry or lacks a name (an -o naming a directory is
 * delivered under the default name). Without a renewer (no channel) the first grant is all
 * there is: uploads after its expiry fail and are logged.
 */
export class RunOutputGrant {
  private renewing: Promise<OutputGrant> | undefined;

  constructor(
    private grant: OutputGrant,
    private readonly renew?: GrantRenewer,
    private readonly now: () => number = Date.now,
  ) {}

  get jobId(): string {
    return this.grant.jobId;
  }

  /** The PUT of `file` (by its name), as a snapshot or the end's upload. */
  async put(file: string, partial: boolean): Promise<OutputPut> {
    const name = path.posix.basename(file);
    const find = () => this.grant.puts.find((p) => p.name === name && p.partial === partial);
    const fresh = this.grant.expiresAt - this.now() > GRANT_RENEW_BEFORE_MS;
    let put = find();
    if (put && fresh) return put;
    if (this.renew) {
      const names = [...new Set([...this.grant.puts.map((p) => p.name), name])];
      // one request for concurrent PUTs (stdout and stderr of one round)
      this.renewing ??= this.renew(this.grant.jobId, this.grant.runCount, names).finally(() => {
        this.renewing = undefined;
      });
      try {
        this.grant = await this.renewing;
        put = find();
      } catch (err) {
        // no answer (the channel is down) or refused: a URL still valid is still worth a try
        if (!put || this.grant.expiresAt <= this.now()) throw err;
      }
    }
    if (!put) throw new OutputPutError(undefined, `no upload of ${name} is granted to this MOM`);
    return put;
  }
}

/** PUT `size` bytes of `body` (or nothing) to the URL, with a length: S3 refuses chunked PUTs. */
async function httpPut(put: OutputPut, body: NodeJS.ReadableStream | undefined, size: number): Promise<void> {
  const url = new URL(put.url);
  const mod = url.protocol === "https:" ? https : http;
  await new Promise<void>((resolve, reject) => {
    const req = mod.request(
      url,
      {
        method: "PUT",
        headers: {
          ...put.headers,
          "content-length": String(size),
          "content-type": "text/plain; charset=utf-8",
        },
        timeout: 60_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.length < 16 && chunks.push(c));
        res.on("end", () => {
          if (res.statusCode && res.statusCode < 300) return resolve();
          // S3's XML error: its Code says why (AccessDenied, SignatureDoesNotMatch, ...)
          const code = /<Code>([^<]*)<\/Code>/.exec(Buffer.concat(chunks).toString("utf8"))?.[1];
          reject(
            new OutputPutError(res.statusCode, `PUT answered ${res.statusCode}${code ? ` ${code}` : ""}`),
          );
        });
        res.on("error", reject);
      },
    );
    req.on("timeout", () => req.destroy(new OutputPutError(undefined, "PUT timed out")));
    req.on("error", (err) =>
      reject(
        err instanceof OutputPutError ? err : new OutputPutError(undefined, err.message, { cause: err }),
      ),
    );
    if (!body) req.end();
    else pipeline(body, req).catch(reject);
  });
}

/**
 * Put `file` at its granted URL (s3://bucket/<jobId>/<file's name>), read from byte 0 (a
 * snapshot is marked partial: the URL says so). Returns what was sent; throws what the PUT or
 * the open said. `unless` skips the PUT when the file is still as it was then (a snapshot of
 * an unchanged file).
 */
export async function putOutput(
  grant: RunOutputGrant,
  file: string,
  account: OsUser | undefined,
  opts: { partial?: boolean; unless?: FileState } = {},
): Promise<FileState> {
  const C = fs.constants;
  // synchronous: asUser switches the whole process for the few syscalls of the open
  const fd = asUser(account, () => fs.openSync(file, C.O_RDONLY | C.O_NOFOLLOW | C.O_NONBLOCK));
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile()) throw new Error("not a regular file");
    const now = { size: st.size, mtimeMs: st.mtimeMs };
    if (opts.unless && opts.unless.size === now.size && opts.unless.mtimeMs === now.mtimeMs) return now;
    const put = await grant.put(file, !!opts.partial);
    // the size measured: bytes the job writes meanwhile wait for the next snapshot
    const body =
      st.size === 0
        ? undefined
        : fs.createReadStream("", { fd, autoClose: false, start: 0, end: st.size - 1 });
    await httpPut(put, body, st.size);
    return now;
  } finally {
    fs.closeSync(fd);
  }
}

export interface LiveOutputOptions {
  /** the run's upload URLs (renewed through the channel as they near expiry) */
  grant: RunOutputGrant;
  /** the run's stdout and stderr paths (a joined stream named once) */
  files: string[];
  account?: OsUser;
  everyMs: number;
  log: (line: string) => void;
}

/**
 * The snapshots of one running job's output. `stop()` ends them and waits for one in flight, so
 * the end's upload, sent after it, is the last write of each key: a snapshot finishing after it
 * would leave a partial object for a finished job.
 */
export class LiveOutput {
  private timer: NodeJS.Timeout | undefined;
  private inFlight: Promise<void> | undefined;
  private readonly last = new Map<string, FileState>();
  private readonly failed = new Set<string>();
  private stopped = false;

  constructor(private readonly o: LiveOutputOptions) {}

  start(): void {
    if (this.timer || this.stopped) return;
    this.timer = setInterval(() => {
      // one round at a time: a slow PUT delays the next round instead of stacking them
      if (!this.inFlight) this.inFlight = this.round().finally(() => (this.inFlight = undefined));
    }, this.o.everyMs);
    this.timer.unref();
  }

  /** One round of snapshots now (the timer's; tests call it). */
  async round(): Promise<void> {
    await Promise.all(
      [...new Set(this.o.files)].map(async (file) => {
        if (this.stopped) return;
        try {
          const sent = await putOutput(this.o.grant, file, this.o.account, {
            partial: true,
            unless: this.last.get(file),
          });
          this.last.set(file, sent);
          this.failed.delete(file);
        } catch (err) {
          // not there yet (the job has not written), or S3 refused: the next round tries again;
          // said once per file until it works, not every round
          if ((err as NodeJS.ErrnoException).code === "ENOENT" || this.failed.has(file)) return;
          this.failed.add(file);
          this.o.log(`ECS MOM: no snapshot of ${file} for ${this.o.grant.jobId}: ${(err as Error).message}`);
        }
      }),
    );
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.inFlight;
  }
}
