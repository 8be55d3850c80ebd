/**
 * Chunk placement for the scheduler core (pure, deterministic).
 *
 * Nodes are addressed by their index in the name-sorted node list the planner builds, and free
 * resources are plain arrays parallel to it, so one placement is O(chunk instances x nodes)
 * (`pack`: x hosts).
 *
 * Placement follows PBS `place=[arrangement][:sharing]`:
 * - arrangement `free`: chunks go wherever they fit, several per node allowed; `pack`: every
 *   chunk on one host; `scatter`: at most one chunk per host; `vscatter`: at most one chunk per
 *   vnode. A node here is one vnode and its host is the name before the first dot, so
 *   `scatter` and `vscatter` differ only for nodes named `h.a`, `h.b`.
 * - sharing: `excl` (the job has its vnodes to itself), `exclhost` (its hosts to itself),
 *   `shared`; what applies on a node also depends on the node's `sharing` (see
 *   {@link effectiveSharing}). A node with another job on it takes no exclusive chunk, and a node
 *   held exclusively by another job takes nothing. Chunks of the same job may always share.
 */
import type { Chunk, Placement, PlaceSharing } from "../pbs/types.js";
import { formatSize } from "./format.js";
import type { Allocation, NodeSharing } from "./types.js";

export interface Res {
  ncpus: number;
  mem: number;
  ngpus: number;
  /** chunks of other jobs on the node (0 = idle) */
  jobs: number;
  /** of those, chunks holding the node (or its host) exclusively */
  excl: number;
}

export interface NodeSlot {
  name: string;
  /** short host name (text before the first dot), lower case, for `host=` and host arrangements */
  host: string;
  /**
   * indices of the vnodes on this host, itself included: one array per host, shared by its
   * vnodes (computed once per cycle, not per placement)
   */
  hostNodes: readonly number[];
  sharing?: NodeSharing;
}

const RESOURCES = ["ncpus", "mem", "ngpus"] as const;
type ResName = (typeof RESOURCES)[number];

type Mode = "shared" | "excl" | "exclhost";

/**
 * The sharing that applies to a job on a node (PBS Reference Guide, vnode `sharing`): the job's
 * own word wins on `default_*` nodes; `force_excl`/`force_exclhost` make every job exclusive and
 * `ignore_excl` makes every job shared.
 */
export function effectiveSharing(job: PlaceSharing | undefined, node: NodeSharing | undefined): Mode {
  switch (node) {
    case "ignore_excl":
      return "shared";
    case "force_excl":
      return "excl";
    case "force_exclhost":
      return "exclhost";
    default:
      if (job) return job;
      return node === "default_excl" ? "excl" : node === "default_exclhost" ? "exclhost" : "shared";
  }
}

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
 * Place every chunk instance (chunk x count) of `select` on one node each, as `place` says,
 * using `free` (not modified) and only nodes with `eligible[i]`.
 *
 * Heuristic (documented choice): best-fit decreasing. Chunks are placed largest first (ncpus,
 * then ngpus, then mem); each instance goes to the open node with the LEAST free ncpus that
 * still fits it, ties broken by fewer free ngpus (keeps GPU nodes for GPU jobs), then fewer free
 * mem, then node name order. This packs small jobs into partly used nodes and keeps whole nodes
 * free for wide jobs. `scatter`/`vscatter` skip hosts/nodes this job already uses; `pack` tries
 * each host alone, fullest first, and takes the first that holds every chunk. It is greedy, so a
 * placement only an exhaustive search would find can be missed; it never over-commits and never
 * breaks the arrangement or sharing.
 *
 * `exclusiveInPlay` false promises that no node in `free` is held exclusively and none has a
 * `sharing` rule (the planner knows), which lets a job that asks for no exclusivity skip the
 * per-node sharing checks.
 *
 * Returns one allocation per chunk instance, in select order (chunk, then instance), or null
 * when some instance does not fit: a job is placed whole or not at all.
 */
