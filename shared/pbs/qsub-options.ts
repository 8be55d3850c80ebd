/**
 * qsub options, from the command line and from `#PBS` directives, into QsubOptions.
 *
 * Messages carry no command prefix: the CLI prints `qsub: <message>`.
 */
import { PbsParseError } from "../errors.js";
import { parseArrayRange } from "./array.js";
import { splitAttrList, splitCommaList } from "./attrlist.js";
import { parseDepend } from "./depend.js";
import { parseDestination } from "./jobid.js";
import { parseMailPoints, parseMailUsers } from "./mail.js";
import { parseShellPathList, parseUmask, REFUSED_W_ATTRIBUTES } from "./job-start.js";
import { parseStageList } from "./stage.js";
import { parseResourceList, validateResourceValue } from "./resources.js";
import type { QsubOptions } from "./types.js";

/** Context for the few options that depend on "now" (`-a`). */
export interface QsubContext {
  /** current time, epoch seconds (default: the clock) */
  now?: number;
  /** interpret `-a` times in UTC instead of the runtime's local time zone */
  utc?: boolean;
}

/** Flags that take a value. */
export const QSUB_VALUE_FLAGS = "qNAljoevWprJmMSaPkcuR";
/** Flags without a value. */
export const QSUB_BOOLEAN_FLAGS = "VhzI";

const UNSUPPORTED: Record<string, string> = {
  X: "X11 forwarding (-X) is not supported by metaqueue: use -I for a terminal on the node",
  G: "GUI interactive jobs (-G) are not supported by metaqueue",
  f: "foreground submission (-f) is not supported by metaqueue",
};

const ENV_NAME_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;
const W_NAME_RE = /^[A-Za-z_][A-Za-z0-9_.]*$/;
/** Job names: 1..236 printable ASCII characters, no whitespace, no `@` or `/`. */
export const JOB_NAME_RE = /^[!-.0-?A-~]{1,236}$/;

function need(flag: string, value: string | undefined): string {
  if (value === undefined) throw new PbsParseError(`option requires an argument -- '${flag}'`);
  return value;
}

function nonEmpty(flag: string, value: string, what: string): string {
  if (value.trim() === "") throw new PbsParseError(`illegal -${flag} value: ${what} is empty`);
  if (/[\x00-\x1f\x7f]/.test(value)) {
    throw new PbsParseError(`illegal -${flag} value: ${what} contains control characters`);
  }
  return value;
}

function noSpace(flag: string, value: string, what: string): string {
  nonEmpty(flag, value, what);
  if (/\s/.test(value))
    throw new PbsParseError(`illegal -${flag} value: ${what} "${value}" contains whitespace`);
  return value;
}

/**
 * Parse a `-v` list: `a=1,b,c="x,y"`. Names without `=` go to `fromEnv`. Quotes protect commas and
 * are removed; a later entry for the same name wins.
 */
export function parseVariableList(text: string): { variables: Record<string, string>; fromEnv: string[] } {
  const variables: Record<string, string> = {};
  const fromEnv: string[] = [];
  if (text.trim() === "") throw new PbsParseError("illegal -v value: empty variable list");
  for (const item of splitCommaList(text, "illegal -v value")) {
    const eq = item.indexOf("=");
    const name = (eq < 0 ? item : item.slice(0, eq)).trim();
    if (!ENV_NAME_RE.test(name)) {
      throw new PbsParseError(`illegal -v value: bad variable name "${name}" in "${text}"`);
    }
    const at = fromEnv.indexOf(name);
    if (at >= 0) fromEnv.splice(at, 1);
    delete variables[name];
    if (eq < 0) fromEnv.push(name);
    else variables[name] = item.slice(eq + 1);
  }
  return { variables, fromEnv };
}

/**
 * Parse a `-a` time `[[[[CC]YY]MM]DD]hhmm[.SS]` to epoch seconds, as PBS does: a missing day is
 * today if hhmm is still ahead, else tomorrow; a missing month is this month if that moment is
 * still ahead, else next month; a missing year is this year; YY without CC is 20YY for 00-68 and
 * 19YY for 69-99. Local time unless ctx.utc.
 */
