/** qmgr: create, set, unset, delete, list and print server objects, each change conditional. */
import {
  InvalidStateError,
  NotFoundError,
  PbsParseError,
  RejectedError,
  UnauthorizedError,
} from "../errors.js";
import { chargedCoreSeconds } from "../accounting/allocations.js";
import { parseQmgr, type QmgrCommand } from "../pbs/qmgr.js";
import type { AttrValue, ServerObject } from "../server/records.js";
import type { SiteContext } from "./context.js";
import { triggerCycles } from "./messages.js";
import { invalidateServerState, loadServerState } from "./server-state.js";
import { convertAttr, nodePartition, partitions, queuePartition, type ServerState } from "./objects.js";

export interface QmgrActor {
  user: string;
  manager: boolean;
  operator?: boolean;
}

/**
 * What an operator may change with qmgr (PBS gives operators the day-to-day switches: start
 * and stop queues, take nodes offline, pause scheduling). Creating, deleting and every other
 * attribute, `managers` and `operators` included, need a manager.
 */
export const OPERATOR_ATTRS: Record<string, readonly string[]> = {
  server: ["scheduling", "comment"],
  queue: ["enabled", "started", "comment"],
  node: ["state", "comment"],
  sched: ["scheduling", "comment"],
};

/** Throws unless the actor may run this (changing) command. */
export function mayChange(actor: QmgrActor, cmd: QmgrCommand): void {
  if (actor.manager) return;
  const allowed = OPERATOR_ATTRS[cmd.objectType] ?? [];
  const operatorOk =
    actor.operator &&
    (cmd.verb === "set" || cmd.verb === "unset") &&
    cmd.attrs.length > 0 &&
    cmd.attrs.every((a) => allowed.includes(a.name));
  if (!operatorOk)
    throw new UnauthorizedError(
      `Unauthorized Request: ${actor.user} is not a manager${
        actor.operator
          ? " (operators may only set " +
            Object.entries(OPERATOR_ATTRS)
              .map(([k, v]) => `${k} ${v.join("/")}`)
              .join(", ") +
            ")"
          : ""
      }`,
    );
}

const KINDS = { server: "server", queue: "queue", node: "node", sched: "sched" } as const;

export async function runQmgr(ctx: SiteContext, text: string, actor: QmgrActor): Promise<string> {
  const cmd = parseQmgr(text);
  if (cmd.objectType === "resource")
    throw new RejectedError("NotSupported", "qmgr: custom resources are not supported yet");
  if (cmd.objectType === "project") return projectCommand(ctx, cmd, actor);
  const kind = KINDS[cmd.objectType];
  const st = await loadServerState(ctx);
  if (cmd.verb === "list" || cmd.verb === "print") return render(ctx, st, cmd);
  mayChange(actor, cmd);
  const names = kind === "server" ? ["server"] : cmd.names.map((n) => n.replace(/@.*$/, ""));
  if (!names.length) throw new PbsParseError("qmgr: Syntax error: object name required");
  const touched = new Set<string>();
  for (const name of names) {
    const existing = kind === "server" ? st.server : mapOf(st, kind).get(name);
    if (cmd.verb === "create") {
      if (existing && existing.ver >= 0)
        throw new RejectedError("Exists", `qmgr obj=${name} svr=default: Object already exists`);
      const obj: ServerObject = { kind, name, attrs: defaults(kind), ver: -1 };
      applyAttrs(obj, cmd);
      validate(obj);
      await ctx.store.putServerObject(obj);
    } else if (cmd.verb === "delete") {
      if (!existing || existing.ver < 0)
        throw new NotFoundError(`qmgr obj=${name} svr=default: Unknown ${kind}`);
      if (kind === "server") throw new InvalidStateError("qmgr: the server cannot be deleted");
      if (kind === "queue") {
        const active = await ctx.store.listJobs(name, false, { limit: 1 });
        if (active.length) throw new InvalidStateError(`qmgr obj=${name} svr=default: Queue is not empty`);
      }
      await ctx.store.deleteServerObject(kind, name, existing.ver);
    } else {
      if (!existing || (existing.ver < 0 && kind !== "server"))
        throw new NotFoundError(`qmgr obj=${name} svr=default: Unknown ${kind}`);
      const obj: ServerObject = { ...existing, attrs: { ...existing.attrs } };
      applyAttrs(obj, cmd);
      validate(obj);
      await ctx.store.putServerObject(obj, existing.ver < 0 ? undefined : existing.ver);
      if (kind === "queue") touched.add(queuePartition(obj));
      if (kind === "node") touched.add(nodePartition(obj));
    }
  }
  invalidateServerState(ctx);
  // Node or queue changes can free or take resources: let the affected schedulers look again.
  if (kind === "server" || kind === "sched")
    for (const p of partitions(await loadServerState(ctx))) touched.add(p);
  if (touched.size) await triggerCycles(ctx, touched, "qmgr");
  return "";
}

function mapOf(st: ServerState, kind: "queue" | "node" | "sched"): Map<string, ServerObject> {
  return kind === "queue" ? st.queues : kind === "node" ? st.nodes : st.scheds;
}

function defaults(kind: ServerObject["kind"]): Record<string, AttrValue> {
  if (kind === "queue") return { queue_type: "Execution" };
  if (kind === "node")
    return {
      state: "free",
      "resources_available.ncpus": 1,
      "resources_available.mem": "1gb",
      "resources_available.ngpus": 0,
    };
  if (kind === "sched") return { scheduling: true };
  return {};
}

