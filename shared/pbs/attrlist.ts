/**
 * Splitting of PBS `name=value[,name=value...]` lists (the argument of `-l`, `-W`, `-v`),
 * the way PBS' parse_equal_string does it: commas separate items, except inside quotes.
 */
import { PbsParseError } from "../errors.js";

/**
 * Split `text` on commas that are outside single or double quotes. Quote characters are removed
 * (like the shell does) and a backslash makes the next character literal.
 * Throws on an unterminated quote.
 */
export function splitCommaList(text: string, what: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quote: '"' | "'" | null = null;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (quote) {
      if (ch === quote) quote = null;
      else if (ch === "\\" && quote === '"' && i + 1 < text.length) cur += text[++i];
      else cur += ch;
    } else if (ch === '"' || ch === "'") {
      quote = ch;
    } else if (ch === "\\" && i + 1 < text.length) {
      cur += text[++i];
    } else if (ch === ",") {
      out.push(cur);
      cur = "";
    } else {
      cur += ch;
    }
  }
  if (quote) throw new PbsParseError(`${what}: unterminated ${quote} quote in "${text}"`);
  out.push(cur);
  return out;
}

export interface SplitAttrOptions {
  /** shown in messages, e.g. `illegal -l value` */
  what: string;
  /** the name before `=` must match this */
  namePattern: RegExp;
  /**
   * When true, an item without `name=` continues the previous value (`depend=afterok:1,afterany:2`
   * is one attribute, as in PBS). When false such an item is an error.
   */
  continuation: boolean;
}

/** Split `a=1,b=2` into ordered [name, value] pairs. Values may be empty only if quoted away to "". */
export function splitAttrList(text: string, opts: SplitAttrOptions): [string, string][] {
  if (text.trim() === "") throw new PbsParseError(`${opts.what}: empty value`);
  const pairs: [string, string][] = [];
  for (const raw of splitCommaList(text, opts.what)) {
    const eq = raw.indexOf("=");
    const name = eq >= 0 ? raw.slice(0, eq).trim() : "";
    if (eq >= 0 && opts.namePattern.test(name)) {
      pairs.push([name, raw.slice(eq + 1).trim()]);
    } else if (opts.continuation && pairs.length > 0) {
      const last = pairs[pairs.length - 1];
      last[1] = `${last[1]},${raw.trim()}`;
    } else if (eq >= 0) {
      throw new PbsParseError(`${opts.what}: bad name "${name}" in "${text}"`);
    } else {
      throw new PbsParseError(`${opts.what}: "${raw.trim()}" is not name=value (in "${text}")`);
    }
  }
  return pairs;
}