export function parseExecutionTime(text: string, ctx: QsubContext = {}): number {
  const m = /^(\d{4}|\d{6}|\d{8}|\d{10}|\d{12})(?:\.(\d{2}))?$/.exec(text.trim());
  const bad = (why: string) =>
    new PbsParseError(`illegal -a value: "${text}" (${why}; expected [[[[CC]YY]MM]DD]hhmm[.SS])`);
  if (!m) throw bad("bad format");
  const d = m[1];
  const n = d.length;
  const num = (from: number, to: number) => Number(d.slice(from, to));
  const hh = num(n - 4, n - 2);
  const mi = num(n - 2, n);
  const ss = m[2] === undefined ? 0 : Number(m[2]);
  const dd = n >= 6 ? num(n - 6, n - 4) : undefined;
  const mo = n >= 8 ? num(n - 8, n - 6) : undefined;
  let year: number | undefined;
  if (n >= 10) {
    const yy = num(n - 10, n - 8);
    year = n >= 12 ? num(0, 2) * 100 + yy : (yy < 69 ? 2000 : 1900) + yy;
  }
  if (hh > 23 || mi > 59 || ss > 59) throw bad("time of day out of range");
  if (dd !== undefined && (dd < 1 || dd > 31)) throw bad("day out of range");
  if (mo !== undefined && (mo < 1 || mo > 12)) throw bad("month out of range");

  const utc = ctx.utc === true;
  const now = ctx.now ?? Math.floor(Date.now() / 1000);
  const nowDate = new Date(now * 1000);
  const cur = utc
    ? { y: nowDate.getUTCFullYear(), mo: nowDate.getUTCMonth(), d: nowDate.getUTCDate() }
    : { y: nowDate.getFullYear(), mo: nowDate.getMonth(), d: nowDate.getDate() };
  /** epoch seconds, or undefined if the date does not exist (Feb 30). month is 0-based and may overflow. */
  const build = (y: number, month: number, day: number): Date => {
    const dt = utc ? new Date(Date.UTC(2000, 0, 1, hh, mi, ss)) : new Date(2000, 0, 1, hh, mi, ss);
    if (utc) dt.setUTCFullYear(y, month, day);
    else dt.setFullYear(y, month, day);
    return dt;
  };
  /** epoch seconds, or undefined if the day does not exist in that month (Feb 30); month may overflow. */
  const make = (y: number, month: number, day: number): number | undefined => {
    const dt = build(y, month, day);
    const gotDay = utc ? dt.getUTCDate() : dt.getDate();
    return gotDay === day ? Math.floor(dt.getTime() / 1000) : undefined;
  };

  if (mo !== undefined) {
    const t = make(year ?? cur.y, mo - 1, dd!);
    if (t === undefined) throw bad("no such date");
    return t;
  }
  if (dd !== undefined) {
    for (let k = 0; k <= 12; k++) {
      const t = make(cur.y, cur.mo + k, dd);
      if (t !== undefined && t > now) return t;
    }
    throw bad("no such date");
  }
  const today = make(cur.y, cur.mo, cur.d)!;
  return today > now ? today : Math.floor(build(cur.y, cur.mo, cur.d + 1).getTime() / 1000);
}

function clone(o: QsubOptions): QsubOptions {
  const c: QsubOptions = { ...o };
  if (o.resources) c.resources = { ...o.resources };
  if (o.variables) c.variables = { ...o.variables };
  if (o.variablesFromEnv) c.variablesFromEnv = [...o.variablesFromEnv];
  if (o.attributes) c.attributes = { ...o.attributes };
  return c;
}

/**
 * Apply one option (flag letter without the dash) to a copy of `opts`, as both qsub and `#PBS`
 * accept it. `-l`, `-v` and `-W` merge per key (the later value wins). Extra PBS flags stored as
 * attributes: `-k` Keep_Files, `-c` Checkpoint, `-u` User_List, `-R` Remove_Files.
 */
