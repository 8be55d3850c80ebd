/** Jobs, queues, nodes and the server as PBS attribute maps (the shapes of qstat -f -F json). */
import type { JobView, NodeView, PbsAttributes, QueueView, ServerView } from "./views.js";
import { formatSize } from "../pbs/size.js";
import { ctime } from "../pbs/time.js";
import { formatWalltime } from "../pbs/walltime.js";
import type { ServerObject } from "../server/records.js";
import type { SiteIdentity } from "../server/context.js";
import type { JobRecord } from "../server/job.js";
import { nodeInfo } from "../server/objects.js";
import { type ActiveJobs, stateCountOf, totalJobs } from "./counts.js";

export function jobView(job: JobRecord, site: SiteIdentity): JobView {
  const a: PbsAttributes = {
    Job_Name: job.name,
    Job_Owner: job.owner,
    job_state: job.state,
    queue: job.queue,
    server: site.server,
    Checkpoint: "u",
    ctime: ctime(job.ctime),
    Error_Path: `${job.submitHost}:${job.errPath}`,
    Hold_Types: job.holds || "n",
    Join_Path: job.join,
    Keep_Files: "n",
    Mail_Points: job.extra?.Mail_Points ?? "a",
    mtime: ctime(job.mtime),
    Output_Path: `${job.submitHost}:${job.outPath}`,
    Priority: job.priority,
    qtime: ctime(job.qtime),
    Rerunable: job.rerunnable ? "True" : "False",
    Resource_List: { ...job.rl },
    substate: substate(job),
    Variable_List: { ...job.env },
    euser: job.user,
    run_count: job.runCount,
    project: job.project ?? "_pbs_project_default",
    // qsub's arguments, where PBS lists them; absent when qsub had none, as in PBS
    ...(job.extra?.Submit_arguments ? { Submit_arguments: job.extra.Submit_arguments } : {}),
    partition: job.partition,
  };
  if (job.account) a.Account_Name = job.account;
  if (job.interactive) a.interactive = "True";
  if (job.etime) a.etime = ctime(job.etime);
  if (job.execAt !== undefined) a.Execution_Time = ctime(job.execAt);
  if (job.stime) a.stime = ctime(job.stime);
  if (job.obittime) a.obittime = ctime(job.obittime);
  if (job.execHost) a.exec_host = job.execHost;
  if (job.execVnode) a.exec_vnode = job.execVnode;
  if (job.depend) a.depend = job.depend;
  if (job.comment) a.comment = job.comment;
  if (job.exitStatus !== undefined) a.Exit_status = job.exitStatus;
  // Federation: a job keeps its ID wherever it runs; where it runs is `server` (PBS's attribute:
  // the server that has it) and `exec_site`. The origin lists a moved job (M here) with its live
  // state at the peer (JOB_STATE), queued there until one arrives, and finished once its end
  // came back.
  if (job.state === "M") {
    const r = job.remote;
    // a finished subjob is X, as PBS shows it, wherever it ran
    const ended = job.parentKey !== undefined ? "X" : "F";
    a.job_state = job.obittime !== undefined ? ended : (r?.state ?? "Q");
    a.substate = substate({ ...job, state: a.job_state as JobRecord["state"] });
    if (r?.server) a.server = r.server;
    if (job.xfer?.peer) a.exec_site = job.xfer.peer;
    if (job.obittime === undefined && r?.stime !== undefined) a.stime = ctime(r.stime);
    if (job.obittime === undefined && r?.execHost) a.exec_host = r.execHost;
  }
  if (job.inbound) a.exec_site = site.short;
  // (a record from before jobs kept their IDs may point at another one)
  if (job.movedTo && job.movedTo !== job.id) a.moved_to = job.movedTo;
  if (job.xfer && job.state === "T") a.transfer_to = `${job.xfer.into}@${job.xfer.peer}`;
  if (job.inbound) a.origin_job = job.inbound.originId;
  if (job.used) {
    a.resources_used = {
      cput: formatWalltime(job.used.cput),
      mem: formatSize(job.used.mem),
      ncpus: job.used.ncpus,
      walltime: formatWalltime(job.used.walltime),
    };
  } else if (job.state === "R") {
    a.resources_used = {
      cput: "00:00:00",
      mem: "0kb",
      ncpus: Number(job.rl.ncpus ?? 1),
      walltime: "00:00:00",
    };
  }
  if (job.array) {
    a.array = "True";
    a.array_indices_submitted = job.array.range;
    const remaining = job.array.indices.slice(job.array.next);
    a.array_indices_remaining = remaining.length ? compressIndices(remaining) : "-";
    // subjobs deleted before they started are X too: PBS counts them Expired
    const expired = job.array.done + (job.array.deleted?.length ?? 0);
    a.array_state_count = `Queued:${remaining.length} Running:${job.array.running} Exiting:0 Expired:${expired} `;
  }
  if (job.parentKey !== undefined) {
    a.array_id = `${job.parentKey}[].${site.short}`;
    a.array_index = job.arrayIndex ?? 0;
  }
  // (counted and mailed are the server's own once-only marks, not PBS attributes)
  for (const [k, v] of Object.entries(job.extra ?? {}))
    if (k !== "counted" && k !== "mailed" && !(k in a)) a[k] = v;
  return { id: job.id, attributes: a };
}

