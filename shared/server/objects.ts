/**
 * Server objects (server, queues, nodes, scheds) as PBS attribute maps, with the attribute
 * table qmgr validates against and typed accessors the scheduler and submit use.
 */
import { InvalidStateError, NotFoundError, PbsParseError } from "../errors.js";
import { parseSize } from "../pbs/size.js";
import { parseWalltime } from "../pbs/walltime.js";
import { parsePlace } from "../pbs/resources.js";
import {
  NODE_SHARING,
  type NodeInfo,
  type NodeSharing,
  type NodeState,
  type QueueInfo,
} from "../scheduler/types.js";
import type { PowerInfo } from "../scheduler/power.js";
import type { AttrValue, ServerObject } from "../server/records.js";

type Kind =
  | "int"
  | "bool"
  | "string"
  | "size"
  | "time"
  | "list"
  | "nodestate"
  | "qtype"
  | "fedstate"
  | "place"
  | "sharing";

/** Attributes qmgr may set, per object type. `resources_*.<name>` are handled by prefix. */
const ATTRS: Record<ServerObject["kind"], Record<string, Kind>> = {
  server: {
    default_queue: "string",
    scheduling: "bool",
    max_run: "int",
    max_queued: "int",
    backfill: "bool",
    backfill_depth: "int",
    managers: "list",
    operators: "list",
    comment: "string",
    kill_delay: "int",
    job_history_enable: "bool",
    job_history_duration: "time",
    node_stale_time: "int",
    scheduler_iteration: "int",
    acl_host_enable: "bool",
    /** active; draining (takes no new work from peers); down (runs nothing, peers pull its queue) */
    federation_state: "fedstate",
  },
  queue: {
    queue_type: "qtype",
    enabled: "bool",
    started: "bool",
    priority: "int",
    max_run: "int",
    max_user_run: "int",
    max_queued: "int",
    max_array_size: "int",
    acl_user_enable: "bool",
    acl_users: "list",
    acl_group_enable: "bool",
    acl_groups: "list",
    partition: "string",
    comment: "string",
    peer_pull: "bool",
    pinned: "bool",
  },
  node: {
    state: "nodestate",
    partition: "string",
    comment: "string",
    Mom: "string",
    sharing: "sharing",
    "resources_available.ncpus": "int",
    "resources_available.mem": "size",
    "resources_available.ngpus": "int",
  },
  sched: {
    partition: "list",
    scheduling: "bool",
    job_accumulation_time: "int",
    scheduler_iteration: "int",
    sched_cycle_length: "time",
    comment: "string",
    backfill_depth: "int",
  },
};

const RESOURCE_KIND: Record<string, Kind> = {
  walltime: "time",
  mem: "size",
  ncpus: "int",
  ngpus: "int",
  nodect: "int",
  place: "place",
};

function kindOf(objKind: ServerObject["kind"], attr: string): Kind | undefined {
  const k = ATTRS[objKind][attr];
  if (k) return k;
  if (objKind === "queue" || objKind === "server") {
    const m = /^resources_(default|min|max|available)\.([A-Za-z][A-Za-z0-9_]*)$/.exec(attr);
    if (m) return RESOURCE_KIND[m[2]] ?? "string";
  }
  return undefined;
}

/** Validate and convert a qmgr value for an attribute. Stored values keep PBS text for sizes and times. */
export function convertAttr(objKind: ServerObject["kind"], attr: string, raw: string): AttrValue {
  const kind = kindOf(objKind, attr);
  if (!kind) throw new PbsParseError(`Unknown attribute ${attr}`);
  const bad = () => new PbsParseError(`Illegal attribute or resource value for ${attr}: ${raw}`);
  switch (kind) {
    case "int": {
      if (!/^-?\d+$/.test(raw.trim())) throw bad();
      return Number.parseInt(raw, 10);
    }
    case "bool": {
      const v = raw.trim().toLowerCase();
      if (["true", "t", "y", "yes", "1"].includes(v)) return true;
      if (["false", "f", "n", "no", "0"].includes(v)) return false;
      throw bad();
    }
    case "size":
      parseSize(raw);
      return raw.trim().toLowerCase();
    case "time":
      parseWalltime(raw);
      return raw.trim();
    case "nodestate": {
      const v = raw.trim();
      if (!["free", "offline", "down"].includes(v)) throw bad();
      return v;
    }
    case "fedstate": {
      const v = raw.trim().toLowerCase();
      if (v === "active" || v === "draining" || v === "down") return v;
      throw bad();
    }
    case "place":
      parsePlace(raw);
      return raw.trim();
    case "sharing": {
      const v = raw.trim().toLowerCase();
      if (!(NODE_SHARING as readonly string[]).includes(v)) throw bad();
      return v;
    }
    case "qtype": {
      const v = raw.trim().toLowerCase();
      if (v.startsWith("e")) return "Execution";
      if (v.startsWith("r")) return "Route";
      throw bad();
    }
    default:
      return raw;
  }
}

export function isKnownAttr(objKind: ServerObject["kind"], attr: string): boolean {
  return kindOf(objKind, attr) !== undefined;
}

// ---------- typed views ----------

export interface ServerState {
  server: ServerObject;
  queues: Map<string, ServerObject>;
  nodes: Map<string, ServerObject>;
  scheds: Map<string, ServerObject>;
}

