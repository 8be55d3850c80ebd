/**
 * Job identifiers (`123`, `123.casper`, `123[]`, `123[7].casper-pbs`) and destinations
 * (`queue`, `queue@server`, `@server`).
 */
import { PbsParseError } from "../errors.js";
import type { JobIdRef } from "./types.js";

/** PBS queue names: start with a letter, at most 15 characters. */
export const QUEUE_NAME_RE = /^[A-Za-z][A-Za-z0-9_.-]{0,14}$/;
/** Server names (host names or short names). */
export const SERVER_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

const JOBID_RE = /^(\d+)(?:\[(\d*|\d+-\d+(?::\d+)?)\])?(?:\.([A-Za-z0-9][A-Za-z0-9_.-]*))?$/;

/**
 * Parse `seq[.server]`, `seq[][.server]` (array parent), `seq[N][.server]` (subjob) or
 * `seq[X-Y[:Z]][.server]` (a range of subjobs, as PBS's qstat, qdel, qrerun take).
 * No whitespace is allowed anywhere.
 */
export function parseJobId(text: string): JobIdRef {
  const m = JOBID_RE.exec(text);
  if (!m) throw new PbsParseError(`illegally formed job identifier: ${text}`);
  const ref: JobIdRef = { seq: m[1] };
  if (m[3] !== undefined) ref.server = m[3];
  if (m[2] !== undefined) ref.arrayIndex = m[2];
  return ref;
}

/** `formatJobId("123","casper")` -> `123.casper`; with arrayIndex "" -> `123[].casper`, "7" -> `123[7].casper`. An empty `short` gives no dot. */
export function formatJobId(seq: string, short: string, arrayIndex?: string): string {
  const idx = arrayIndex === undefined ? "" : `[${arrayIndex}]`;
  return short ? `${seq}${idx}.${short}` : `${seq}${idx}`;
}

/** Parse a destination: `main`, `main@desched1`, `@casper-pbs`. */
export function parseDestination(text: string): { queue?: string; server?: string } {
  const t = text.trim();
  const at = t.indexOf("@");
  const queue = at < 0 ? t : t.slice(0, at);
  const server = at < 0 ? undefined : t.slice(at + 1);
  if (t === "" || (queue === "" && server === undefined)) {
    throw new PbsParseError("illegal destination: empty (expected queue, queue@server or @server)");
  }
  if (queue !== "" && !QUEUE_NAME_RE.test(queue)) {
    throw new PbsParseError(
      `illegal destination: ${text} (queue names start with a letter, use letters, digits, _ . - and are at most 15 characters)`,
    );
  }
  if (server !== undefined && !SERVER_NAME_RE.test(server)) {
    throw new PbsParseError(`illegal destination: ${text} (bad server name "${server}")`);
  }
  const out: { queue?: string; server?: string } = {};
  if (queue !== "") out.queue = queue;
  if (server !== undefined) out.server = server;
  return out;
}
