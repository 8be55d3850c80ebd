/**
 * The JSON type of each attribute in `qstat -f -F json`, as OpenPBS gives it. OpenPBS's qstat
 * (prt_attr, FORMAT_JSON) hands every value text to pbs_json_insert_parsed(): text that parses
 * as JSON on its own (cJSON_ParseWithOpts, whole string) becomes that value, so `8` is the
 * number 8, and anything else stays a string (`01:00:00`, `4gb`, `True`, ctime dates). Job_Name,
 * project and Account_Name are always strings (batch_item_json_type_triage); Variable_List
 * becomes an object whose values are parsed the same way.
 */
import type { PbsAttributes } from "../../shared/api/views.js";
import { attrText, scalar } from "./attr-text.js";

export type JsonValue = string | number | boolean | null | JsonValue[] | { [k: string]: JsonValue };

/** Attributes OpenPBS always prints as strings, whatever their text looks like. */
const STRING_ATTRS = new Set(["Job_Name", "project", "Account_Name"]);

/**
 * What cJSON's number parser takes as a whole value: a '-' or a digit first, then what strtod
 * reads as a decimal number. cJSON reads `007` as 7, where JSON.parse refuses it.
 */
const CJSON_NUMBER = /^-?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** cJSON skips every byte up to and including space around a value. */
const CJSON_SPACE = /^[\u0000-\u0020]+|[\u0000-\u0020]+$/g;

/** pbs_json_insert_parsed(): the JSON value `text` is on its own, else the string itself. */
export function parsedJsonValue(text: string): JsonValue {
  const t = text.replace(CJSON_SPACE, "");
  if (t === "") return text;
  const c = t[0];
  if (c === "-" || (c >= "0" && c <= "9")) {
    if (!CJSON_NUMBER.test(t)) return text;
    const n = Number(t);
    // cJSON prints what does not fit a double as a string would overflow: keep the text
    return Number.isFinite(n) ? n : text;
  }
  try {
    return JSON.parse(t) as JsonValue;
  } catch {
    return text;
  }
}

/** One attribute's value as qstat -F json prints it (time attributes as ctime strings). */
function typed(name: string, v: string | number | boolean): JsonValue {
  const text = attrText(name, v);
  if (STRING_ATTRS.has(name)) return text;
  // values the server sends as numbers are numbers in PBS's output too (their text parses)
  if (typeof v === "number" && text === String(v)) return v;
  return parsedJsonValue(text);
}

/** An attribute map with OpenPBS's JSON types. */
export function jsonTypedAttrs(attrs: PbsAttributes): Record<string, JsonValue> {
  const out: Record<string, JsonValue> = {};
  for (const [name, v] of Object.entries(attrs)) {
    if (v === undefined || v === null) continue;
    if (typeof v === "object") {
      const inner: Record<string, JsonValue> = {};
      // Variable_List's values are parsed like resources' (PBS splits `A=1,B=x` into an object)
      for (const [k, x] of Object.entries(v)) {
        if (x === undefined || x === null) continue;
        inner[k] = name === "Variable_List" ? parsedJsonValue(scalar(x)) : typed(k, x);
      }
      out[name] = inner;
    } else out[name] = typed(name, v);
  }
  return out;
}
