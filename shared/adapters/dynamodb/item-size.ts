/**
 * The size DynamoDB counts for an item, computed from the plain object the document client
 * marshals (undefined values are dropped, as `removeUndefinedValues` does). The rules are
 * DynamoDB's: names and strings by UTF-8 length, numbers about one byte per two digits plus
 * one, booleans and nulls one byte, lists and maps three bytes plus one per element. It errs
 * upwards (numbers count 21 bytes at most), so an item it accepts is one the store accepts.
 */
const utf8 = (s: string) => Buffer.byteLength(s, "utf8");

export function valueSize(v: unknown): number {
  if (v === undefined) return 0;
  if (v === null || typeof v === "boolean") return 1;
  if (typeof v === "string") return utf8(v);
  if (typeof v === "number" || typeof v === "bigint") {
    const digits =
      String(v)
        .replace(/[^0-9]/g, "")
        .replace(/^0+/, "").length || 1;
    return Math.min(21, Math.ceil(digits / 2) + 1);
  }
  if (v instanceof Uint8Array) return v.byteLength;
  if (v instanceof Set) {
    let n = 0;
    for (const x of v) n += valueSize(x);
    return n;
  }
  if (Array.isArray(v)) {
    let n = 3;
    for (const x of v) n += 1 + valueSize(x);
    return n;
  }
  if (typeof v === "object") {
    let n = 3;
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) {
      if (x === undefined) continue;
      n += 1 + utf8(k) + valueSize(x);
    }
    return n;
  }
  return utf8(String(v));
}

/** Bytes DynamoDB counts for a whole item: each top-level name plus its value. */
export function itemSize(item: Record<string, unknown>): number {
  let n = 0;
  for (const [k, v] of Object.entries(item)) {
    if (v === undefined) continue;
    n += utf8(k) + valueSize(v);
  }
  return n;
}
