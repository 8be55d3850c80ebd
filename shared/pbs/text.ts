/**
 * Free text a user gives (job names, accounts, paths, comments, qmgr values) reaches other
 * users' screens through qstat, tracejob and the logs. A newline in it forges a line there, an
 * escape sequence drives their terminal (issue 10: a job name with a newline forged a tracejob
 * line). PBS takes only printable characters in names; here every such field refuses control
 * characters: C0 (newline, CR, tab, ESC...), DEL, C1, and the Unicode line/paragraph
 * separators and bidirectional overrides that reorder what a terminal shows.
 */
import { PbsParseError } from "../errors.js";

const CONTROL_RE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** The first control character in `s` as `U+000A at 6` (1-based), or undefined. */
export function findControl(s: string): string | undefined {
  const m = CONTROL_RE.exec(s);
  if (!m) return undefined;
  const cp = (m[0].codePointAt(0) ?? 0).toString(16).toUpperCase().padStart(4, "0");
  return `U+${cp} at ${m.index + 1}`;
}

export function hasControl(s: string): boolean {
  return CONTROL_RE.test(s);
}

/**
 * `value`, or a PbsParseError in qsub's words: `illegal -N value: job name contains a control
 * character (U+000A at 6)`. `what` names the option or attribute.
 */
export function checkText(what: string, value: string): string {
  const at = findControl(value);
  if (at) throw new PbsParseError(`illegal ${what} value: contains a control character (${at})`);
  return value;
}

/** For display: control characters as `\n`, `\t` or `\xNN`/`\uNNNN`, so nothing can forge a line. */
export function escapeControls(s: string): string {
  if (!hasControl(s)) return s;
  return s.replace(new RegExp(CONTROL_RE.source, "g"), (c) => {
    if (c === "\n") return "\\n";
    if (c === "\r") return "\\r";
    if (c === "\t") return "\\t";
    const n = c.codePointAt(0) ?? 0;
    return n <= 0xff ? `\\x${n.toString(16).padStart(2, "0")}` : `\\u${n.toString(16).padStart(4, "0")}`;
  });
}
