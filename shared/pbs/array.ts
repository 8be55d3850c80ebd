/**
 * Job array ranges (`-J X-Y[:Z][%max]`).
 */
import { PbsParseError } from "../errors.js";
import type { ArrayRange } from "./types.js";

/** PBS server default for max_array_size. */
export const MAX_ARRAY_SIZE = 10000;

const RANGE_RE = /^(\d+)-(\d+)(?::(\d+))?(?:%(\d+))?$/;

/**
 * Parse `X-Y[:Z][%max]`: start >= 0, end > start, step >= 1, max >= 1, and at most `maxSize`
 * (default 10000) indices.
 */
export function parseArrayRange(text: string, maxSize = MAX_ARRAY_SIZE): ArrayRange {
  const t = text.trim();
  const m = RANGE_RE.exec(t);
  const syntax = `(expected X-Y[:Z][%max], e.g. 1-10, 0-100:5, 1-1000%10)`;
  if (!m) throw new PbsParseError(`illegal -J value: "${text}" ${syntax}`);
  const r: ArrayRange = {
    start: Number(m[1]),
    end: Number(m[2]),
    step: m[3] === undefined ? 1 : Number(m[3]),
  };
  if (!Number.isSafeInteger(r.start) || !Number.isSafeInteger(r.end)) {
    throw new PbsParseError(`illegal -J value: "${text}" (index too large)`);
  }
  if (r.end <= r.start) {
    throw new PbsParseError(
      `illegal -J value: "${text}" (the end index must be greater than the start index)`,
    );
  }
  if (r.step < 1) throw new PbsParseError(`illegal -J value: "${text}" (the step must be >= 1)`);
  if (m[4] !== undefined) {
    r.maxConcurrent = Number(m[4]);
    if (r.maxConcurrent < 1) throw new PbsParseError(`illegal -J value: "${text}" (%max must be >= 1)`);
  }
  if (countIndices(r) > maxSize) {
    throw new PbsParseError(
      `Array job exceeds server or queue size limit: ${countIndices(r)} subjobs requested, the limit is ${maxSize}`,
    );
  }
  return r;
}

/** Number of indices in the range. */
export function countIndices(r: ArrayRange): number {
  if (r.end < r.start) return 0;
  return Math.floor((r.end - r.start) / r.step) + 1;
}

/** All indices, in order. */
export function arrayIndices(r: ArrayRange): number[] {
  if (!(r.step >= 1)) throw new PbsParseError(`illegal array range: step ${r.step} (must be >= 1)`);
  const out: number[] = [];
  for (let i = r.start; i <= r.end; i += r.step) out.push(i);
  return out;
}

/** Canonical text: `1-10`, `0-100:5`, `1-1000%10` (step shown only when not 1). */
export function formatArrayRange(r: ArrayRange): string {
  let s = `${r.start}-${r.end}`;
  if (r.step !== 1) s += `:${r.step}`;
  if (r.maxConcurrent !== undefined) s += `%${r.maxConcurrent}`;
  return s;
}

/** What a job ID's brackets name: the whole array (`[]`), one subjob (`[3]`) or a range (`[1-5:2]`). */
export type ArrayPart =
  | { kind: "array" }
  | { kind: "subjob"; index: number }
  | { kind: "range"; range: ArrayRange };

/**
 * Read the text between a job ID's brackets (jobid.ts has checked its shape). A range may
 * have its end equal to its start (`3-3`, one subjob) but not before it, as in PBS.
 */
export function parseArrayPart(text: string): ArrayPart {
  if (text === "") return { kind: "array" };
  if (/^\d+$/.test(text)) return { kind: "subjob", index: Number(text) };
  const m = /^(\d+)-(\d+)(?::(\d+))?$/.exec(text);
  if (!m) throw new PbsParseError(`illegally formed job identifier: [${text}]`);
  const range = { start: Number(m[1]), end: Number(m[2]), step: m[3] === undefined ? 1 : Number(m[3]) };
  if (range.end < range.start || range.step < 1)
    throw new PbsParseError(`illegally formed job identifier: [${text}]`);
  return { kind: "range", range };
}

/** Whether `index` is one of the range's indices. */
export function inRange(r: ArrayRange, index: number): boolean {
  return index >= r.start && index <= r.end && (index - r.start) % r.step === 0;
}
