/**
 * Job resource requests (`-l`): split a `-l` argument, validate values, and normalize the
 * accumulated map into a ResourceRequest (select chunks + walltime + place + other).
 */
import { PBS_EXIT, PbsParseError } from "../errors.js";
import { splitAttrList } from "./attrlist.js";
import { formatSelect, parseIntValue, parseSelect, RESOURCE_NAME_RE } from "./select.js";
import { parseSize } from "./size.js";
import type { Chunk, PlaceArrangement, Placement, PlaceSharing, ResourceRequest } from "./types.js";
import { parseWalltime } from "./walltime.js";

/** Job-level resources that cannot be combined with `select` (they belong inside the chunks). */
export const CHUNK_LEVEL_RESOURCES = ["ncpus", "mem", "ngpus", "mpiprocs"] as const;

const PLACE_ARRANGEMENT = new Set(["free", "pack", "scatter", "vscatter"]);
const PLACE_SHARING = new Set(["excl", "shared", "exclhost"]);

/**
 * Split one `-l` argument (`select=2:ncpus=1,walltime=00:10:00`, `mem=4gb,ncpus=2`) into a map.
 * Names are lowercased (PBS resource names are case-insensitive); within one argument a later
 * value for the same name wins. Quotes protect commas: `software="a,b"`.
 */
export function parseResourceList(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [name, value] of splitAttrList(text, {
    what: "illegal -l value",
    namePattern: RESOURCE_NAME_RE,
    continuation: false,
  })) {
    if (value === "") throw new PbsParseError(`illegal -l value: ${name} has an empty value`);
    out[name.toLowerCase()] = value;
  }
  return out;
}

/**
 * Parse a `place` value: `[arrangement][:sharing][:group=resource]`, words in any order, case
 * insensitive, each kind at most once (PBS `decode_place`). The arrangement defaults to `free`;
 * no sharing word leaves it to the node's `sharing` attribute.
 *
 * Refusals carry PBS's text and exit status, as qsub prints them: a malformed value is
 * "Illegal attribute or resource value Resource_List.place" (PBSE_BADATVAL, exit 166). A
 * well-formed `group=` is refused as PBS refuses a resource it cannot group by ("Unknown
 * resource", PBSE_UNKRESC, exit 187): grouping needs string resources on the vnodes (switch,
 * rack) and this complex defines none, so accepting it would mean ignoring it.
 */
export function parsePlace(text: string): Placement {
  const bad = (why: string) =>
    new PbsParseError(
      `Illegal attribute or resource value Resource_List.place (place=${text}: ${why}; expected [free|pack|scatter|vscatter][:excl|shared|exclhost])`,
      PBS_EXIT.BADATVAL,
    );
  const t = text.trim();
  if (t === "") throw bad("empty");
  let arrangement: PlaceArrangement | undefined;
  let sharing: PlaceSharing | undefined;
  let group: string | undefined;
  for (const part of t.split(":")) {
    const p = part.trim().toLowerCase();
    if (PLACE_ARRANGEMENT.has(p)) {
      if (arrangement) throw bad("two arrangements");
      arrangement = p as PlaceArrangement;
    } else if (PLACE_SHARING.has(p)) {
      if (sharing) throw bad("two sharing values");
      sharing = p as PlaceSharing;
    } else if (p.startsWith("group=") && RESOURCE_NAME_RE.test(part.trim().slice(6))) {
      if (group !== undefined) throw bad("two groups");
      group = part.trim().slice(6);
    } else {
      throw bad(`unknown placement "${part}"`);
    }
  }
  if (group !== undefined) {
    throw new PbsParseError(
      `Unknown resource Resource_List.place (group=${group}: this complex has no resource to group chunks by)`,
      PBS_EXIT.UNKRESC,
    );
  }
  return sharing ? { arrangement: arrangement ?? "free", sharing } : { arrangement: arrangement ?? "free" };
}

/**
 * The placement a stored `place` text stands for, for the scheduler. Text that no longer
 * parses (stored before this check existed) counts as `free`, shared by the node's rule: the
 * placement every job had then.
 */
export function placementOf(text: string | undefined): Placement {
  if (text === undefined) return { arrangement: "free" };
  try {
    return parsePlace(text);
  } catch {
    return { arrangement: "free" };
  }
}

/**
 * Convert old-style `nodes=` (`2:ppn=4`, `n01:ppn=2+1:ppn=1:bigmem`) to chunks the way PBS Pro
 * does: `N:ppn=P` -> `N:ncpus=P:mpiprocs=P`, a leading host name -> `host=name`, `gpus=G` ->
 * `ngpus=G`, a bare property -> `prop=True`, other `name=value` kept.
 */
export function nodesToSelect(text: string): Chunk[] {
  const whole = text.trim();
  if (whole === "") throw new PbsParseError("illegal -l value: nodes is empty");
  return whole.split("+").map((spec) => {
    const parts = spec.split(":").map((p) => p.trim());
    if (parts[0] === "") throw new PbsParseError(`illegal -l value: nodes=${text} (empty node spec)`);
    const chunk: Chunk = { count: 1, ncpus: 1, mem: 0, ngpus: 0, mpiprocs: 1, other: {} };
    let start = 0;
    if (/^\d+$/.test(parts[0])) {
      chunk.count = parseIntValue(parts[0], "nodes count", 1);
      start = 1;
    } else if (/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(parts[0]) && !parts[0].includes("=")) {
      chunk.other.host = parts[0];
      start = 1;
    }
    for (const part of parts.slice(start)) {
      const eq = part.indexOf("=");
      const name = (eq < 0 ? part : part.slice(0, eq)).toLowerCase();
      if (!RESOURCE_NAME_RE.test(name)) {
        throw new PbsParseError(`illegal -l value: nodes=${text} (bad property "${part}")`);
      }
      if (eq < 0) {
        chunk.other[name] = "True";
        continue;
      }
      const value = part.slice(eq + 1);
      if (name === "ppn") {
        chunk.ncpus = parseIntValue(value, "ppn", 1);
        chunk.mpiprocs = chunk.ncpus;
      } else if (name === "gpus") {
        chunk.ngpus = parseIntValue(value, "gpus");
      } else if (value === "") {
        throw new PbsParseError(`illegal -l value: nodes=${text} (empty value for ${name})`);
      } else {
        chunk.other[name] = value;
      }
    }
    return chunk;
  });
}

