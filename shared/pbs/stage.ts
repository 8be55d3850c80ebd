/**
 * `-W stagein=` / `-W stageout=` lists, as PBS writes them (pure):
 * `execution_path@storage_host:storage_path[,...]`. The execution path is the file on the
 * job's side (relative to the directory the job starts in); the storage path is where it comes
 * from (stage-in) or goes to (stage-out), relative to the owner's home directory when not
 * absolute, as PBS's copy through rcp/scp takes it.
 */
import { PbsParseError } from "../errors.js";

export interface StageEntry {
  /** the path on the execution side: absolute, or relative to the job's start directory */
  local: string;
  host: string;
  /** the path on the storage host: absolute, or relative to the owner's home directory */
  remote: string;
}

export type StageKind = "stagein" | "stageout";

const HOST_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

/**
 * Parse a stage list. The `@` that separates the execution path from the host is the last one
 * followed by `host:` (a file name may hold an `@`); each part must be non-empty and free of
 * control characters. Throws PbsParseError with PBS's wording.
 */
export function parseStageList(text: string, kind: StageKind): StageEntry[] {
  const bad = (why: string) =>
    new PbsParseError(`Illegal attribute or resource value: -W ${kind}=${text} (${why})`);
  if (/[\x00-\x1f\x7f]/.test(text)) throw bad("control characters");
  const out: StageEntry[] = [];
  for (const item of text.split(",")) {
    if (item === "") throw bad("empty entry");
    const m = /^(.+)@([^@:/]+):(.+)$/.exec(item);
    if (!m) throw bad(`"${item}" is not execution_path@host:storage_path`);
    const [, local, host, remote] = m;
    if (!HOST_RE.test(host)) throw bad(`bad host "${host}"`);
    out.push({ local, host, remote });
  }
  return out;
}

/**
 * Whether `host` names the machine the MOM runs on, as far as a copy is concerned: `localhost`
 * and this host's name (full or short). Anything else would need rcp/scp, which this system does
 * not carry out.
 */
export function isLocalStageHost(host: string, hostname: string): boolean {
  const h = host.toLowerCase();
  const me = hostname.toLowerCase();
  return (
    h === "localhost" ||
    h === "localhost.localdomain" ||
    h === me ||
    h === me.split(".")[0] ||
    h.split(".")[0] === me
  );
}

/** The refusal for a storage host that is not this one, or undefined when all are local. */
export function remoteStageHost(
  entries: StageEntry[],
  kind: StageKind,
  hostname: string,
): string | undefined {
  const other = entries.find((e) => !isLocalStageHost(e.host, hostname));
  if (!other) return undefined;
  return `-W ${kind}: storage host ${other.host} is not this host (${hostname}): metaqueue copies staged files only between paths the MOM can reach on its own host (no rcp/scp); use localhost or ${hostname}`;
}
