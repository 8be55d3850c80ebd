/**
 * The OutputReader on AWS: a job's output as its ECS MOM uploaded it, s3://<bucket>/<jobId>/<file>
 * (infra/mom/ecs.ts uploadOutputs, through `outputKey`).
 *
 * The rule is the local one (shared/api/web-routes.ts): the API lets the owner, an operator or
 * a manager ask, and only for the file the job's MOM was given or delivered (never a path only
 * asked for). What is read is then bound to the job: the key is the job's own prefix and the
 * file's last component, so no name (`../`, another job's ID) reaches outside that prefix, and
 * a manager reads only what the owner's job wrote. There is nothing of the owner's to open with
 * their rights on AWS (no shared file system): the prefix is the job's, and the job the owner's.
 *
 * S3 facts that shaped it: HeadObject gives the size, then one ranged GetObject reads at most
 * `max` bytes; without s3:ListBucket a missing key answers 403, not 404 (the API's role has
 * ListBucket, so a 403 here is a real refusal); objects are written whole: at the run's end,
 * and while the job runs as snapshots marked with the metadata `partial` (infra/mom/
 * output-upload.ts), which the tail reports with the snapshot's time (`partialAsOf`). A snapshot
 * replacing the object between the HEAD and the GET fails the GET's IfMatch: measured again.
 */
import path from "node:path";
import { GetObjectCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { type OutputReader, type OutputTail, tailWindow } from "../../ports/index.js";

/**
 * The object metadata (x-amz-meta-partial: 1) of a running job's snapshot; the end's upload has
 * none (infra/mom/output-upload.ts writes both).
 */
export const PARTIAL_META = "partial";

/** The S3 key of a job's output file: under the job's own prefix, by the file's name only. */
export function outputKey(jobId: string, file: string): string {
  return `${jobId}/${path.posix.basename(file)}`;
}

const errName = (err: unknown) => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return { name: e?.name ?? "", status: e?.$metadata?.httpStatusCode };
};

function isMissing(err: unknown): boolean {
  const { name, status } = errName(err);
  return name === "NotFound" || name === "NoSuchKey" || status === 404;
}

function isDenied(err: unknown): boolean {
  const { name, status } = errName(err);
  return name === "AccessDenied" || name === "Forbidden" || status === 403;
}

/** The object changed between the HEAD and the GET (its IfMatch failed). */
function isReplaced(err: unknown): boolean {
  const { name, status } = errName(err);
  return name === "PreconditionFailed" || status === 412;
}

export function s3OutputReader(s3: S3Client, bucket: string): OutputReader {
  return {
    async tail(_owner, file, from, max, jobId): Promise<OutputTail> {
      if (!jobId) return { exists: false, refused: "error", message: "no job to read the output of" };
      const Key = outputKey(jobId, file);
      try {
        for (let attempt = 1; ; attempt++) {
          const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key }));
          const size = Number(head.ContentLength ?? 0);
          const partial =
            head.Metadata?.[PARTIAL_META] === "1"
              ? { partialAsOf: head.LastModified?.getTime() ?? Date.now() }
              : {};
          const { start, len } = tailWindow(size, from, max);
          if (len === 0) return { exists: true, size, offset: start, text: "", ...partial };
          try {
            const got = await s3.send(
              new GetObjectCommand({
                Bucket: bucket,
                Key,
                Range: `bytes=${start}-${start + len - 1}`,
                // the object read is the one measured: a snapshot or rerun's upload in between is not mixed in
                IfMatch: head.ETag,
              }),
            );
            const text = (await got.Body?.transformToString("utf8")) ?? "";
            return { exists: true, size, offset: start, text, ...partial };
          } catch (err) {
            if (attempt >= 3 || !isReplaced(err)) throw err;
          }
        }
      } catch (err) {
        if (isMissing(err)) return { exists: false };
        if (isDenied(err))
          return { exists: false, refused: "denied", message: `s3://${bucket}/${Key}: access denied` };
        const { name } = errName(err);
        return { exists: false, refused: "error", message: `s3://${bucket}/${Key}: ${name || String(err)}` };
      }
    },
  };
}
