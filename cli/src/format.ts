/**
 * Pure formatting of API views in the formats of the OpenPBS commands (qstat, pbsnodes,
 * tracejob). Column widths, truncation with `*` and line wrapping follow OpenPBS's qstat.c,
 * pbsnodes.c and tracejob.c.
 */
import { escapeControls } from "../../shared/pbs/text.js";
import { traceTime } from "../../shared/pbs/time.js";
import type {
  JobView,
  NodeView,
  PbsAttributes,
  PbsValue,
  QueueView,
  TraceEvent,
} from "../../shared/api/views.js";
import { CHAR_LINE_LIMIT, ctimeString, flatten, str, sub, TIME_ATTRS, trunc } from "./attr-text.js";

import { jsonTypedAttrs } from "./json-values.js";

export { ctimeString, trunc } from "./attr-text.js";
export * from "./format-jobs.js";

export const PBS_VERSION = "metaqueue-0.1.0";

/** One `    name[.resource] = value` entry, wrapped like OpenPBS prt_attr() unless oneLine. */
export function prtAttr(name: string, resource: string | undefined, value: string, oneLine = false): string {
  const key = resource === undefined ? name : `${name}.${resource}`;
  // values hold user text (Variable_List may carry newlines): escaped, so none forges a line
  value = escapeControls(value);
  if (oneLine) return `    ${key} = ${value}`;
  let out = `    ${key} = `;
  let start = key.length + 7;
  const tokens = value.split(",").filter((t) => t !== "");
  let first = true;
  for (let i = 0; i < tokens.length; i++) {
    const buf = tokens[i];
    if (buf.length + start < CHAR_LINE_LIMIT) {
      out += buf;
      start += buf.length;
    } else {
      if (!first) {
        out += "\n\t";
        start = 9;
      }
      for (const ch of buf) {
        out += ch;
        if (++start > CHAR_LINE_LIMIT) {
          start = 8;
          out += "\n\t";
        }
      }
    }
    if (i + 1 < tokens.length) {
      first = false;
      out += ",";
    }
  }
  return out;
}

function fullBlock(title: string, attrs: PbsAttributes, oneLine: boolean): string {
  const lines = [title];
  for (const [name, res, text] of flatten(attrs)) lines.push(prtAttr(name, res, text, oneLine));
  return `${lines.join("\n")}\n\n`;
}

/** `qstat -f`: `Job Id: <id>` then `    attr = value` lines, a blank line after each job. */
export function qstatFull(jobs: JobView[], oneLine = false): string {
  return jobs.map((j) => fullBlock(`Job Id: ${j.id}`, j.attributes, oneLine)).join("");
}

/** Attribute map for pbsnodes -F json: numeric time attributes become ctime strings. */
function jsonAttrs(attrs: PbsAttributes): Record<string, PbsValue> {
  const out: Record<string, PbsValue> = {};
  for (const [k, v] of Object.entries(attrs)) {
    out[k] = typeof v === "number" && TIME_ATTRS.has(k) ? ctimeString(v) : v;
  }
  return out;
}

export interface JsonOptions {
  serverName: string;
  /** epoch seconds */
  now: number;
}

function jsonDoc(
  key: string,
  items: Array<{ name: string; attributes: PbsAttributes }>,
  o: JsonOptions,
  always = false,
): string {
  const doc: Record<string, unknown> = {
    timestamp: o.now,
    pbs_version: PBS_VERSION,
    pbs_server: o.serverName,
  };
  if (items.length > 0 || always) {
    const map: Record<string, unknown> = {};
    // qstat's values carry OpenPBS's JSON types (numbers as numbers: json-values.ts)
    for (const it of items) map[it.name] = jsonTypedAttrs(it.attributes);
    doc[key] = map;
  }
  return `${JSON.stringify(doc, null, 4)}\n`;
}

/** `qstat -f -F json` (OpenPBS shape; "Jobs" is absent when there are no jobs, as in OpenPBS). */
export function qstatJson(jobs: JobView[], o: JsonOptions): string {
  return jsonDoc(
    "Jobs",
    jobs.map((j) => ({ name: j.id, attributes: j.attributes })),
    o,
  );
}

/** `qstat -Qf -F json` */
export function queueJson(queues: QueueView[], o: JsonOptions): string {
  return jsonDoc("Queue", queues, o);
}

/** `qstat -Bf -F json` */
export function serverJson(
  servers: Array<{ name: string; attributes: PbsAttributes }>,
  o: JsonOptions,
): string {
  return jsonDoc("Server", servers, o);
}

/** Job counts by state from `state_count` ("Transit:0 Queued:1 ..." or an object). */
function stateCounts(v: PbsValue | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (v === undefined || v === null) return out;
  if (typeof v === "object") {
    for (const [k, x] of Object.entries(v)) out[k] = String(x);
    return out;
  }
  for (const m of String(v).matchAll(/(\w+):(\S+)/g)) out[m[1]] = m[2];
  return out;
}

function istrue(v: PbsValue | undefined): boolean {
  if (v === true) return true;
  if (v === undefined || typeof v === "object") return false;
  return ["TRUE", "True", "true", "1"].includes(String(v));
}

