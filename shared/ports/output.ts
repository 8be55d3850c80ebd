/** Port: reading job output with the owner's rights. */
/** Why an output file was not read (OutputReader). */
export type OutputRefusal =
  /** the job's owner has no account on this host, so nothing can be opened with their rights */
  | "no-account"
  /** the owner may not open it (EACCES/EPERM) */
  | "denied"
  /** the last component is a symbolic link (never followed) */
  | "link"
  /** a FIFO, device, socket or directory: only regular files are read */
  | "not-regular"
  /** anything else (the reader failed or timed out) */
  | "error";

export type OutputTail =
  | {
      exists: true;
      size: number;
      offset: number;
      text: string;
      refused?: undefined;
      /**
       * epoch ms: the text is a snapshot of a running job's output taken then (on AWS its MOM
       * uploads one every interval it grew), so the job may have written more since
       */
      partialAsOf?: number;
    }
  | { exists: false; refused?: undefined }
  | { exists: false; refused: OutputRefusal; message: string };

/**
 * Reads job output with the job owner's rights, never the site's: opened without following a
 * link, regular files only, without blocking. Locally a root runtime reads in a short-lived
 * process running as the owner (infra/local/output-reader.ts); on AWS the output is what the
 * job's ECS MOM uploaded under the job's own S3 prefix (shared/adapters/s3/output-reader.ts).
 */
export interface OutputReader {
  /**
   * At most `max` bytes of `file` from byte `from` (default: the last `max` bytes; a `from`
   * past the end means the file was rewritten and it is read from 0), opened as the OS
   * account `owner`, of the job `jobId` (where the output is kept per job, as in S3).
   */
  tail(
    owner: string,
    file: string,
    from: number | undefined,
    max: number,
    jobId?: string,
  ): Promise<OutputTail>;
}

/**
 * The part of a file of `size` bytes a tail reads, [start, start+len): the last `max` bytes by
 * default; a `from` past the end means the file was rewritten (a rerun), so it starts again at 0.
 * Every OutputReader reads this window.
 */
export function tailWindow(
  size: number,
  from: number | undefined,
  max: number,
): { start: number; len: number } {
  let start = from ?? Math.max(0, size - max);
  if (start > size) start = 0;
  return { start, len: Math.max(0, Math.min(max, size - start)) };
}

/**
 * One upload a MOM may make: an HTTPS PUT of the whole object to `url` (S3 presigned: the key,
 * the method, the expiry and, for a snapshot, the `partial` metadata are signed into it).
 * `headers` must be sent as they are (none today: what is signed travels in the query).
 */
export interface OutputPut {
  /** the file's name (the key's last component: outputKey) */
  name: string;
  /** a running job's snapshot (object metadata partial: 1) rather than the end's upload */
  partial: boolean;
  url: string;
  headers: Record<string, string>;
}

/**
 * The right to write one run's output objects (issue 12 point 2): what the server hands the MOM
 * that holds the run, with the run (its dispatch) and again on the MOM's signed request.
 */
export interface OutputGrant {
  jobId: string;
  runCount: number;
  /** epoch ms after which the URLs are refused: the MOM asks for fresh ones before */
  expiresAt: number;
  puts: OutputPut[];
}

/** Mints output grants (on AWS: S3 presigned PUT URLs, shared/adapters/s3/output-grant.ts). */
export interface OutputGranter {
  /** Grant the run the right to write `names` (file names, no directory) under the job's own prefix. */
  grant(jobId: string, runCount: number, names: string[]): Promise<OutputGrant>;
}