/**
 * Check one resource value by name (select, nodes, walltime, cput, mem, ncpus, ngpus, place);
 * other names only need a valid name and a non-empty value. Throws PbsParseError.
 */
export function validateResourceValue(name: string, value: string): void {
  const n = name.toLowerCase();
  if (!RESOURCE_NAME_RE.test(name)) throw new PbsParseError(`Unknown resource: ${name} (bad resource name)`);
  if (value.trim() === "") throw new PbsParseError(`illegal -l value: ${name} has an empty value`);
  switch (n) {
    case "select":
      parseSelect(value);
      break;
    case "nodes":
      nodesToSelect(value);
      break;
    case "walltime":
    case "cput":
      parseWalltime(value);
      break;
    case "mem":
    case "vmem":
      parseSize(value);
      break;
    case "ncpus":
    case "ngpus":
    case "mpiprocs":
      parseIntValue(value, n);
      break;
    case "place":
      parsePlace(value);
      break;
  }
}

/**
 * Normalize the accumulated `-l` map (names case-insensitive) into a ResourceRequest:
 * - `select` given: its chunks; `ncpus`/`mem`/`ngpus`/`mpiprocs`/`nodes` alongside it are rejected.
 *   `place` defaults to `free`.
 * - `nodes` given (old syntax): converted with nodesToSelect; `place` defaults to `scatter`; a
 *   job-wide `mem` is divided evenly (rounded up) over the nodes; `ncpus`/`ngpus` are rejected.
 * - neither: one chunk from `ncpus` (default 1), `mem` (default 0), `ngpus` (default 0), `mpiprocs`;
 *   `place` defaults to `pack` (PBS's conversion of job-wide resources).
 * `walltime` is parsed to seconds, `place` validated, everything else kept as text in `other`.
 */
export function normalizeResources(raw: Record<string, string>): ResourceRequest {
  const res: Record<string, string> = {};
  for (const [k, v] of Object.entries(raw)) {
    validateResourceValue(k, v);
    res[k.toLowerCase()] = v.trim();
  }
  const req: ResourceRequest = { select: [], other: {} };
  const has = (k: string) => res[k] !== undefined;

  if (has("select")) {
    for (const k of [...CHUNK_LEVEL_RESOURCES, "nodes"]) {
      if (has(k)) {
        throw new PbsParseError(
          `Job resource request cannot contain both 'select' and '${k}': put ${k} inside the select chunks (e.g. -l select=1:ncpus=4:mem=8gb)`,
        );
      }
    }
    req.select = parseSelect(res.select);
    if (!has("place")) req.place = "free";
  } else if (has("nodes")) {
    for (const k of ["ncpus", "ngpus", "mpiprocs"]) {
      if (has(k)) {
        throw new PbsParseError(
          `Job resource request cannot contain both 'nodes' and '${k}': use nodes=N:ppn=P or -l select=N:ncpus=P`,
        );
      }
    }
    req.select = nodesToSelect(res.nodes);
    if (has("mem")) {
      const nodect = req.select.reduce((a, c) => a + c.count, 0);
      const per = Math.ceil(parseSize(res.mem) / nodect);
      for (const c of req.select) c.mem = per;
    }
    if (!has("place")) req.place = "scatter";
  } else {
    req.select = [
      {
        count: 1,
        ncpus: has("ncpus") ? parseIntValue(res.ncpus, "ncpus") : 1,
        mem: has("mem") ? parseSize(res.mem) : 0,
        ngpus: has("ngpus") ? parseIntValue(res.ngpus, "ngpus") : 0,
        mpiprocs: has("mpiprocs") ? parseIntValue(res.mpiprocs, "mpiprocs") : 1,
        other: {},
      },
    ];
    // PBS converts job-wide ncpus/mem into one chunk with place=pack
    if (!has("place")) req.place = "pack";
  }

  const consumed = new Set(["select", "nodes", "walltime", "place", ...CHUNK_LEVEL_RESOURCES]);
  if (has("walltime")) req.walltime = parseWalltime(res.walltime);
  if (has("place")) req.place = res.place;
  for (const [k, v] of Object.entries(res)) {
    if (!consumed.has(k)) req.other[k] = v;
  }
  return req;
}

/** Sum of ncpus, mem (bytes), ngpus and chunk count (nodect) over all chunks x count. */
export function totals(req: ResourceRequest): { ncpus: number; mem: number; ngpus: number; nodect: number } {
  const t = { ncpus: 0, mem: 0, ngpus: 0, nodect: 0 };
  for (const c of req.select) {
    t.ncpus += c.ncpus * c.count;
    t.mem += c.mem * c.count;
    t.ngpus += c.ngpus * c.count;
    t.nodect += c.count;
  }
  return t;
}

/** The canonical select text of a request (convenience for Resource_List.select). */
export function requestSelectText(req: ResourceRequest): string {
  return formatSelect(req.select);
}