export function toServerState(objs: ServerObject[]): ServerState {
  const st: ServerState = {
    server: { kind: "server", name: "server", attrs: {}, ver: -1 },
    queues: new Map(),
    nodes: new Map(),
    scheds: new Map(),
  };
  for (const o of objs) {
    if (o.kind === "server") st.server = o;
    else if (o.kind === "queue") st.queues.set(o.name, o);
    else if (o.kind === "node") st.nodes.set(o.name, o);
    else st.scheds.set(o.name, o);
  }
  return st;
}

export const DEFAULT_PARTITION = "default";

const num = (v: AttrValue | undefined): number | undefined =>
  v === undefined || v === "" ? undefined : typeof v === "number" ? v : Number(v);
const bool = (v: AttrValue | undefined, dflt: boolean): boolean =>
  v === undefined ? dflt : v === true || v === "true" || v === "True";

export function queuePartition(q: ServerObject): string {
  return (q.attrs.partition as string) || DEFAULT_PARTITION;
}

export function nodePartition(n: ServerObject): string {
  return (n.attrs.partition as string) || DEFAULT_PARTITION;
}

export function queueInfo(q: ServerObject): QueueInfo {
  return {
    name: q.name,
    priority: num(q.attrs.priority) ?? 0,
    started: bool(q.attrs.started, true),
    maxRun: num(q.attrs.max_run),
    maxUserRun: num(q.attrs.max_user_run),
  };
}

export function queueEnabled(q: ServerObject): boolean {
  return bool(q.attrs.enabled, true);
}

/**
 * A pool node's power record (shared/scheduler/power.ts), kept in its node object beside the
 * admin state: `pool`, `power_state`, `power_since`, `power_on_at`, `idle_since`. Undefined for
 * a node without a pool (always on).
 */
export function nodePower(n: ServerObject): PowerInfo | undefined {
  const pool = n.attrs.pool;
  if (typeof pool !== "string" || pool === "") return undefined;
  const state = String(n.attrs.power_state ?? "sleep");
  return {
    pool,
    state: state === "up" || state === "provisioning" ? state : "sleep",
    since: num(n.attrs.power_since) ?? 0,
    ...(num(n.attrs.power_on_at) !== undefined ? { poweredOnAt: num(n.attrs.power_on_at) } : {}),
    ...(num(n.attrs.idle_since) !== undefined ? { idleSince: num(n.attrs.idle_since) } : {}),
    ...(num(n.attrs.boot_failed_at) !== undefined ? { bootFailedAt: num(n.attrs.boot_failed_at) } : {}),
  };
}

/** The node's state as PBS shows it: the admin state, unless a free pool node is not up. */
function nodeState(n: ServerObject): NodeState {
  const admin = ((n.attrs.state as string) || "free") as NodeState;
  const power = nodePower(n);
  if (admin !== "free" || !power || power.state === "up") return admin;
  return power.state;
}

export function nodeInfo(n: ServerObject): NodeInfo {
  return {
    name: n.name,
    partition: nodePartition(n),
    state: nodeState(n),
    available: {
      ncpus: num(n.attrs["resources_available.ncpus"]) ?? 0,
      mem: n.attrs["resources_available.mem"] ? parseSize(String(n.attrs["resources_available.mem"])) : 0,
      ngpus: num(n.attrs["resources_available.ngpus"]) ?? 0,
    },
    ...(typeof n.attrs.sharing === "string" ? { sharing: n.attrs.sharing as NodeSharing } : {}),
  };
}

/** Queue resource limit or default as text (e.g. resources_max.walltime). */
export function queueResource(
  q: ServerObject,
  which: "default" | "min" | "max",
  res: string,
): string | undefined {
  const v = q.attrs[`resources_${which}.${res}`];
  return v === undefined ? undefined : String(v);
}

export function serverNum(st: ServerState, attr: string): number | undefined {
  return num(st.server.attrs[attr]);
}

export function serverBool(st: ServerState, attr: string, dflt: boolean): boolean {
  return bool(st.server.attrs[attr], dflt);
}

/** Partitions of this site: every partition a queue or node names. */
export function partitions(st: ServerState): string[] {
  const set = new Set<string>();
  for (const q of st.queues.values()) set.add(queuePartition(q));
  for (const n of st.nodes.values()) set.add(nodePartition(n));
  return [...set].sort();
}

/** Which sched serves a partition (PP-337): the one listing it, else `default`. */
export function schedFor(st: ServerState, partition: string): string {
  for (const s of st.scheds.values()) {
    const parts = String(s.attrs.partition ?? "")
      .split(",")
      .map((p) => p.trim());
    if (parts.includes(partition)) return s.name;
  }
  return "default";
}

export function getQueue(st: ServerState, name: string): ServerObject {
  const q = st.queues.get(name);
  if (!q) throw new NotFoundError(`Unknown queue ${name}`, "UNKQUE");
  return q;
}

export function requireExecutionQueue(q: ServerObject): void {
  if (q.attrs.queue_type && q.attrs.queue_type !== "Execution") {
    throw new InvalidStateError(`Queue ${q.name} is a routing queue; routing queues are not supported yet`);
  }
}

export type FederationState = "active" | "draining" | "down";

/** This site's federation state (server attribute federation_state; active when unset). */
export function federationState(st: ServerState): FederationState {
  const v = String(st.server.attrs.federation_state ?? "active");
  return v === "draining" || v === "down" ? v : "active";
}
