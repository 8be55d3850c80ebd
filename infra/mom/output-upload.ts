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
 */
import fs from "node:fs";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { outputKey, PARTIAL_META } from "../../shared/adapters/s3/output-reader.js";
import { asUser, type OsUser } from "../../shared/auth/os-user.js";

/** The default interval between a running job's output snapshots. */
export const OUTPUT_SYNC_MS = 60_000;

/** What an upload found at the path: the file's size and modification time, or nothing to send. */
export type FileState = { size: number; mtimeMs: number } | undefined;

/**
 * Put `file` at s3://bucket/<jobId>/<file's name>, read from byte 0 (a snapshot is marked
 * partial). Returns what was sent; throws what S3 or the open said. `unless` skips the PUT when
 * the file is still as it was then (a snapshot of an unchanged file).
 */
export async function putOutput(
  s3: S3Client,
  bucket: string,
  jobId: string,
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
    await s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: outputKey(jobId, file),
        Body:
          st.size === 0 ? "" : fs.createReadStream("", { fd, autoClose: false, start: 0, end: st.size - 1 }),
        // the size measured: bytes the job writes meanwhile wait for the next snapshot
        ContentLength: st.size,
        ContentType: "text/plain; charset=utf-8",
        ...(opts.partial && { Metadata: { [PARTIAL_META]: "1" } }),
      }),
    );
    return now;
  } finally {
    fs.closeSync(fd);
  }
}

export interface LiveOutputOptions {
  s3: S3Client;
  bucket: string;
  jobId: string;
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
          const sent = await putOutput(this.o.s3, this.o.bucket, this.o.jobId, file, this.o.account, {
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
          this.o.log(`ECS MOM: no snapshot of ${file} for ${this.o.jobId}: ${(err as Error).message}`);
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
