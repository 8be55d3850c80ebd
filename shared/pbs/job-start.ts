/**
 * How a job's top shell is chosen and set up, as a PBS MOM does it (pure): the `-S`
 * Shell_Path_List, the `-W umask` value, the stage lists' syntax (stage.ts), and the `-W`
 * attributes PBS defines that this system does not carry out (refused at qsub rather than stored
 * and ignored).
 */
import { PbsParseError } from "../errors.js";
import { checkMailOptions } from "./mail.js";
import { parseStageList } from "./stage.js";

export interface ShellEntry {
  path: string;
  /** the host this entry is for; absent = any host */
  host?: string;
}

/**
 * Parse `-S path[@host][,path[@host]...]`. Paths must be absolute (the MOM runs them without a
 * PATH lookup), at most one entry may omit the host, and a host may appear once (PBS refuses
 * the same).
 */
export function parseShellPathList(text: string): ShellEntry[] {
  const bad = (why: string) => new PbsParseError(`illegal -S value: "${text}" (${why})`);
  const entries: ShellEntry[] = [];
  for (const item of text.split(",")) {
    const at = item.lastIndexOf("@");
    const p = at < 0 ? item : item.slice(0, at);
    const host = at < 0 ? undefined : item.slice(at + 1);
    if (p === "") throw bad("empty shell path");
    if (!p.startsWith("/")) throw bad(`shell path ${p} is not absolute`);
    if (host !== undefined && !/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(host)) throw bad(`bad host "${host}"`);
    if (entries.some((e) => e.host === host))
      throw bad(host === undefined ? "more than one path without a host" : `host ${host} named twice`);
    entries.push(host === undefined ? { path: p } : { path: p, host });
  }
  return entries;
}

/**
 * The shell for a job on `host`: the entry naming that host (its short name also matches),
 * else the entry without a host, else undefined (the user's login shell).
 */
export function pickShell(list: string | undefined, host: string): string | undefined {
  if (!list) return undefined;
  const entries = parseShellPathList(list);
  const short = host.split(".")[0];
  const mine = entries.find(
    (e) => e.host !== undefined && (e.host === host || e.host.split(".")[0] === short),
  );
  return (mine ?? entries.find((e) => e.host === undefined))?.path;
}

/** PBS's default job umask: output files and the job's files are private to its user. */
export const DEFAULT_UMASK = 0o077;

/** `-W umask=` value: one to four octal digits, 0 to 0777, as PBS takes it. */
export function parseUmask(text: string): number {
  if (!/^[0-7]{1,4}$/.test(text) || Number.parseInt(text, 8) > 0o777)
    throw new PbsParseError(
      `Illegal attribute or resource value: -W umask=${text} (an octal mask from 0 to 0777)`,
    );
  return Number.parseInt(text, 8);
}

/**
 * `-W` attributes PBS defines whose work this system does not do: refused with the reason, so
 * a job never runs without what its user asked for.
 */
export const REFUSED_W_ATTRIBUTES: Record<string, string> = {
  sandbox:
    "-W sandbox is not supported by metaqueue: jobs run in their owner's home directory (or the submit directory, as the site configures); use $TMPDIR for a private job directory",
};

/**
 * The server's own check of what the API received (any client may send QsubOptions as JSON):
 * the same refusals qsub makes while parsing.
 */
export function checkJobStartOptions(
  o: {
    shell?: string;
    mailPoints?: string;
    mailUsers?: string;
    attributes?: Record<string, string>;
  },
  /** why this site sends no mail (undefined: it has a mailer); see checkMailOptions */
  noMailerReason: string | undefined,
): void {
  if (o.shell !== undefined) parseShellPathList(o.shell);
  checkMailOptions(o, noMailerReason);
  for (const [name, v] of Object.entries(o.attributes ?? {})) {
    const lname = name.toLowerCase();
    if (REFUSED_W_ATTRIBUTES[lname]) throw new PbsParseError(REFUSED_W_ATTRIBUTES[lname]);
    if (lname === "umask") parseUmask(v);
    if (lname === "stagein" || lname === "stageout") parseStageList(v, lname);
  }
}