function applyAttrs(obj: ServerObject, cmd: QmgrCommand): void {
  for (const a of cmd.attrs) {
    if (cmd.verb === "unset") {
      delete obj.attrs[a.name];
      continue;
    }
    const v = convertAttr(obj.kind, a.name, a.value);
    if (a.op === "=") obj.attrs[a.name] = v;
    else {
      const cur = obj.attrs[a.name];
      if (typeof v === "number")
        obj.attrs[a.name] = (typeof cur === "number" ? cur : 0) + (a.op === "+=" ? v : -v);
      else {
        const list = String(cur ?? "")
          .split(",")
          .filter(Boolean);
        const items = String(v).split(",").filter(Boolean);
        obj.attrs[a.name] = (
          a.op === "+="
            ? [...list, ...items.filter((i) => !list.includes(i))]
            : list.filter((i) => !items.includes(i))
        ).join(",");
      }
    }
  }
}

function validate(obj: ServerObject): void {
  if (obj.kind === "queue" && obj.attrs.queue_type === undefined)
    throw new PbsParseError("qmgr: queue_type must be set");
}

const fmt = (v: AttrValue) => (typeof v === "boolean" ? (v ? "True" : "False") : String(v));

function render(ctx: SiteContext, st: ServerState, cmd: QmgrCommand): string {
  const kind = cmd.objectType as ServerObject["kind"];
  const objs =
    kind === "server"
      ? [st.server]
      : cmd.names.length
        ? cmd.names.map((n) => {
            const o = mapOf(st, kind).get(n.replace(/@.*$/, ""));
            if (!o) throw new NotFoundError(`qmgr obj=${n} svr=default: Unknown ${kind}`);
            return o;
          })
        : [...mapOf(st, kind).values()];
  const lines: string[] = [];
  if (cmd.verb === "list") {
    for (const o of objs) {
      lines.push(kind === "server" ? `Server ${ctx.site.server}` : `${cap(kind)} ${o.name}`);
      for (const [k, v] of Object.entries(o.attrs).sort()) lines.push(`    ${k} = ${fmt(v)}`);
      lines.push("");
    }
    return lines.join("\n");
  }
  // print: the qmgr commands that recreate the objects (for `qmgr -c "print server"` backups)
  const printOne = (o: ServerObject, k: ServerObject["kind"]) => {
    const target = k === "server" ? "server" : `${k} ${o.name}`;
    if (k !== "server") lines.push(`create ${target}`);
    for (const [a, v] of Object.entries(o.attrs).sort()) lines.push(`set ${target} ${a} = ${fmt(v)}`);
  };
  if (kind === "server") {
    lines.push("#", "# Create queues and set their attributes.", "#");
    for (const q of st.queues.values()) printOne(q, "queue");
    lines.push("#", "# Set server attributes.", "#");
    printOne(st.server, "server");
  } else for (const o of objs) printOne(o, kind);
  return `${lines.join("\n")}\n`;
}

const cap = (s: string) => s[0].toUpperCase() + s.slice(1);

/**
 * `set project P1 allocation = 1000` (core-hours at this site), `unset project P1 allocation`,
 * `list project [P1]`. Usage is not settable: it only comes from jobs that ended.
 */
async function projectCommand(ctx: SiteContext, cmd: QmgrCommand, actor: QmgrActor): Promise<string> {
  if (cmd.verb === "list" || cmd.verb === "print") {
    const all = await ctx.store.listProjects();
    const shown = cmd.names.length ? all.filter((p) => cmd.names.includes(p.account)) : all;
    if (cmd.names.length && shown.length < cmd.names.length)
      throw new NotFoundError(`qmgr obj=${cmd.names.join(",")} svr=default: Unknown project`);
    const lines: string[] = [];
    for (const p of shown) {
      if (cmd.verb === "print") {
        if (p.granted !== undefined) lines.push(`set project ${p.account} allocation = ${p.granted}`);
        continue;
      }
      lines.push(`Project ${p.account}`);
      if (p.granted !== undefined) lines.push(`    allocation = ${p.granted}`);
      lines.push(`    allocation_used = ${(chargedCoreSeconds(p) / 3600).toFixed(4)}`);
      lines.push("");
    }
    return lines.length ? `${lines.join("\n")}\n` : "";
  }
  if (!actor.manager)
    throw new UnauthorizedError(`qmgr: Unauthorized Request: ${actor.user} is not a manager`);
  if (cmd.verb !== "set" && cmd.verb !== "unset")
    throw new PbsParseError(`qmgr: projects take set, unset and list (not ${cmd.verb})`);
  for (const a of cmd.attrs) {
    if (a.name !== "allocation")
      throw new PbsParseError(`qmgr: Unknown attribute ${a.name} for a project (use allocation)`);
  }
  for (const name of cmd.names) {
    if (cmd.verb === "unset") {
      await ctx.store.setAllocation(name, undefined);
      continue;
    }
    const a = cmd.attrs.find((x) => x.name === "allocation");
    const v = Number(a?.value);
    if (a?.op !== "=" || !Number.isFinite(v) || v < 0)
      throw new PbsParseError(`qmgr: allocation must be "= <core-hours>", a number >= 0`);
    await ctx.store.setAllocation(name, v);
  }
  return "";
}