export const QUEUE_HEADER =
  "Queue              Max   Tot Ena Str   Que   Run   Hld   Wat   Trn   Ext Type\n" +
  "---------------- ----- ----- --- --- ----- ----- ----- ----- ----- ----- ----\n";

/** `qstat -Q` (OpenPBS display_statque, non-full). */
export function queueTable(queues: QueueView[], header = true): string {
  let out = header ? QUEUE_HEADER : "";
  for (const q of queues) {
    const a = q.attributes;
    const c = stateCounts(a.state_count);
    const n = (k: string) => trunc(c[k] ?? "0", 5).padStart(5);
    const max = trunc(str(a, "max_running") ?? "0", 5);
    const tot = trunc(str(a, "total_jobs") ?? "0", 5);
    const ena = istrue(a.enabled) ? "yes" : "no";
    const st = istrue(a.started) ? "yes" : "no";
    const type = trunc(str(a, "queue_type") ?? "not defined", 4);
    out +=
      `${trunc(q.name, 16).padEnd(16)} ${max.padStart(5)} ${tot.padStart(5)} ${ena.padStart(3)} ${st.padStart(3)} ` +
      `${n("Queued")} ${n("Running")} ${n("Held")} ${n("Waiting")} ${n("Transit")} ${n("Exiting")} ${type.padEnd(4)}\n`;
  }
  return out;
}

/** `qstat -Qf` */
export function queueFull(queues: QueueView[], oneLine = false): string {
  return queues.map((q) => fullBlock(`Queue: ${q.name}`, q.attributes, oneLine)).join("");
}

export const SERVER_HEADER =
  "Server             Max   Tot   Que   Run   Hld   Wat   Trn   Ext Status\n" +
  "---------------- ----- ----- ----- ----- ----- ----- ----- ----- -----------\n";

/** `qstat -B` (OpenPBS display_statserver, non-full). */
export function serverTable(
  servers: Array<{ name: string; attributes: PbsAttributes }>,
  header = true,
): string {
  let out = header ? SERVER_HEADER : "";
  for (const s of servers) {
    const a = s.attributes;
    const c = stateCounts(a.state_count);
    const n = (k: string) => trunc(c[k] ?? "0", 5).padStart(5);
    const max = trunc(str(a, "max_running") ?? "0", 5);
    const tot = trunc(str(a, "total_jobs") ?? "0", 5);
    const status = trunc(str(a, "server_state") ?? "", 10);
    out +=
      `${trunc(s.name, 16).padEnd(16)} ${max.padStart(5)} ${tot.padStart(5)} ` +
      `${n("Queued")} ${n("Running")} ${n("Held")} ${n("Waiting")} ${n("Transit")} ${n("Exiting")} ${status.padEnd(10)}\n`;
  }
  return out;
}

/** `qstat -Bf` */
export function serverFull(
  servers: Array<{ name: string; attributes: PbsAttributes }>,
  oneLine = false,
): string {
  return servers.map((s) => fullBlock(`Server: ${s.name}`, s.attributes, oneLine)).join("");
}

/** `pbsnodes -a`: the node name, then `     attr = value` lines, then a blank line. */
export function pbsnodesText(nodes: NodeView[]): string {
  let out = "";
  for (const node of nodes) {
    out += `${node.name}\n`;
    for (const [name, res, text] of flatten(node.attributes)) {
      out += `     ${res === undefined ? name : `${name}.${res}`} = ${text}\n`;
    }
    out += "\n";
  }
  return out;
}

/** `pbsnodes -a -F json` */
export function pbsnodesJson(nodes: NodeView[], o: JsonOptions): string {
  const doc: Record<string, unknown> = {
    timestamp: o.now,
    pbs_version: PBS_VERSION,
    pbs_server: o.serverName,
  };
  const map: Record<string, unknown> = {};
  for (const n of nodes) {
    const attrs = jsonAttrs(n.attributes);
    const jobs = attrs.jobs;
    if (typeof jobs === "string") {
      const ids = [...new Set(jobs.split(",").map((j) => j.trim().split("/")[0]))].filter((j) => j !== "");
      (attrs as Record<string, unknown>).jobs = ids;
    }
    map[n.name] = attrs;
  }
  doc.nodes = map;
  return `${JSON.stringify(doc, null, 4)}\n`;
}

/** Size (`16gb`, `1048576kb`, bytes as a number) as pbsnodes -S shows it: at most 3 digits. */
function summarySize(v: string | number | undefined): [number, number] {
  if (v === undefined) return [0, 1];
  let n: number;
  let prefix: number;
  if (typeof v === "number") {
    n = Math.floor(v / 1024);
    prefix = 1;
  } else {
    const m = /^(\d+)([kmgt]?)/i.exec(v.trim());
    if (!m) return [0, 1];
    n = Number(m[1]);
    prefix = m[2] ? " kmgt".indexOf(m[2].toLowerCase()) : 0;
  }
  return [n, prefix];
}