export function applyQsubOption(
  opts: QsubOptions,
  flag: string,
  value: string | undefined,
  ctx: QsubContext = {},
): QsubOptions {
  if (UNSUPPORTED[flag]) throw new PbsParseError(UNSUPPORTED[flag]);
  if (flag.length !== 1 || !(QSUB_VALUE_FLAGS + QSUB_BOOLEAN_FLAGS).includes(flag)) {
    throw new PbsParseError(`invalid option -- '${flag}'`);
  }
  if (QSUB_BOOLEAN_FLAGS.includes(flag) && value !== undefined) {
    throw new PbsParseError(`option -${flag} takes no value`);
  }
  const o = clone(opts);
  const attr = (name: string, v: string) => {
    o.attributes = { ...o.attributes, [name]: v };
  };
  switch (flag) {
    case "V":
      o.exportEnv = true;
      break;
    case "h":
      o.hold = true;
      break;
    case "z":
      o.quiet = true;
      break;
    case "I":
      o.interactive = true;
      break;
    case "q": {
      const v = need(flag, value).trim();
      try {
        parseDestination(v);
      } catch (e) {
        throw new PbsParseError(`illegal -q value: ${(e as Error).message}`);
      }
      o.queue = v;
      break;
    }
    case "N": {
      const v = need(flag, value);
      if (!JOB_NAME_RE.test(v)) {
        throw new PbsParseError(
          `illegal -N value: "${v}" (a job name is 1-236 printable characters without whitespace, '@' or '/')`,
        );
      }
      o.name = v;
      break;
    }
    case "A":
      o.account = nonEmpty(flag, need(flag, value), "account");
      break;
    case "P":
      o.project = noSpace(flag, need(flag, value), "project");
      break;
    case "l": {
      const list = parseResourceList(need(flag, value));
      for (const [k, v] of Object.entries(list)) validateResourceValue(k, v);
      o.resources = { ...o.resources, ...list };
      break;
    }
    case "j": {
      const v = need(flag, value);
      if (v !== "oe" && v !== "eo" && v !== "n") {
        throw new PbsParseError(`illegal -j value: "${v}" (expected oe, eo or n)`);
      }
      o.join = v;
      break;
    }
    case "o":
      o.outputPath = noSpace(flag, need(flag, value), "output path");
      break;
    case "e":
      o.errorPath = noSpace(flag, need(flag, value), "error path");
      break;
    case "v": {
      const { variables, fromEnv } = parseVariableList(need(flag, value));
      const vars = { ...o.variables };
      let env = [...(o.variablesFromEnv ?? [])];
      for (const [k, v] of Object.entries(variables)) {
        vars[k] = v;
        env = env.filter((x) => x !== k);
      }
      for (const k of fromEnv) {
        delete vars[k];
        if (!env.includes(k)) env.push(k);
      }
      o.variables = vars;
      o.variablesFromEnv = env;
      if (Object.keys(vars).length === 0) delete o.variables;
      if (env.length === 0) delete o.variablesFromEnv;
      break;
    }
    case "W": {
      const pairs = splitAttrList(need(flag, value), {
        what: "illegal -W value",
        namePattern: W_NAME_RE,
        continuation: true,
      });
      for (const [name, v] of pairs) {
        if (v === "")
          throw new PbsParseError(`Illegal attribute or resource value: -W ${name} has an empty value`);
        const lname = name.toLowerCase();
        if (lname === "depend") {
          parseDepend(v);
          o.depend = v;
        } else if (lname === "block") {
          // qsub waits for the job's end and exits with its status (the client does it: block.ts)
          if (/^(true|t|y|yes|1)$/i.test(v)) o.block = true;
          else if (/^(false|f|n|no|0)$/i.test(v)) o.block = false;
          else {
            throw new PbsParseError(
              `Illegal attribute or resource value: -W block=${v} (expected true or false)`,
            );
          }
        } else if (lname === "interactive") {
          // only -I makes a job interactive: it is what gets the submitter the session's secret
          throw new PbsParseError(
            "-W interactive is not a settable attribute: use -I for an interactive job",
          );
        } else if (REFUSED_W_ATTRIBUTES[lname]) {
          throw new PbsParseError(REFUSED_W_ATTRIBUTES[lname]);
        } else if (lname === "stagein" || lname === "stageout") {
          // stored under PBS's own (lower-case) name: qstat -f shows stagein/stageout
          parseStageList(v, lname);
          attr(lname, v);
        } else if (lname === "umask") {
          parseUmask(v);
          attr("umask", v);
        } else {
          attr(name, v);
        }
      }
      break;
    }
    case "p": {
      const v = need(flag, value).trim();
      const n = Number(v);
      if (!/^[+-]?\d+$/.test(v) || n < -1024 || n > 1023) {
        throw new PbsParseError(`illegal -p value: "${v}" (priority is an integer from -1024 to 1023)`);
      }
      o.priority = n;
      break;
    }
    case "r": {
      const v = need(flag, value);
      if (v !== "y" && v !== "n") throw new PbsParseError(`illegal -r value: "${v}" (expected y or n)`);
      o.rerunnable = v === "y";
      break;
    }
    case "J": {
      const v = need(flag, value).trim();
      parseArrayRange(v);
      o.arrayRange = v;
      break;
    }
    case "m": {
      // syntax only: whether the site can send mail is the server's to say (checkMailOptions)
      o.mailPoints = parseMailPoints(need(flag, value));
      break;
    }
    case "M": {
      const v = noSpace(flag, need(flag, value), "mail user list");
      parseMailUsers(v);
      o.mailUsers = v;
      break;
    }
    case "S":
      o.shell = noSpace(flag, need(flag, value), "shell path list");
      parseShellPathList(o.shell);
      break;
    case "a":
      o.executionTime = parseExecutionTime(need(flag, value), ctx);
      break;
    case "k": {
      const v = need(flag, value);
      if (!/^(n|[oed]+)$/.test(v) || new Set(v).size !== v.length) {
        throw new PbsParseError(`illegal -k value: "${v}" (use any of o, e, d, or n)`);
      }
      attr("Keep_Files", v);
      break;
    }
    case "c":
      attr("Checkpoint", noSpace(flag, need(flag, value), "checkpoint"));
      break;
    case "u":
      attr("User_List", noSpace(flag, need(flag, value), "user list"));
      break;
    case "R": {
      const v = need(flag, value);
      if (!/^[oe]{1,2}$/.test(v) || new Set(v).size !== v.length) {
        throw new PbsParseError(`illegal -R value: "${v}" (expected o, e or oe)`);
      }
      attr("Remove_Files", v);
      break;
    }
  }
  return o;
}