export function placeSelect(
  select: readonly Chunk[],
  place: Placement | undefined,
  nodes: readonly NodeSlot[],
  free: readonly Res[],
  eligible: readonly boolean[],
  exclusiveInPlay = true,
): Allocation[] | null {
  const arrangement = place?.arrangement ?? "free";
  const n = nodes.length;
  // Fast path (most cycles): no node is held or has a sharing rule and the job asks for none,
  // so every eligible node is open and every chunk shared.
  if (!exclusiveInPlay && (place?.sharing === undefined || place.sharing === "shared")) {
    if (arrangement !== "pack") return placeOn(select, nodes, free, eligible, null, arrangement);
  }
  const idle = (i: number) => free[i].jobs <= 0 && free[i].excl <= 0;
  // Per node: the sharing that applies (index into MODES), and whether this job may use it at
  // all: not held by another job, and idle (or its whole host idle) when the job would hold it
  // exclusively there. Typed arrays and plain loops: this runs several times per candidate.
  const mode = new Uint8Array(n);
  const open = new Uint8Array(n);
  const asked = place?.sharing;
  for (let i = 0; i < n; i++) {
    const ns = nodes[i].sharing;
    const m = asked === undefined && ns === undefined ? "shared" : effectiveSharing(asked, ns);
    if (m !== "shared") mode[i] = m === "excl" ? 1 : 2;
    if (!eligible[i] || free[i].excl > 0) continue;
    if (m === "excl" ? idle(i) : m === "exclhost" ? nodes[i].hostNodes.every(idle) : true) open[i] = 1;
  }
  if (arrangement !== "pack") return placeOn(select, nodes, free, open, mode, arrangement);
  const candidates = [...new Set(nodes.map((x) => x.hostNodes))].filter((list) => list.some((i) => open[i]));
  const freeCpus = (list: readonly number[]) => list.reduce((a, i) => a + (open[i] ? free[i].ncpus : 0), 0);
  candidates.sort((a, b) => freeCpus(a) - freeCpus(b) || a[0] - b[0]);
  for (const list of candidates) {
    const only = new Uint8Array(n);
    for (const i of list) only[i] = open[i];
    const alloc = placeOn(select, nodes, free, only, mode, "free");
    if (alloc) return alloc;
  }
  return null;
}

const MODES: readonly Mode[] = ["shared", "excl", "exclhost"];

function placeOn(
  select: readonly Chunk[],
  nodes: readonly NodeSlot[],
  free: readonly Res[],
  open: ArrayLike<boolean | number>,
  mode: Uint8Array | null,
  arrangement: "free" | "scatter" | "vscatter",
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
  // nodes this job already uses, and hosts (by their first vnode's index)
  const perVnode = arrangement === "vscatter";
  const perHost = arrangement === "scatter";
  const usedNode = new Uint8Array(perVnode ? n : 0);
  const usedHost = new Uint8Array(perHost ? n : 0);
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
        if (!open[i] || cpu[i] < c.ncpus || mem[i] < c.mem || gpu[i] < c.ngpus) continue;
        if (perVnode && usedNode[i]) continue;
        if (perHost && usedHost[nodes[i].hostNodes[0]]) continue;
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
      if (perVnode) usedNode[best] = 1;
      if (perHost) usedHost[nodes[best].hostNodes[0]] = 1;
      where[k].push(best);
    }
  }
  const alloc: Allocation[] = [];
  select.forEach((c, k) => {
    for (const i of where[k]) {
      const a: Allocation = { node: nodes[i].name, ncpus: c.ncpus, mem: c.mem, ngpus: c.ngpus };
      const m = mode ? MODES[mode[i]] : "shared";
      if (m !== "shared") a.excl = m;
      alloc.push(a);
    }
  });
  return alloc;
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
  totals: Record<ResName, number>,
): string {
  const maxFree: Record<ResName, number> = { ncpus: 0, mem: 0, ngpus: 0 };
  const sumFree: Record<ResName, number> = { ncpus: 0, mem: 0, ngpus: 0 };
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