function shrink(n: number, prefix: number): string {
  const letters = " kmgtp?";
  let v = n;
  let p = prefix;
  while (v > 999) {
    v = ((v % 1024) + v) >> 10;
    p++;
  }
  return `${v}${letters[p]}b`;
}

function toPrefix(n: number, from: number, to: number): number {
  let v = n;
  let p = from;
  while (p < to) {
    v = ((v % 1024) + v) >> 10;
    p++;
  }
  while (p > to) {
    v *= 1024;
    p--;
  }
  return v;
}

function jobList(attrs: PbsAttributes): string[] {
  const jobs = str(attrs, "jobs");
  if (!jobs) return [];
  return [...new Set(jobs.split(",").map((j) => j.trim().split("/")[0]))].filter((j) => j !== "");
}

/** `pbsnodes -aS` and `pbsnodes -aSj` single-line summaries (OpenPBS prt_node_summary). */
export function pbsnodesSummary(nodes: NodeView[], jobSummary = false): string {
  let out = "";
  if (jobSummary) {
    out += "                                                        mem       ncpus   nmics   ngpus\n";
    out += "vnode           state           njobs   run   susp      f/t        f/t     f/t     f/t   jobs\n";
    out +=
      "--------------- --------------- ------ ----- ------ ------------ ------- ------- ------- -------\n";
  } else {
    out +=
      "vnode           state           OS       hardware host            queue        mem     ncpus   nmics   ngpus  comment\n";
    out +=
      "--------------- --------------- -------- -------- --------------- ---------- -------- ------- ------- ------- ---------\n";
  }
  const f = (s: string, w: number) => s.slice(0, w);
  for (const node of nodes) {
    const a = node.attributes;
    const avail = (r: string) => sub(a, "resources_available", r);
    const assigned = (r: string) => sub(a, "resources_assigned", r);
    const state = (str(a, "state") ?? "--").split(",")[0];
    const memAvail =
      a.resources_available && typeof a.resources_available === "object"
        ? a.resources_available.mem
        : undefined;
    const [total, prefix] = summarySize(memAvail);
    const count = (r: string) => Number(avail(r) ?? 0) || 0;
    if (jobSummary) {
      const memAssignedRaw =
        a.resources_assigned && typeof a.resources_assigned === "object"
          ? a.resources_assigned.mem
          : undefined;
      const [asg, asgPrefix] = summarySize(memAssignedRaw);
      const free = total - toPrefix(asg, asgPrefix, prefix);
      const mem = `${shrink(free, prefix)}/${shrink(total, prefix)}`;
      const ft = (r: string) => `${count(r) - (Number(assigned(r) ?? 0) || 0)}/${count(r)}`;
      const jobs = jobList(a);
      out +=
        `${f(node.name, 15).padEnd(15)} ${f(state, 15).padEnd(15)} ${String(jobs.length).padStart(6)} ` +
        `${String(jobs.length).padStart(5)} ${"0".padStart(6)} ${f(mem, 12).padStart(12)} ${f(ft("ncpus"), 7).padStart(7)} ` +
        `${f(ft("nmics"), 7).padStart(7)} ${f(ft("ngpus"), 7).padStart(7)} ${jobs.length ? jobs.join(",") : "--"}\n`;
    } else {
      out +=
        `${f(node.name, 15).padEnd(15)} ${f(state, 15).padEnd(15)} ${f(avail("OS") ?? "--", 8).padEnd(8)} ` +
        `${f(avail("hardware") ?? "--", 8).padEnd(8)} ${f(avail("host") ?? "--", 15).padEnd(15)} ` +
        `${f(str(a, "queue") ?? "--", 10).padEnd(10)} ${f(memAvail === undefined ? "0kb" : shrink(total, prefix), 8).padStart(8)} ` +
        `${f(String(count("ncpus")), 7).padStart(7)} ${f(String(count("nmics")), 7).padStart(7)} ` +
        `${f(String(count("ngpus")), 7).padStart(7)} ${str(a, "comment") ?? "--"}\n`;
    }
  }
  return out;
}

/** `pbsnodes -l`: nodes that are down or offline, `name state comment`. */
export function pbsnodesMarked(nodes: NodeView[]): string {
  let out = "";
  for (const node of nodes) {
    const state = str(node.attributes, "state") ?? "";
    if (!/down|offline/.test(state)) continue;
    out +=
      `${node.name.padEnd(20)} ${state.padEnd(26)} ${str(node.attributes, "comment") ?? ""}`.trimEnd() + "\n";
  }
  return out;
}

/** `tracejob`: a blank line, `Job: <id>`, a blank line, then `MM/DD/YYYY HH:MM:SS  S    message` lines. */
export function tracejobText(jobId: string, events: TraceEvent[]): string {
  const sorted = [...events].sort((x, y) => x.time - y.time);
  let out = `\nJob: ${jobId}\n\n`;
  // Messages hold user text (names, comments): a control character in a record stored before
  // submit refused them must still never forge a line or drive the terminal.
  for (const e of sorted)
    out += `${traceTime(e.time).padEnd(20)} ${e.source.padEnd(5)}${escapeControls(e.message)}\n`;
  return out;
}
