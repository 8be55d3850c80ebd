/**
 * Checks the server applies to what a request carries, whoever built it: the CLI parses its
 * options with shared/pbs, but the API takes QsubOptions as JSON from any client, so the same
 * rules run again on the server (a name with a newline must never reach a job record).
 */
import { PbsParseError } from "../errors.js";
import { JOB_NAME_RE } from "./qsub-options.js";
import { checkText, findControl } from "./text.js";
import type { QsubOptions } from "./types.js";

/** The text fields of QsubOptions and the qsub option each comes from (for the message). */
const TEXT_FIELDS: [keyof QsubOptions, string][] = [
  ["queue", "-q"],
  ["account", "-A"],
  ["project", "-P"],
  ["outputPath", "-o"],
  ["errorPath", "-e"],
  ["depend", "-W depend"],
  ["arrayRange", "-J"],
  ["mailPoints", "-m"],
  ["mailUsers", "-M"],
  ["shell", "-S"],
];

/**
 * Refuse control characters in every free-text option, and a job name PBS would refuse.
 * Variable values (-v, -V) are the one exception: an environment may hold newlines (exported
 * shell functions), they are passed to the job as they are, and qstat escapes them.
 */
export function validateQsubOptions(o: QsubOptions): void {
  if (o.name !== undefined) checkJobName(o.name, "-N");
  for (const [field, flag] of TEXT_FIELDS) {
    const v = o[field];
    if (typeof v === "string") checkText(flag, v);
  }
  for (const [k, v] of Object.entries(o.resources ?? {})) checkText(`-l ${k}`, v);
  for (const [k, v] of Object.entries(o.attributes ?? {})) checkText(`-W ${k}`, v);
  for (const k of Object.keys(o.variables ?? {})) checkText("-v", k);
}

/**
 * PBS job names (check_job_name): printable, no whitespace; here also no `@` or `/`. `what`
 * is the option (`-N`) or where the name came from.
 */
export function checkJobName(name: string, what: string): string {
  checkText(what, name);
  if (!JOB_NAME_RE.test(name))
    throw new PbsParseError(
      `illegal ${what} value: "${name}" (a job name is 1-236 printable characters without whitespace, '@' or '/')`,
    );
  return name;
}

/**
 * Whether a script has anything to run: a line that is not blank, not a comment (`#!` and
 * `#PBS` directives included). OpenPBS itself accepts an empty script and queues a job that
 * does nothing; here it is refused at submit, because it is always a mistake (an empty pipe, a
 * file not yet written) and the job would only take a slot and leave two empty files.
 */
export function scriptHasCommands(script: string): boolean {
  for (const raw of script.split("\n")) {
    const line = raw.trim();
    if (line !== "" && !line.startsWith("#")) return true;
  }
  return false;
}

/** Why a script cannot be submitted, in qsub's words, or undefined. */
export function emptyScriptReason(script: string): string | undefined {
  if (script.trim() === "") return "script file is empty";
  if (!scriptHasCommands(script))
    return "script has no commands to run (only blank lines, comments and #PBS directives)";
  return undefined;
}

/** Any other free text from a request (submit host, script name, comments): no control characters. */
export function checkFreeText(what: string, value: string): string {
  const at = findControl(value);
  if (at) throw new PbsParseError(`illegal ${what}: contains a control character (${at})`);
  return value;
}
