/**
 * qstat's job tables: the default display and the alternate one (-a, -n, -s, -u...), normal and
 * wide (-w). Column widths, `*` truncation and the headers follow OpenPBS qstat.c
 * (display_statjob, altdsp_statjob and its SIZE*_W widths).
 */
import type { JobView } from "../../shared/api/views.js";
import { CHAR_LINE_LIMIT, ownerUser, queueOnly, str, sub, trunc } from "./attr-text.js";

/** Job ID as the default table shows it: up to the first component of the server name. */
function shortJobId(id: string): string {
  const first = id.indexOf(".");
  if (first < 0) return id;
  const second = id.indexOf(".", first + 1);
  return second < 0 ? id : id.slice(0, second);
}

export const QSTAT_HEADER =
  "Job id            Name             User              Time Use S Queue\n" +
  "----------------  ---------------- ----------------  -------- - -----\n";

/** `qstat` default display (OpenPBS display_statjob, non-full). */
export function qstatTable(jobs: JobView[], header = true): string {
  let out = header && jobs.length > 0 ? QSTAT_HEADER : "";
  for (const job of jobs) {
    const a = job.attributes;
    const jid = trunc(shortJobId(job.id), 17);
    const rawName = str(a, "Job_Name") ?? "";
    const name = rawName.length >= 16 ? `${rawName.slice(0, 15)}*` : rawName;
    const owner = trunc(ownerUser(a), 16);
    const timeu = trunc(sub(a, "resources_used", "cput") ?? "0", 8);
    const state = trunc(str(a, "job_state") ?? "", 1);
    const queue = trunc(queueOnly(a), 16);
    out += `${jid.padEnd(17)} ${name.padEnd(16)} ${owner.padEnd(16)}  ${timeu.padStart(8)} ${state.padEnd(1)} ${queue.padEnd(16)}\n`;
  }
  return out;
}

/** OpenPBS cnv_size(): a size string (`4gb`, `1024kb`, bytes as a number) to the alt display's form. */
export function cnvSize(value: string | number): string {
  const letters = " kmgtp?";
  let nval: number;
  let out: number;
  if (typeof value === "number") {
    nval = Math.ceil(value / 1024);
    out = 1;
  } else {
    const m = /^(\d+)([kmgt]?)([bw]?)/i.exec(value.trim());
    if (!m) return value;
    nval = Number(m[1]);
    out = m[2] ? " kmgt".indexOf(m[2].toLowerCase()) : 0;
    if (m[3].toLowerCase() === "w") nval *= 8;
  }
  while (nval > 9999) {
    nval = Math.floor((nval + 1023) / 1024);
    out++;
  }
  return `${nval}${letters[out]}b`;
}

export interface AltOptions {
  serverName: string;
  /** the server's comment attribute, printed after its name */
  serverComment?: string;
  /** -n: list exec_host under each job */
  nodes?: boolean;
  /** -s: list the job comment under each job */
  comments?: boolean;
  /** -1: -n/-s on the job's line */
  oneLine?: boolean;
  header?: boolean;
}

function prtNodes(execHost: string, noNewline: boolean): string {
  const parts = execHost
    .split("+")
    .filter((t) => t !== "")
    .map((t) => {
      const slash = t.indexOf("/");
      const host = slash < 0 ? t : t.slice(0, slash);
      const rest = slash < 0 ? "" : t.slice(slash);
      const shortHost = /^\d+\.\d+\.\d+\.\d+$/.test(host) ? host : host.split(".")[0];
      return shortHost + rest;
    });
  if (parts.length === 0) return noNewline ? "\n" : "";
  const lines: string[] = [];
  let line = "";
  for (const p of parts) {
    if (line.length + p.length < CHAR_LINE_LIMIT - 1) line += `${p}+`;
    else {
      lines.push(line);
      line = `${p}+`;
    }
  }
  lines.push(line.slice(0, -1));
  if (noNewline) return `${lines.join("")}\n`;
  return lines.map((l) => `   ${l}\n`).join("");
}

/** `qstat -a` / `qstat -u user` alternate display (OpenPBS altdsp_statjob, not wide). */
export function qstatAltTable(jobs: JobView[], opts: AltOptions): string {
  let out = "";
  if (opts.header !== false) {
    out += `\n${opts.serverName}: ${opts.serverComment ?? ""}`;
    out += `\n${" ".repeat(60)}${"Req'd".padEnd(7)}${"Req'd".padEnd(8)}Elap\n`;
    out += "Job ID          Username Queue    Jobname    SessID NDS TSK Memory Time  S Time\n";
    out += "--------------- -------- -------- ---------- ------ --- --- ------ ----- - -----\n";
  }
  const blank = " -- ";
  const fit = (s: string, w: number) => s.slice(0, w);
  for (const job of jobs) {
    const a = job.attributes;
    const tv = (v: string | undefined, n: number) => (v === undefined ? blank : trunc(v, n));
    const jobn = tv(str(a, "Job_Name"), 10);
    const usern = tv(str(a, "Job_Owner") === undefined ? undefined : ownerUser(a), 8);
    const queuen = tv(str(a, "queue") === undefined ? undefined : queueOnly(a), 8);
    const sess = tv(str(a, "session_id"), 6);
    const nodect = tv(sub(a, "Resource_List", "nodect"), 3);
    const ncpus = sub(a, "Resource_List", "ncpus");
    const tasks = tv(ncpus === "0" ? undefined : ncpus, 3);
    const rl = a.Resource_List;
    const memRaw = rl && typeof rl === "object" ? rl.mem : undefined;
    const rqmem = memRaw === undefined ? blank : cnvSize(memRaw);
    const cput = sub(a, "Resource_List", "cput");
    const rqtime = (cput ?? sub(a, "Resource_List", "walltime")) || blank;
    const eltime =
      (cput !== undefined ? sub(a, "resources_used", "cput") : sub(a, "resources_used", "walltime")) || blank;
    const state = str(a, "job_state") ?? blank;
    const jid = trunc(job.id, 15);
    out +=
      `${fit(jid, 15).padEnd(15)} ${fit(usern, 8).padEnd(8)} ${fit(queuen, 8).padEnd(8)} ` +
      `${fit(jobn, 10).padEnd(10)} ${fit(sess, 6).padStart(6)} ${fit(nodect, 3).padStart(3)} ${fit(tasks, 3).padStart(3)} ` +
      `${fit(rqmem, 6).padStart(6)} ${fit(rqtime, 5).padStart(5)} ${fit(state, 1)} ${fit(eltime, 5).padStart(5)}`;
    out += opts.oneLine ? " " : "\n";
    if (opts.nodes) out += prtNodes(str(a, "exec_host") ?? "", !!opts.oneLine);
    if (opts.comments) {
      const comment = str(a, "comment");
      if (comment) out += `   ${comment}\n`;
    }
    if (opts.oneLine && !opts.nodes && !opts.comments) out = `${out.trimEnd()}\n`;
  }
  return out;
}
