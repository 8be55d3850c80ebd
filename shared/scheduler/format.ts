/**
 * PBS text forms of an allocation: `exec_vnode`, `exec_host`, and the size notation used in
 * scheduler comments. Pure string functions, no I/O.
 */
import { PbsParseError } from "../errors.js";
import type { Allocation } from "./types.js";

const KB = 1024;

/** Bytes to whole kilobytes, rounded up (PBS never under-reports memory in exec_vnode). */
function bytesToKb(bytes: number): number {
  return Math.ceil(bytes / KB);
}

/**
 * PBS `exec_vnode`: `(node1:ncpus=2:mem=1048576kb)+(node2:ncpus=1)`, one entry per chunk
 * (two chunks on one node are two entries, as PBS prints them).
 * `ncpus` is always printed; `mem` (in kb) and `ngpus` only when non-zero.
 */
export function formatExecVnode(alloc: Allocation[]): string {
  return alloc
    .map((a) => {
      let s = `(${a.node}:ncpus=${a.ncpus}`;
      if (a.mem > 0) s += `:mem=${bytesToKb(a.mem)}kb`;
      if (a.ngpus > 0) s += `:ngpus=${a.ngpus}`;
      return s + ")";
    })
    .join("+");
}

/**
 * PBS `exec_host`: `host/index*ncpus` per chunk, `*1` omitted: `n1/0*8+n1/1*8` for two chunks
 * on n1, `n1/0+n2/0` for one on each. PBS's index is the first free slot in the MOM's job table,
 * which counts other jobs' chunks too; we number this job's chunks per host from 0, which is
 * what PBS prints on nodes no other job uses (tools read the host names and the counts).
 */
export function formatExecHost(alloc: Allocation[]): string {
  const next = new Map<string, number>();
  return alloc
    .map((a) => {
      const idx = next.get(a.node) ?? 0;
      next.set(a.node, idx + 1);
      return a.ncpus === 1 ? `${a.node}/${idx}` : `${a.node}/${idx}*${a.ncpus}`;
    })
    .join("+");
}

const SIZE_UNITS: Record<string, number> = {
  b: 1,
  w: 8,
  kb: KB,
  kw: 8 * KB,
  mb: KB ** 2,
  mw: 8 * KB ** 2,
  gb: KB ** 3,
  gw: 8 * KB ** 3,
  tb: KB ** 4,
  tw: 8 * KB ** 4,
  pb: KB ** 5,
  pw: 8 * KB ** 5,
};

/** A PBS size (`1048576kb`, `4gb`, `512`) to bytes; a bare number is bytes. */
function parseSize(text: string): number {
  const m = /^(\d+)([a-z]*)$/i.exec(text.trim());
  const unit = m ? SIZE_UNITS[(m[2] || "b").toLowerCase()] : undefined;
  if (!m || unit === undefined) throw new PbsParseError(`illegal size in exec_vnode: ${text}`);
  return Number(m[1]) * unit;
}

function parseCount(text: string, what: string): number {
  if (!/^\d+$/.test(text.trim())) throw new PbsParseError(`illegal ${what} in exec_vnode: ${text}`);
  return Number(text);
}

/**
 * Inverse of {@link formatExecVnode}. Accepts PBS's grouped form too (`(a:ncpus=1+b:ncpus=1)`,
 * one chunk spread over vnodes). Entries for the same node are summed, first-appearance order.
 * Unknown resources (`mpiprocs=`, ...) are ignored. Throws PbsParseError on malformed text.
 */
export function parseExecVnode(text: string): Allocation[] {
  const byNode = new Map<string, Allocation>();
  const trimmed = text.trim();
  if (trimmed === "") return [];
  for (const raw of trimmed.split("+")) {
    const piece = raw.trim().replace(/^\(/, "").replace(/\)$/, "").trim();
    const [node, ...resources] = piece.split(":");
    if (!node || /[()=\s]/.test(node)) throw new PbsParseError(`illegal exec_vnode: ${text}`);
    const a = byNode.get(node) ?? { node, ncpus: 0, mem: 0, ngpus: 0 };
    for (const r of resources) {
      const eq = r.indexOf("=");
      if (eq <= 0) throw new PbsParseError(`illegal exec_vnode: ${text}`);
      const key = r.slice(0, eq).trim().toLowerCase();
      const value = r.slice(eq + 1);
      if (key === "ncpus") a.ncpus += parseCount(value, "ncpus");
      else if (key === "ngpus") a.ngpus += parseCount(value, "ngpus");
      else if (key === "mem") a.mem += parseSize(value);
    }
    byNode.set(node, a);
  }
  return [...byNode.values()];
}

/**
 * A byte count in the largest PBS unit that divides it exactly (`4gb`, `1536mb`, `100b`), as
 * PBS prints sizes in scheduler comments.
 */
export function formatSize(bytes: number): string {
  if (bytes <= 0) return "0kb";
  for (const [unit, factor] of [
    ["tb", KB ** 4],
    ["gb", KB ** 3],
    ["mb", KB ** 2],
    ["kb", KB],
  ] as const) {
    if (bytes % factor === 0) return `${bytes / factor}${unit}`;
  }
  return `${bytes}b`;
}
