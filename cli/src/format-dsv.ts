/**
 * `qstat -f -F dsv [-D delim]`: one line per object, `Job Id: <id>` then `name[.resource]=value`
 * items, all separated by the delimiter (`|` by default). Values are escaped as OpenPBS qstat's
 * prt_attr does for DSV: escape_delimiter(), then convert_feed_chars(), then
 * show_nonprint_chars(), so a value can neither split an item nor forge a line.
 */
import { escapeControls } from "../../shared/pbs/text.js";
import type { PbsAttributes } from "../../shared/api/views.js";
import { flatten } from "./attr-text.js";

/** OpenPBS's default DSV delimiter. */
export const DSV_DELIMITER = "|";

/** PBS's ESC_CHAR (pbs_internal.h) and the characters a backslash may already escape (ISESCAPED). */
const ESC = "\\";
const ESCAPABLE = "'\",";

/**
 * OpenPBS escape_delimiter(): every delimiter in `value` gets a backslash before it, and so does
 * every backslash that does not already escape a quote or a comma (Variable_List's `\,` stays).
 */
export function escapeDelimiter(value: string, delim: string): string {
  if (value === "" || delim === "") return value;
  let out = "";
  let i = 0;
  while (i < value.length) {
    const ch = value[i];
    const next = value[i + 1];
    const escapesNext = next !== undefined && ESCAPABLE.includes(next);
    if ((ch === ESC && !escapesNext) || (delim.length === 1 && ch === delim)) {
      out += ESC + ch;
      i++;
    } else if (value.startsWith(delim, i)) {
      out += ESC + delim;
      i += delim.length;
    } else {
      out += ch;
      i++;
    }
  }
  return out;
}

/**
 * OpenPBS convert_feed_chars() then show_nonprint_chars(): newline and form feed as `\n` and
 * `\f`, other C0 characters but tab as `^X`. Whatever control character is left after that (tab,
 * DEL, C1, Unicode separators: refused at input, but older records may hold one) is escaped as
 * everywhere else in the commands, so nothing drives the terminal.
 */
export function dsvText(value: string): string {
  const fed = value.replace(/\n/g, "\\n").replace(/\f/g, "\\f");
  const shown = fed.replace(
    /[\u0000-\u0008\u000a-\u001f]/g,
    (c) => `^${String.fromCharCode(c.charCodeAt(0) + 64)}`,
  );
  return escapeControls(shown);
}

/** One DSV line: `<title><d>name=value<d>name.res=value...` and a newline. */
export function dsvLine(title: string, attrs: PbsAttributes, delim: string): string {
  const items = flatten(attrs).map(([name, res, text]) => {
    const key = res === undefined ? name : `${name}.${res}`;
    return `${key}=${dsvText(escapeDelimiter(text, delim))}`;
  });
  return `${title}${delim}${items.join(delim)}\n`;
}

/** `qstat -f -F dsv`: a line per job. */
export function qstatDsv(jobs: Array<{ id: string; attributes: PbsAttributes }>, delim: string): string {
  return jobs.map((j) => dsvLine(`Job Id: ${j.id}`, j.attributes, delim)).join("");
}

/** `qstat -Qf -F dsv` */
export function queueDsv(queues: Array<{ name: string; attributes: PbsAttributes }>, delim: string): string {
  return queues.map((q) => dsvLine(`Queue: ${q.name}`, q.attributes, delim)).join("");
}

/** `qstat -Bf -F dsv` */
export function serverDsv(
  servers: Array<{ name: string; attributes: PbsAttributes }>,
  delim: string,
): string {
  return servers.map((s) => dsvLine(`Server: ${s.name}`, s.attributes, delim)).join("");
}
