/**
 * The qmgr command grammar:
 *   verb object [name[,name...]] [attr op value[, attr op value...]]   (create, set)
 *   verb object [name[,name...]] [attr[, attr...]]                     (unset, list, print)
 *   delete object name[,name...]
 * Verbs: create|c, delete|d, set|s, unset|u, list|l, print|p.
 * Objects: server|s, queue|q, node|n, sched, resource|r.
 * Operators: `=`, `+=`, `-=`. Values containing spaces or commas must be quoted ("a b" or 'a b').
 *
 * Names vs attributes: for set/create a word followed by an operator is an attribute (so
 * `set server scheduling = true` has no names). For unset on server/sched a single group of words
 * is the attribute list (`unset server default_queue`); with two groups the first is the names.
 * For list/print a single group is the names (`list queue workq`).
 *
 * Messages carry no command prefix: the CLI prints `qmgr: <message>`.
 */
import { findControl } from "./text.js";
import { PbsParseError } from "../errors.js";
import { QUEUE_NAME_RE, SERVER_NAME_RE } from "./jobid.js";
import { RESOURCE_NAME_RE } from "./select.js";

export type QmgrVerb = "create" | "delete" | "set" | "unset" | "list" | "print";
export type QmgrObjectType = "server" | "queue" | "node" | "sched" | "resource" | "project";
export type QmgrOp = "=" | "+=" | "-=";

export interface QmgrAttr {
  name: string;
  op: QmgrOp;
  /** unquoted value; "" for unset/list/print */
  value: string;
}

export interface QmgrCommand {
  verb: QmgrVerb;
  objectType: QmgrObjectType;
  /** object names as written (may include `@server`); empty = the default server / all objects */
  names: string[];
  attrs: QmgrAttr[];
}

const VERBS: Record<string, QmgrVerb> = {
  create: "create",
  c: "create",
  delete: "delete",
  d: "delete",
  set: "set",
  s: "set",
  unset: "unset",
  u: "unset",
  list: "list",
  l: "list",
  print: "print",
  p: "print",
};
const UNSUPPORTED_VERBS = new Set([
  "active",
  "a",
  "help",
  "h",
  "quit",
  "q",
  "exit",
  "import",
  "export",
  "i",
  "e",
]);

const OBJECTS: Record<string, QmgrObjectType> = {
  server: "server",
  s: "server",
  queue: "queue",
  q: "queue",
  node: "node",
  n: "node",
  sched: "sched",
  resource: "resource",
  r: "resource",
  /** metaqueue: a project's allocation at this site (`set project P1 allocation = 1000`) */
  project: "project",
};
const UNSUPPORTED_OBJECTS = new Set(["hook", "h", "pbshook", "p"]);

const ATTR_NAME_RE = /[A-Za-z_][A-Za-z0-9_.]*/y;
const OBJ_NAME_RE = /[A-Za-z0-9_.@[\]-]+/y;
const OP_RE = /\+=|-=|=/y;
const NODE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.[\]-]*$/;

class Cursor {
  i = 0;
  constructor(readonly s: string) {}
  ws(): void {
    while (this.i < this.s.length && /\s/.test(this.s[this.i])) this.i++;
  }
  eof(): boolean {
    this.ws();
    return this.i >= this.s.length;
  }
  match(re: RegExp): string | undefined {
    re.lastIndex = this.i;
    const m = re.exec(this.s);
    if (!m) return undefined;
    this.i += m[0].length;
    return m[0];
  }
  peekChar(): string {
    return this.s[this.i] ?? "";
  }
  rest(): string {
    return this.s.slice(this.i);
  }
}

function syntax(detail: string): PbsParseError {
  return new PbsParseError(`Syntax error: ${detail}`);
}

/** word(,word)* using the given pattern; whitespace is allowed around the commas. */
function group(c: Cursor, re: RegExp, what: string): string[] {
  const out: string[] = [];
  for (;;) {
    c.ws();
    const w = c.match(re);
    if (w === undefined) throw syntax(`expected ${what} at "${c.rest() || "end of line"}"`);
    out.push(w);
    const save = c.i;
    c.ws();
    if (c.peekChar() === ",") {
      c.i++;
      continue;
    }
    c.i = save;
    return out;
  }
}

function readValue(c: Cursor, name: string): string {
  const v = readRawValue(c, name);
  // a value is shown by qmgr print, pbsnodes and qstat: a control character would forge lines there
  const at = findControl(v);
  if (at) throw syntax(`illegal value for ${name}: contains a control character (${at})`);
  return v;
}

function readRawValue(c: Cursor, name: string): string {
  c.ws();
  const q = c.peekChar();
  if (q === '"' || q === "'") {
    const end = c.s.indexOf(q, c.i + 1);
    if (end < 0) throw syntax(`unterminated ${q} quote in the value of ${name}`);
    const v = c.s.slice(c.i + 1, end);
    c.i = end + 1;
    return v;
  }
  const start = c.i;
  while (c.i < c.s.length && !/[\s,]/.test(c.s[c.i])) c.i++;
  const v = c.s.slice(start, c.i);
  if (v === "") throw syntax(`missing value for ${name}`);
  return v;
}

function attrAssignments(c: Cursor): QmgrAttr[] {
  const attrs: QmgrAttr[] = [];
  for (;;) {
    c.ws();
    const name = c.match(ATTR_NAME_RE);
    if (name === undefined) throw syntax(`expected an attribute name at "${c.rest() || "end of line"}"`);
    c.ws();
    const op = c.match(OP_RE) as QmgrOp | undefined;
    if (op === undefined) throw syntax(`expected =, += or -= after ${name}`);
    attrs.push({ name, op, value: readValue(c, name) });
    c.ws();
    if (c.i >= c.s.length) return attrs;
    if (c.peekChar() !== ",")
      throw syntax(`unexpected "${c.rest()}" after ${name} (quote values with spaces)`);
    c.i++;
  }
}

