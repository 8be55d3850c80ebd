/**
 * Attribute values as the PBS commands print them: ctime(3) dates, Variable_List text, the
 * flattened `name.resource` list of qstat -f, and the column helpers (`*` truncation) of the
 * tables. Shared by the text, wide, DSV and JSON displays.
 */
import type { PbsAttributes, PbsValue } from "../../shared/api/views.js";
import { ctime } from "../../shared/pbs/time.js";

/** OpenPBS CHAR_LINE_LIMIT: where qstat -f wraps and prt_nodes breaks lines. */
export const CHAR_LINE_LIMIT = 78;

/** Attributes whose epoch-seconds values print as ctime(3) strings. */
export const TIME_ATTRS = new Set([
  "ctime",
  "etime",
  "stime",
  "mtime",
  "qtime",
  "obittime",
  "Execution_Time",
  "reserve_start",
  "reserve_end",
  "credential_validity",
  "last_state_change_time",
  "last_used_time",
]);

/** Epoch seconds (or milliseconds, if huge) to ctime(3) without the newline, local time. */
export function ctimeString(epoch: number): string {
  return ctime(epoch > 1e11 ? epoch : epoch * 1000);
}

export function scalar(v: string | number | boolean): string {
  if (typeof v === "boolean") return v ? "True" : "False";
  return String(v);
}

/** The text of one attribute value (time attributes given as numbers become ctime strings). */
export function attrText(name: string, v: string | number | boolean): string {
  if (typeof v === "number" && TIME_ATTRS.has(name)) return ctimeString(v);
  return scalar(v);
}

/** PBS's Variable_List text: `A=1,B=2` with commas inside values escaped. */
export function variableListText(v: PbsValue): string {
  if (typeof v !== "object") return scalar(v);
  return Object.entries(v)
    .map(([k, x]) => `${k}=${String(x).replace(/,/g, "\\,")}`)
    .join(",");
}

/** Flattens attributes as qstat -f lists them: [name, resource?, text]. */
export function flatten(attrs: PbsAttributes): Array<[string, string | undefined, string]> {
  const out: Array<[string, string | undefined, string]> = [];
  for (const [name, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (name === "Variable_List") {
      out.push([name, undefined, variableListText(v)]);
    } else if (typeof v === "object") {
      for (const [res, x] of Object.entries(v)) out.push([name, res, attrText(res, x)]);
    } else {
      out.push([name, undefined, attrText(name, v)]);
    }
  }
  return out;
}

/** Truncate to `len` with `*` as the last character when longer (OpenPBS DISPLAY_TRUNC_CHAR). */
export function trunc(value: string, len: number): string {
  return value.length > len ? `${value.slice(0, len - 1)}*` : value;
}

export function str(attrs: PbsAttributes, name: string): string | undefined {
  const v = attrs[name];
  if (v === undefined || v === null || typeof v === "object") return undefined;
  return scalar(v);
}

export function sub(attrs: PbsAttributes, name: string, res: string): string | undefined {
  const v = attrs[name];
  if (!v || typeof v !== "object") return undefined;
  const x = v[res];
  return x === undefined || x === null ? undefined : String(x);
}

export function ownerUser(attrs: PbsAttributes): string {
  const owner = str(attrs, "Job_Owner") ?? "";
  const at = owner.indexOf("@");
  return at >= 0 ? owner.slice(0, at) : owner;
}

export function queueOnly(attrs: PbsAttributes): string {
  const q = str(attrs, "queue") ?? "";
  const at = q.indexOf("@");
  return at >= 0 ? q.slice(0, at) : q;
}
