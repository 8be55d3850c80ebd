/**
 * Output grants on AWS (issue 12 point 2): S3 presigned PUT URLs for exactly one run's output
 * objects, minted by the server (the scheduler at dispatch, the MOM channel on a MOM's signed
 * request) and handed to the MOM that holds the run. The MOMs' task roles have no S3 right at
 * all: a MOM, or whatever steals its credentials, can write only the keys it was given URLs
 * for, `<jobId>/<file>` under the job's own prefix (`outputKey`), until they expire.
 *
 * Why presigned URLs and not STS AssumeRole with a per-run session policy:
 * - cost and latency: a presigned URL is computed in the Lambda, no request, nothing billed
 *   (measured: ~3.7 ms of CPU for a run's grant of 4 URLs, mostly the S3 client's request
 *   building); AssumeRole is one STS call per grant (a network round trip on the dispatch path
 *   of every run) under its own throttling quota, per account and shared with every other
 *   caller: at a dispatch rate of hundreds of runs a second it would become the bottleneck.
 * - size: a grant is ~7 KB of JSON with a Lambda session token (4 URLs of ~1.7 KB); gzipped in
 *   a per-run task's overrides (8192 characters for all) it costs ~2.1 KB, which lowers the
 *   largest incompressible script a per-run task takes from ~7.4 KB to ~5.3 KB. Credentials
 *   from AssumeRole would be about as large (the session token dominates).
 * - scope: a URL names one method on one key, with the `partial` snapshot metadata signed in;
 *   a session policy scoped to `<jobId>/*` would still let the holder write any name, any
 *   metadata, and (with s3:PutObject) tagging of its prefix.
 * - lifetime: both live at most as long as the credentials that made them. A URL signed with
 *   the Lambda role's temporary credentials dies when those credentials do, whatever its
 *   X-Amz-Expires says (S3 checks the session token), and SigV4 caps X-Amz-Expires at 7 days;
 *   an AssumeRole session lasts 15 min to the role's maximum (1 h when chained from a Lambda
 *   role). So either way a long job needs fresh grants: the MOM asks for them over its push
 *   channel (shared/server/output-grant.ts) before the ones it holds expire.
 *
 * How: `getSignedUrl` of @aws-sdk/s3-request-presigner on the site's S3 client: the client
 * builds the PutObject request (endpoint, path style, key encoding, metadata headers) and the
 * presigner signs PUT, the key, `x-id=PutObject` and, for a snapshot, `x-amz-meta-partial: 1`
 * hoisted into the query (SigV4 hoists x-amz-* headers; S3 reads them back as headers), with
 * UNSIGNED-PAYLOAD (the MOM streams the file) and Content-Type left free. A URL's only signed
 * header is its host, so the MOM sends nothing but the file and its length.
 */
import path from "node:path";
import { PutObjectCommand, S3Client, type S3ClientConfig } from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import type { OutputGrant, OutputGranter, OutputPut } from "../../ports/index.js";
import { outputKey, PARTIAL_META } from "./output-reader.js";

/** A grant's default lifetime: long enough for an EC2 pool's scale-from-zero before a run starts. */
export const GRANT_TTL_MS = 60 * 60_000;
/** SigV4's cap on X-Amz-Expires (7 days). */
const SIGV4_MAX_S = 7 * 24 * 3600;
/** At most this many files per grant: stdout and stderr, as given and as delivered. */
export const GRANT_MAX_NAMES = 4;

/** A file name is granted as a key's last component only: no path, nothing special. */
export function isGrantableName(name: string): boolean {
  return /^[^/\\\0]{1,255}$/.test(name) && name !== "." && name !== "..";
}

/** The names a run's grant covers at dispatch: its stdout and stderr files' (a joined stream once). */
export function outputNames(spec: { stdoutPath: string | null; stderrPath: string | null }): string[] {
  return [...new Set([spec.stdoutPath, spec.stderrPath])]
    .filter((p): p is string => !!p)
    .map((p) => path.posix.basename(p));
}

export class S3OutputGranter implements OutputGranter {
  private readonly s3: S3Client;
  private readonly ttlMs: number;
  private readonly now: () => number;

  /** `config` as for the site's S3 clients (region; an endpoint and credentials in tests). */
  constructor(
    private readonly bucket: string,
    config: S3ClientConfig & { ttlMs?: number; now?: () => number },
  ) {
    const { ttlMs, now, ...s3config } = config;
    this.ttlMs = ttlMs ?? GRANT_TTL_MS;
    this.now = now ?? Date.now;
    // No checksum by default: a CRC of the (empty) body presigned here would not match the file
    // PUT later.
    this.s3 = new S3Client({ ...s3config, requestChecksumCalculation: "WHEN_REQUIRED" });
  }

  async grant(jobId: string, runCount: number, names: string[]): Promise<OutputGrant> {
    const now = this.now();
    // the URL cannot outlive the credentials that sign it (S3 refuses it then): say so
    const creds = await this.s3.config.credentials();
    const credsEnd = creds.expiration?.getTime() ?? Number.POSITIVE_INFINITY;
    const expiresAt = Math.min(now + this.ttlMs, credsEnd, now + SIGV4_MAX_S * 1000);
    const expiresIn = Math.max(1, Math.floor((expiresAt - now) / 1000));
    const unique = [...new Set(names)];
    if (unique.length > GRANT_MAX_NAMES || !unique.every(isGrantableName))
      throw new RangeError(`output grant of ${jobId}: bad file names ${JSON.stringify(names)}`);
    const puts: OutputPut[] = [];
    for (const name of unique)
      for (const partial of [false, true]) {
        const cmd = new PutObjectCommand({
          Bucket: this.bucket,
          Key: outputKey(jobId, name),
          ...(partial && { Metadata: { [PARTIAL_META]: "1" } }),
        });
        const url = await getSignedUrl(this.s3, cmd, { expiresIn, signingDate: new Date(now) });
        // every header hoisted into the query: a header left to sign would be one the MOM must
        // repeat exactly, which this grant does not carry
        const signed = new URL(url).searchParams.get("X-Amz-SignedHeaders");
        if (signed !== "host") throw new Error(`output grant of ${jobId}: URL signs headers ${signed}`);
        puts.push({ name, partial, url, headers: {} });
      }
    return { jobId, runCount, expiresAt: now + expiresIn * 1000, puts };
  }
}
