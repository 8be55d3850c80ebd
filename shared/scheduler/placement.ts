/**
 * Chunk placement for the scheduler core (pure, deterministic).
 *
 * Nodes are addressed by their index in the name-sorted node list the planner builds, and free
 * resources are plain arrays parallel to it, so one placement is O(chunk instances x nodes).
 */
import type { Chunk } from "../pbs/types.js";
import { formatSize } from "./format.js";
import type { Allocation } from "./types.js";

export interface Res {
  ncpus: number;
  mem: number;
  ngpus: number;
}

export interface NodeSlot {
  name: string;
  /** short host name (text before the first dot), lower case, for `host=` */
  host: string;
}

const RESOURCES = ["ncpus", "mem", "ngpus"] as const;
type ResName = (typeof RESOURCES)[number];

/** Honour the chunk-level `host=` and `vnode=` resources; any other `other` key is ignored. */
function nodeMatches(chunk: Chunk, node: NodeSlot): boolean {
  const vnode = chunk.other?.vnode;
  if (vnode !== undefined && vnode !== node.name) return false;
  const host = chunk.other?.host;
  if (host !== undefined) {
    const h = host.toLowerCase();
    if (h !== node.host && h !== node.name.toLowerCase()) return false;
  }
  return true;
}

/** Total number of chunk instances a select asks for. */
export function instanceCount(select: readonly Chunk[]): number {
  let n = 0;
  for (const c of select) n += Math.max(0, c.count);
  return n;
}

/**
 * Place every chunk instance (chunk x count) of `select` on one node each, using `free`
 * (not modified) and only nodes with `eligible[i]`. Several instances may share a node
 * (PBS `place=free`/pack).
 *
 * Heuristic (documented choice): best-fit decreasing. Chunks are placed largest first (ncpus,
 * then ngpus, then mem); each instance goes to the eligible node with the LEAST free ncpus that
 * still fits it, ties broken by fewer free ngpus (keeps GPU nodes for GPU jobs), then fewer free
 * mem, then node name order. This packs small jobs into partly used nodes and keeps whole nodes
 * free for wide jobs. It is greedy, so a placement that only an exhaustive search would find can
 * be missed; it never over-commits.
 *
 * Returns one allocation per node used (instances on the same node merged), nodes in the order
 * the `select` instances first reach them, or null when some instance does not fit.
 */
export function placeSelect(
  select: readonly Chunk[],
  nodes: readonly NodeSlot[],
  free: readonly Res[],
  eligible: readonly boolean[],
): Allocation[] | null {
  const n = nodes.length;
  const cpu = new Float64Array(n);
  const mem = new Float64Array(n);
  const gpu = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    cpu[i] = free[i].ncpus;
    mem[i] = free[i].mem;
    gpu[i] = free[i].ngpus;
  }
  const order = select.map((_, k) => k);
  order.sort((a, b) => {
    const x = select[a];
    const y = select[b];
    return y.ncpus - x.ncpus || y.ngpus - x.ngpus || y.mem - x.mem || a - b;
  });
  // node index per (chunk, instance), filled in placement order, read back in select order
  const where: number[][] = select.map(() => []);
  for (const k of order) {
    const c = select[k];
    for (let inst = 0; inst < c.count; inst++) {
      let best = -1;
      for (let i = 0; i < n; i++) {
        if (!eligible[i] || cpu[i] < c.ncpus || mem[i] < c.mem || gpu[i] < c.ngpus) continue;
        if (!nodeMatches(c, nodes[i])) continue;
        if (
          best < 0 ||
          cpu[i] < cpu[best] ||
          (cpu[i] === cpu[best] && (gpu[i] < gpu[best] || (gpu[i] === gpu[best] && mem[i] < mem[best])))
        ) {
          best = i;
        }
      }
      if (best < 0) return null;
      cpu[best] -= c.ncpus;
      mem[best] -= c.mem;
      gpu[best] -= c.ngpus;
      where[k].push(best);
    }
  }
  const merged = new Map<number, Allocation>();
  select.forEach((c, k) => {
    for (const i of where[k]) {
      const a = merged.get(i);
      if (a) {
        a.ncpus += c.ncpus;
        a.mem += c.mem;
        a.ngpus += c.ngpus;
      } else {
        merged.set(i, { node: nodes[i].name, ncpus: c.ncpus, mem: c.mem, ngpus: c.ngpus });
      }
    }
  });
  return [...merged.values()];
}

function show(r: ResName, v: number): string {
  return r === "mem" ? formatSize(v) : String(v);
}

export function insufficientMessage(r: ResName, requested: number, available: number, total: number): string {
  return (
    `Not Running: Insufficient amount of resource: ${r} ` +
    `(R: ${show(r, requested)} A: ${show(r, available)} T: ${show(r, total)})`
  );
}

/**
 * PBS-style reason for a select that does not fit `free`: the first resource (chunks in select
 * order; ncpus, mem, ngpus) whose per-chunk request exceeds the most any one eligible node has
 * free. If every chunk fits some node alone, the first resource whose total request exceeds the
 * total free; failing that (fragmentation, host= constraints) ncpus of the first chunk.
 * R = per-chunk request, A = most free on one eligible node, T = total configured in the partition.
 */
export function insufficientReason(
  select: readonly Chunk[],
  free: readonly Res[],
  eligible: readonly boolean[],
  totals: Res,
): string {
  const maxFree: Res = { ncpus: 0, mem: 0, ngpus: 0 };
  const sumFree: Res = { ncpus: 0, mem: 0, ngpus: 0 };
  for (let i = 0; i < free.length; i++) {
    if (!eligible[i]) continue;
    for (const r of RESOURCES) {
      const v = Math.max(0, free[i][r]);
      if (v > maxFree[r]) maxFree[r] = v;
      sumFree[r] += v;
    }
  }
  for (const c of select) {
    for (const r of RESOURCES) {
      if (c[r] > maxFree[r]) return insufficientMessage(r, c[r], maxFree[r], totals[r]);
    }
  }
  for (const r of RESOURCES) {
    let want = 0;
    for (const c of select) want += Math.max(0, c.count) * c[r];
    if (want > sumFree[r]) {
      const first = select.find((c) => c[r] > 0)!;
      return insufficientMessage(r, first[r], maxFree[r], totals[r]);
    }
  }
  return insufficientMessage("ncpus", select[0]?.ncpus ?? 0, maxFree.ncpus, totals.ncpus);
}