/**
 * What PBS refuses together with `-I` (qsub.c): an interactive job is one terminal session, so
 * it is neither an array nor a job qsub waits for the end of in batch (`-W block=true`).
 * Checked on the merged options (a `#PBS -I` directive counts), by qsub and by the server.
 */
export function checkInteractive(o: QsubOptions): void {
  if (!o.interactive) return;
  if (o.block) throw new PbsParseError("-W block=true cannot be used with an interactive job (-I)");
  if (o.arrayRange !== undefined)
    throw new PbsParseError(
      "-J cannot be used with an interactive job (-I): array jobs cannot be interactive",
    );
}

/**
 * Shell-like word splitting of the text after `#PBS`: whitespace separates words, single quotes
 * are literal, double quotes allow `\"` and `\\`, a backslash outside quotes escapes the next
 * character, and a `#` starting a word begins a comment that ends the directive.
 * Throws PbsParseError only for an unterminated quote.
 */
export function tokenizeDirective(line: string): string[] {
  const words: string[] = [];
  let cur = "";
  let inWord = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i];
    if (ch === " " || ch === "\t" || ch === "\n" || ch === "\r" || ch === "\v" || ch === "\f") {
      if (inWord) words.push(cur);
      cur = "";
      inWord = false;
    } else if (ch === "#" && !inWord) {
      break;
    } else if (ch === "'") {
      const end = line.indexOf("'", i + 1);
      if (end < 0) throw new PbsParseError(`unterminated ' quote in: ${line.trim()}`);
      cur += line.slice(i + 1, end);
      i = end;
      inWord = true;
    } else if (ch === '"') {
      let j = i + 1;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === "\\" && (line[j + 1] === '"' || line[j + 1] === "\\")) j++;
        cur += line[j];
      }
      if (j >= line.length) throw new PbsParseError(`unterminated " quote in: ${line.trim()}`);
      i = j;
      inWord = true;
    } else if (ch === "\\") {
      if (i + 1 < line.length) cur += line[++i];
      else cur += ch;
      inWord = true;
    } else {
      cur += ch;
      inWord = true;
    }
  }
  if (inWord) words.push(cur);
  return words;
}

interface OptionScan {
  options: QsubOptions;
  operands: string[];
  command?: string[];
  directivePrefix?: string;
}

/** getopt-like scan shared by the command line and directives. */
function scanOptions(
  tokens: string[],
  mode: "argv" | "directive",
  ctx: QsubContext,
  start: QsubOptions,
): OptionScan {
  const scan: OptionScan = { options: start, operands: [] };
  for (let i = 0; i < tokens.length; i++) {
    const tok = tokens[i];
    if (tok === "--") {
      if (mode === "directive") throw new PbsParseError("'--' is not allowed in a directive");
      scan.command = tokens.slice(i + 1);
      break;
    }
    if (tok.startsWith("--")) throw new PbsParseError(`invalid option -- '${tok}'`);
    if (!tok.startsWith("-") || tok === "-") {
      if (mode === "directive") {
        throw new PbsParseError(`unexpected argument "${tok}" (options must start with '-')`);
      }
      scan.operands.push(tok);
      continue;
    }
    for (let j = 1; j < tok.length; j++) {
      const flag = tok[j];
      const takesValue = QSUB_VALUE_FLAGS.includes(flag) || flag === "C";
      if (!takesValue) {
        scan.options = applyQsubOption(scan.options, flag, undefined, ctx);
        continue;
      }
      let value: string | undefined;
      if (j + 1 < tok.length) value = tok.slice(j + 1);
      else if (i + 1 < tokens.length) value = tokens[++i];
      if (flag === "C") {
        if (mode === "directive") throw new PbsParseError("-C is only allowed on the command line");
        scan.directivePrefix = need(flag, value);
      } else {
        scan.options = applyQsubOption(scan.options, flag, need(flag, value), ctx);
      }
      break;
    }
  }
  return scan;
}