function substate(job: Pick<JobRecord, "state" | "exitStatus">): number {
  switch (job.state) {
    case "Q":
      return 10;
    case "H":
      return 20;
    case "W":
      return 30;
    case "R":
      return 42;
    case "E":
      return 51;
    case "F":
      return job.exitStatus === undefined ? 91 : 92;
    default:
      return 0;
  }
}

function compressIndices(xs: number[]): string {
  const parts: string[] = [];
  let i = 0;
  while (i < xs.length) {
    let j = i;
    while (j + 1 < xs.length && xs[j + 1] === xs[j] + 1) j++;
    parts.push(j > i ? `${xs[i]}-${xs[j]}` : String(xs[i]));
    i = j + 1;
  }
  return parts.join(",");
}

function flatAttrs(obj: ServerObject): PbsAttributes {
  const out: PbsAttributes = {};
  for (const [k, v] of Object.entries(obj.attrs)) {
    const dot = k.indexOf(".");
    if (dot > 0) {
      const parent = k.slice(0, dot);
      const cur = (out[parent] as Record<string, string | number>) ?? {};
      cur[k.slice(dot + 1)] = typeof v === "boolean" ? (v ? "True" : "False") : v;
      out[parent] = cur;
    } else out[k] = typeof v === "boolean" ? (v ? "True" : "False") : v;
  }
  return out;
}

/** A queue's view; `active`: its jobs as counted (shared/api/counts.ts: capped past JOB_COUNT_CAP). */
export function queueView(q: ServerObject, active: ActiveJobs): QueueView {
  const a = flatAttrs(q);
  return {
    name: q.name,
    attributes: {
      queue_type: "Execution",
      total_jobs: totalJobs(active),
      state_count: stateCountOf(active),
      enabled: "True",
      started: "True",
      ...a,
    },
  };
}

export function nodeView(n: ServerObject, running: JobRecord[]): NodeView {
  const info = nodeInfo(n);
  const mine = running.filter((j) => j.alloc?.some((x) => x.node === n.name));
  const used = { ncpus: 0, mem: 0, ngpus: 0 };
  for (const j of mine) {
    for (const x of j.alloc ?? []) {
      if (x.node !== n.name) continue;
      used.ncpus += x.ncpus;
      used.mem += x.mem;
      used.ngpus += x.ngpus;
    }
  }
  let state: string = info.state;
  // a job holding the node alone (place=excl, or the node's sharing) makes it job-exclusive
  const held = mine.some((j) => j.alloc?.some((x) => x.node === n.name && x.excl));
  if (state === "free" && held) state = "job-exclusive";
  else if (state === "free" && used.ncpus >= info.available.ncpus && info.available.ncpus > 0)
    state = "job-busy";
  const a: PbsAttributes = {
    Mom: String(n.attrs.Mom ?? n.name),
    state,
    pcpus: info.available.ncpus,
    partition: info.partition ?? "default",
    resources_available: {
      ncpus: info.available.ncpus,
      mem: formatSize(info.available.mem),
      ngpus: info.available.ngpus,
      host: n.name,
      vnode: n.name,
    },
    resources_assigned: { ncpus: used.ncpus, mem: formatSize(used.mem), ngpus: used.ngpus },
    resv_enable: "True",
    sharing: info.sharing ?? "default_shared",
  };
  if (mine.length) a.jobs = mine.map((j) => j.id).join(", ");
  if (n.attrs.comment) a.comment = String(n.attrs.comment);
  return { name: n.name, attributes: a };
}

export function serverView(site: SiteIdentity, server: ServerObject, active: ActiveJobs): ServerView {
  return {
    name: site.server,
    short: site.short,
    attributes: {
      server_state: server.attrs.scheduling === false ? "Idle" : "Active",
      server_host: site.server,
      scheduling: server.attrs.scheduling === false ? "False" : "True",
      total_jobs: totalJobs(active),
      state_count: stateCountOf(active),
      pbs_version: "metaqueue-0.1.0",
      ...flatAttrs(server),
    },
  };
}