function validateNames(objectType: QmgrObjectType, names: string[]): void {
  for (const full of names) {
    const at = full.indexOf("@");
    const base = at < 0 ? full : full.slice(0, at);
    const server = at < 0 ? undefined : full.slice(at + 1);
    if (server !== undefined && server !== "default" && !SERVER_NAME_RE.test(server)) {
      throw new PbsParseError(`Illegal object name: ${full}`);
    }
    const ok =
      objectType === "queue"
        ? QUEUE_NAME_RE.test(base)
        : objectType === "resource"
          ? RESOURCE_NAME_RE.test(base)
          : objectType === "server"
            ? base === "" || SERVER_NAME_RE.test(base)
            : NODE_NAME_RE.test(base);
    if (!ok) throw new PbsParseError(`Illegal ${objectType} name: ${full}`);
  }
}

/** Parse one qmgr command. Throws PbsParseError (`Syntax error: ...`, `Illegal object type: ...`). */
export function parseQmgr(command: string): QmgrCommand {
  const c = new Cursor(command.trim());
  if (c.eof()) throw syntax("empty command");
  const verbWord = c.match(/[A-Za-z]+/y);
  if (verbWord === undefined) throw syntax(`expected a command at "${c.rest()}"`);
  const verb = VERBS[verbWord.toLowerCase()];
  if (!verb) {
    if (UNSUPPORTED_VERBS.has(verbWord.toLowerCase())) {
      throw new PbsParseError(
        `Unsupported command: ${verbWord} (use create, delete, set, unset, list or print)`,
      );
    }
    throw new PbsParseError(`Illegal operation: ${verbWord} (use create, delete, set, unset, list or print)`);
  }
  c.ws();
  const objWord = c.match(/[A-Za-z]+/y);
  if (objWord === undefined)
    throw syntax(`${verb} needs an object type (server, queue, node, sched, resource)`);
  const objectType = OBJECTS[objWord.toLowerCase()];
  if (!objectType) {
    if (UNSUPPORTED_OBJECTS.has(objWord.toLowerCase()))
      throw new PbsParseError(`Unsupported object type: ${objWord}`);
    throw new PbsParseError(`Illegal object type: ${objWord} (use server, queue, node, sched or resource)`);
  }
  const next = c.peekChar();
  if (next !== "" && !/\s/.test(next)) throw syntax(`unexpected "${c.rest()}" after ${objWord}`);

  const cmd: QmgrCommand = { verb, objectType, names: [], attrs: [] };
  const needsName =
    objectType === "queue" || objectType === "node" || objectType === "resource" || objectType === "project";

  if (verb === "create" || verb === "delete") {
    if (objectType === "server") throw new PbsParseError(`Operation not permitted: cannot ${verb} a server`);
    if (c.eof()) throw syntax(`${verb} ${objectType} needs a name`);
    cmd.names = group(c, OBJ_NAME_RE, `a ${objectType} name`);
    if (verb === "create" && !c.eof()) cmd.attrs = attrAssignments(c);
    if (verb === "delete" && !c.eof()) throw syntax(`unexpected "${c.rest()}" after the names`);
  } else if (verb === "set") {
    if (c.eof()) throw syntax("set needs attribute = value");
    const save = c.i;
    c.ws();
    let isAttr = c.match(ATTR_NAME_RE) !== undefined;
    if (isAttr) {
      c.ws();
      isAttr = c.match(OP_RE) !== undefined;
    }
    c.i = save;
    if (!isAttr) cmd.names = group(c, OBJ_NAME_RE, `a ${objectType} name`);
    if (c.eof()) throw syntax("set needs attribute = value");
    cmd.attrs = attrAssignments(c);
  } else {
    // unset, list, print
    if (!c.eof()) {
      const first = group(c, OBJ_NAME_RE, "a name");
      if (c.eof()) {
        if (verb === "unset" && !needsName) {
          cmd.attrs = first.map((name) => ({ name, op: "=", value: "" }));
        } else {
          cmd.names = first;
        }
      } else {
        cmd.names = first;
        cmd.attrs = group(c, ATTR_NAME_RE, "an attribute name").map((name) => ({ name, op: "=", value: "" }));
        if (!c.eof()) throw syntax(`unexpected "${c.rest()}"`);
      }
    }
    if (verb === "unset" && cmd.attrs.length === 0) throw syntax("unset needs attribute names");
  }

  if (needsName && cmd.names.length === 0 && (verb === "set" || verb === "unset")) {
    throw syntax(`${verb} ${objectType} needs a ${objectType} name`);
  }
  for (const a of cmd.attrs) {
    if (!/^[A-Za-z_][A-Za-z0-9_.]*$/.test(a.name)) throw syntax(`bad attribute name "${a.name}"`);
  }
  validateNames(objectType, cmd.names);
  return cmd;
}

/**
 * Parse several qmgr commands, one per line; blank lines and `#` comment lines are skipped.
 * Errors are prefixed with `line N: `.
 */
export function parseQmgrScript(text: string): QmgrCommand[] {
  const out: QmgrCommand[] = [];
  const lines = text.split("\n");
  for (let n = 0; n < lines.length; n++) {
    const line = lines[n].replace(/\r$/, "").trim();
    if (line === "" || line.startsWith("#")) continue;
    try {
      out.push(parseQmgr(line));
    } catch (e) {
      if (e instanceof PbsParseError) throw new PbsParseError(`line ${n + 1}: ${e.message}`);
      throw e;
    }
  }
  return out;
}