/**
 * Read the `#PBS` directives at the top of a script. Scanning stops at the first line that is not
 * blank, not a comment (`#...`, including `#!`) and not a directive. Leading whitespace before the
 * prefix is allowed; the prefix must be followed by whitespace or the end of the line. Each
 * directive line holds one or more options. An empty prefix disables directives (qsub -C "").
 * Errors: `directive error: line N: <why>` (N is 1-based).
 */
export function parseDirectives(script: string, prefix = "#PBS", ctx: QsubContext = {}): QsubOptions {
  let options: QsubOptions = {};
  if (prefix === "") return options;
  const lines = script.split("\n");
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].replace(/\r$/, "").replace(/^\s+/, "");
    if (line === "") continue;
    const rest = line.slice(prefix.length);
    if (line.startsWith(prefix) && (rest === "" || /^\s/.test(rest))) {
      try {
        options = scanOptions(tokenizeDirective(rest), "directive", ctx, options).options;
      } catch (e) {
        if (e instanceof PbsParseError)
          throw new PbsParseError(`directive error: line ${n + 1}: ${e.message}`);
        throw e;
      }
      continue;
    }
    if (line.startsWith("#")) continue;
    break;
  }
  return options;
}

/**
 * Parse qsub's arguments (without `qsub` itself), getopt-style: `-N name`, `-Nname`, grouped flags
 * (`-hz`, `-zN name`), options may also follow the script (GNU getopt permutes), `--` ends options
 * and what follows is the executable and its arguments. At most one script operand, and not both a
 * script and `-- command`. `-C prefix` sets the directive prefix (returned as `directivePrefix`).
 */
export function parseQsubArgv(
  args: string[],
  ctx: QsubContext = {},
): { options: QsubOptions; script?: string; command?: string[]; directivePrefix?: string } {
  const scan = scanOptions(args, "argv", ctx, {});
  if (scan.operands.length > 1) {
    throw new PbsParseError(
      `too many arguments: ${scan.operands.join(" ")} (give one script, or -- executable [args])`,
    );
  }
  const out: { options: QsubOptions; script?: string; command?: string[]; directivePrefix?: string } = {
    options: scan.options,
  };
  if (scan.command !== undefined) {
    if (scan.command.length === 0) throw new PbsParseError("'--' must be followed by an executable");
    if (scan.operands.length > 0) {
      throw new PbsParseError(`a script (${scan.operands[0]}) and '-- executable' cannot be given together`);
    }
    out.command = scan.command;
  }
  if (scan.operands.length === 1) out.script = scan.operands[0];
  if (scan.directivePrefix !== undefined) out.directivePrefix = scan.directivePrefix;
  return out;
}

/**
 * Merge directive options with command-line options: the command line wins per option, and per key
 * for `resources`, `variables`/`variablesFromEnv` and `attributes`.
 */
export function mergeOptions(fromDirectives: QsubOptions, fromCommandLine: QsubOptions): QsubOptions {
  const d = fromDirectives;
  const c = fromCommandLine;
  const out: QsubOptions = { ...d };
  for (const [k, v] of Object.entries(c)) {
    if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  }
  if (d.resources || c.resources) out.resources = { ...d.resources, ...c.resources };
  if (d.attributes || c.attributes) out.attributes = { ...d.attributes, ...c.attributes };
  const cmdNames = new Set([...Object.keys(c.variables ?? {}), ...(c.variablesFromEnv ?? [])]);
  const vars: Record<string, string> = {};
  for (const [k, v] of Object.entries(d.variables ?? {})) if (!cmdNames.has(k)) vars[k] = v;
  Object.assign(vars, c.variables);
  const env = [...(d.variablesFromEnv ?? []).filter((k) => !cmdNames.has(k)), ...(c.variablesFromEnv ?? [])];
  delete out.variables;
  delete out.variablesFromEnv;
  if (Object.keys(vars).length > 0) out.variables = vars;
  if (env.length > 0) out.variablesFromEnv = env;
  return out;
}
