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

/** The -w header of the default display (OpenPBS display_statjob, wide). */
export const QSTAT_WIDE_HEADER =
  "Job id                         Name            User             Time Use S Queue\n" +
  "-----------------------------  --------------- ---------------  -------- - ---------------\n";

/** Column widths of the default display: normal (PBS_MAXSEQNUM + 5, NAMEL, OWNERL, LOCL) and -w (SIZE*_W). */
const DEFAULT_WIDTHS = { id: 17, name: 16, owner: 16, queue: 16 };
const DEFAULT_WIDE_WIDTHS = { id: 30, name: 15, owner: 15, queue: 15 };

/** `qstat` default display (OpenPBS display_statjob, non-full); `wide` is `qstat -w`. */
export function qstatTable(jobs: JobView[], header = true, wide = false): string {
  const w = wide ? DEFAULT_WIDE_WIDTHS : DEFAULT_WIDTHS;
  let out = header && jobs.length > 0 ? (wide ? QSTAT_WIDE_HEADER : QSTAT_HEADER) : "";
  for (const job of jobs) {
    const a = job.attributes;
    const jid = trunc(shortJobId(job.id), w.id);
    const rawName = str(a, "Job_Name") ?? "";
    // PBS cuts a name that fills its column (>=, not >), unlike the other columns
    const name = rawName.length >= w.name ? `${rawName.slice(0, w.name - 1)}*` : rawName;
    const owner = trunc(ownerUser(a), w.owner);
    const timeu = trunc(sub(a, "resources_used", "cput") ?? "0", 8);
    const state = trunc(str(a, "job_state") ?? "", 1);
    const queue = trunc(queueOnly(a), w.queue);
    out += `${jid.padEnd(w.id)} ${name.padEnd(w.name)} ${owner.padEnd(w.owner)}  ${timeu.padStart(8)} ${state.padEnd(1)} ${queue.padEnd(w.queue)}\n`;
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
  /** -w: the wide layout (IDs to 30 characters, names and users to 15) */
  wide?: boolean;
  header?: boolean;
}

/**
 * Column widths of the alternate display, in order: job ID, user, queue, job name, session,
 * NDS, TSK. Normal: OpenPBS SIZEJOBID, SIZEUSER, SIZEQUEUENAME...; -w: SIZEJOBID_W, SIZEUSER_W,
 * PBS_MAXQUEUENAME, SIZEJOBNAME_W, SIZESESSID_W, SIZENDS_W, SIZETSK_W.
 */
const ALT_WIDTHS = [15, 8, 8, 10, 6, 3, 3] as const;
const ALT_WIDE_WIDTHS = [30, 15, 15, 15, 8, 4, 5] as const;

/** The -w header of the alternate display: its columns sized like the rows (altdsp_statjob). */
function altWideHeader(): string {
  const w = ALT_WIDE_WIDTHS;
  const names = ["Job ID", "Username", "Queue", "Jobname", "SessID", "NDS", "TSK"];
  const lead = w.map((n) => " ".repeat(n)).join(" ");
  const head = names.map((t, i) => t.slice(0, w[i]).padEnd(w[i])).join(" ");
  const dashes = w.map((n) => "-".repeat(n)).join(" ");
  return (
    `${lead} Req'd  Req'd   Elap\n` + `${head} Memory Time  S Time\n` + `${dashes} ------ ----- - -----\n`
  );
}

/**
 * The -s comment line's text: PBS shortens a comment longer than 74 characters (114 with -w) to
 * 70 (110) and `...` (COMMENTLENSCOPE_* and COMMENTLEN_* in pbs_share.h, through pbs_strncpy).
 */
function altComment(comment: string, wide: boolean): string {
  if (comment.length <= 74) return comment;
  if (wide) return comment.length > 114 ? `${comment.slice(0, 110)}...` : comment;
  return `${comment.slice(0, 70)}...`;
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

/** `qstat -a` / `qstat -u user` alternate display (OpenPBS altdsp_statjob), normal or -w. */
export function qstatAltTable(jobs: JobView[], opts: AltOptions): string {
  const wide = !!opts.wide;
  const [idW, userW, queueW, nameW, sessW, ndsW, tskW] = wide ? ALT_WIDE_WIDTHS : ALT_WIDTHS;
  let out = "";
  if (opts.header !== false) {
    out += `\n${opts.serverName}: ${opts.serverComment ?? ""}`;
    if (wide) out += `\n${altWideHeader()}`;
    else {
      out += `\n${" ".repeat(60)}${"Req'd".padEnd(7)}${"Req'd".padEnd(8)}Elap\n`;
      out += "Job ID          Username Queue    Jobname    SessID NDS TSK Memory Time  S Time\n";
      out += "--------------- -------- -------- ---------- ------ --- --- ------ ----- - -----\n";
    }
  }
  const blank = " -- ";
  const fit = (s: string, w: number) => s.slice(0, w);
  for (const job of jobs) {
    const a = job.attributes;
    const tv = (v: string | undefined, n: number) => (v === undefined ? blank : trunc(v, n));
    const jobn = tv(str(a, "Job_Name"), nameW);
    const usern = tv(str(a, "Job_Owner") === undefined ? undefined : ownerUser(a), userW);
    const queuen = tv(str(a, "queue") === undefined ? undefined : queueOnly(a), queueW);
    const sess = tv(str(a, "session_id"), sessW);
    const nodect = tv(sub(a, "Resource_List", "nodect"), ndsW);
    const ncpus = sub(a, "Resource_List", "ncpus");
    const tasks = tv(ncpus === "0" ? undefined : ncpus, tskW);
    const rl = a.Resource_List;
    const memRaw = rl && typeof rl === "object" ? rl.mem : undefined;
    const rqmem = memRaw === undefined ? blank : cnvSize(memRaw);
    const cput = sub(a, "Resource_List", "cput");
    const rqtime = (cput ?? sub(a, "Resource_List", "walltime")) || blank;
    const eltime =
      (cput !== undefined ? sub(a, "resources_used", "cput") : sub(a, "resources_used", "walltime")) || blank;
    const state = str(a, "job_state") ?? blank;
    const jid = trunc(job.id, idW);
    // -w prints the state unclipped (%1s), the normal layout clips it (%1.1s)
    const st = wide ? state : fit(state, 1);
    out +=
      `${fit(jid, idW).padEnd(idW)} ${fit(usern, userW).padEnd(userW)} ${fit(queuen, queueW).padEnd(queueW)} ` +
      `${fit(jobn, nameW).padEnd(nameW)} ${fit(sess, sessW).padStart(sessW)} ${fit(nodect, ndsW).padStart(ndsW)} ${fit(tasks, tskW).padStart(tskW)} ` +
      `${fit(rqmem, 6).padStart(6)} ${fit(rqtime, 5).padStart(5)} ${st} ${fit(eltime, 5).padStart(5)}`;
    out += opts.oneLine ? " " : "\n";
    if (opts.nodes) out += prtNodes(str(a, "exec_host") ?? "", !!opts.oneLine);
    if (opts.comments) {
      const comment = str(a, "comment");
      if (comment) out += `   ${altComment(comment, wide)}\n`;
    }
    if (opts.oneLine && !opts.nodes && !opts.comments) out = `${out.trimEnd()}\n`;
  }
  return out;
}
