/**
 * PBS size values (`mem=8gb`, `100mb`, `10w`): parse to bytes and format back.
 * Units are powers of 1024 and case-insensitive; `w` means words of 8 bytes.
 */
import { PbsParseError } from "../errors.js";

const KIB = 1024;
const UNIT_POWER: Record<string, number> = { "": 0, k: 1, m: 2, g: 3, t: 4, p: 5 };
const SIZE_RE = /^(\d+(?:\.\d*)?|\.\d+)([kmgtp]?)([bw]?)$/i;
const FORMAT_UNITS = ["b", "kb", "mb", "gb", "tb", "pb"] as const;

/**
 * Parse a PBS size (`100mb`, `8GB`, `2g`, `512kb`, `1024`, `1.5gb`, `10w`) to bytes.
 * A bare number is bytes. Fractions are allowed and rounded up to a whole byte.
 */
export function parseSize(text: string): number {
  const t = text.trim();
  const m = SIZE_RE.exec(t);
  if (!m) {
    throw new PbsParseError(
      `Illegal attribute or resource value: size "${text}" (expected e.g. 512mb, 8gb, 1024)`,
    );
  }
  const num = Number(m[1]);
  const power = UNIT_POWER[m[2].toLowerCase()];
  const wordBytes = m[3].toLowerCase() === "w" ? 8 : 1;
  const bytes = Math.ceil(num * KIB ** power * wordBytes - 1e-9);
  if (!Number.isFinite(bytes) || bytes > Number.MAX_SAFE_INTEGER) {
    throw new PbsParseError(`Illegal attribute or resource value: size "${text}" is too large`);
  }
  return Math.max(0, bytes);
}

/** Format bytes in the largest unit that divides them exactly: 1073741824 -> `1gb`, 1536 -> `1536b`. */
export function formatSize(bytes: number): string {
  if (!Number.isSafeInteger(bytes) || bytes < 0) {
    throw new PbsParseError(
      `Illegal attribute or resource value: size ${bytes} (must be a whole number >= 0)`,
    );
  }
  if (bytes === 0) return "0b";
  let value = bytes;
  let unit = 0;
  while (unit < FORMAT_UNITS.length - 1 && value % KIB === 0) {
    value /= KIB;
    unit++;
  }
  return `${value}${FORMAT_UNITS[unit]}`;
}
