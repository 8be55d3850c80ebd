/**
 * The PBS `select` statement: `2:ncpus=4:mem=8gb+1:ncpus=1:ngpus=1`.
 * Chunks are separated by `+`, a chunk is `[count:]name=value[:name=value...]`.
 */
import { PbsParseError } from "../errors.js";
import { formatSize, parseSize } from "./size.js";
import type { Chunk } from "./types.js";

/** Resource names: a letter, then letters, digits or underscores. */
export const RESOURCE_NAME_RE = /^[A-Za-z][A-Za-z0-9_]*$/;

/** Parse a whole number >= `min` written in decimal digits (no sign, no fraction). */
export function parseIntValue(text: string, what: string, min = 0): number {
  const t = text.trim();
  if (!/^\d+$/.test(t)) {
    throw new PbsParseError(`Illegal attribute or resource value: ${what}=${text} (expected a whole number)`);
  }
  const n = Number(t);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new PbsParseError(`Illegal attribute or resource value: ${what}=${text} (must be >= ${min})`);
  }
  return n;
}

function parseChunk(text: string, whole: string): Chunk {
  if (text.trim() === "") {
    throw new PbsParseError(`illegal -l value: select=${whole} (empty chunk)`);
  }
  const parts = text.split(":");
  const chunk: Chunk = { count: 1, ncpus: 1, mem: 0, ngpus: 0, mpiprocs: 1, other: {} };
  let start = 0;
  if (/^\s*\d+\s*$/.test(parts[0])) {
    chunk.count = parseIntValue(parts[0], "select chunk count", 1);
    start = 1;
  }
  const seen = new Set<string>();
  for (let i = start; i < parts.length; i++) {
    const part = parts[i];
    const eq = part.indexOf("=");
    if (eq < 0) {
      throw new PbsParseError(
        `illegal -l value: select=${whole} ("${part}" is not name=value; a chunk is [count:]name=value[:name=value])`,
      );
    }
    const name = part.slice(0, eq).trim();
    const value = part.slice(eq + 1).trim();
    if (!RESOURCE_NAME_RE.test(name)) {
      throw new PbsParseError(`illegal -l value: select=${whole} (bad resource name "${name}")`);
    }
    if (value === "") {
      throw new PbsParseError(`illegal -l value: select=${whole} (empty value for ${name})`);
    }
    const key = name.toLowerCase();
    if (seen.has(key)) {
      throw new PbsParseError(`illegal -l value: select=${whole} (${name} given twice in one chunk)`);
    }
    seen.add(key);
    switch (key) {
      case "ncpus":
        chunk.ncpus = parseIntValue(value, "ncpus");
        break;
      case "mpiprocs":
        chunk.mpiprocs = parseIntValue(value, "mpiprocs");
        break;
      case "ngpus":
        chunk.ngpus = parseIntValue(value, "ngpus");
        break;
      case "mem":
        chunk.mem = parseSize(value);
        break;
      case "ompthreads":
        // kept as text with the other resources, but checked: the MOM sets OMP_NUM_THREADS from it
        chunk.other[key] = String(parseIntValue(value, "ompthreads"));
        break;
      default:
        chunk.other[key] = value;
    }
  }
  return chunk;
}

/**
 * Parse a select statement into chunks. A chunk without a leading count has count 1; missing
 * resources default to ncpus=1, mem=0, ngpus=0, mpiprocs=1. Other name=value pairs go to `other`
 * (names lowercased, values as written). Resource names are case-insensitive, as in PBS.
 */
export function parseSelect(text: string): Chunk[] {
  if (text.trim() === "") {
    throw new PbsParseError("illegal -l value: select is empty");
  }
  return text.split("+").map((c) => parseChunk(c, text));
}

/**
 * Canonical text: `count:ncpus=N[:mem=..][:ngpus=..][:mpiprocs=..][:other...]` joined by `+`.
 * The count and ncpus are always shown; mem=0, ngpus=0 and mpiprocs=1 are omitted.
 */
export function formatSelect(chunks: Chunk[]): string {
  return chunks
    .map((c) => {
      const parts = [String(c.count), `ncpus=${c.ncpus}`];
      if (c.mem !== 0) parts.push(`mem=${formatSize(c.mem)}`);
      if (c.ngpus !== 0) parts.push(`ngpus=${c.ngpus}`);
      if (c.mpiprocs !== 1) parts.push(`mpiprocs=${c.mpiprocs}`);
      for (const [k, v] of Object.entries(c.other)) parts.push(`${k}=${v}`);
      return parts.join(":");
    })
    .join("+");
}
