/**
 * qsub on the server side: merge #PBS directives with the command line, apply the queue's
 * policy, register dependencies, and write the job in one conditional request.
 */
import path from "node:path";
import { MAX_DEPEND_JOBS } from "../pbs/depend.js";
import type { SubmitRequest } from "../pbs/types.js";
import { checkAllocation } from "../accounting/allocations.js";
import { newSessionKey, sessionKeyHash } from "../auth/session-key.js";
import { NotFoundError, PBS_EXIT, PbsParseError, RejectedError, UnauthorizedError } from "../errors.js";
import { arrayIndices, parseArrayRange } from "../pbs/array.js";
import { parseDepend } from "../pbs/depend.js";
import { parseDestination, parseJobId } from "../pbs/jobid.js";
import { checkJobStartOptions } from "../pbs/job-start.js";
import { noMailerReason } from "./mail.js";
import { checkStaging } from "./staging.js";
import { checkInteractive, mergeOptions, parseDirectives } from "../pbs/qsub-options.js";
import { normalizeResources, requestSelectText, totals } from "../pbs/resources.js";
import { formatSize, parseSize } from "../pbs/size.js";
import type { QsubOptions, ResourceRequest } from "../pbs/types.js";
import { checkFreeText, checkJobName, emptyScriptReason, validateQsubOptions } from "../pbs/validate.js";
import { formatWalltime, parseWalltime } from "../pbs/walltime.js";
import { planCycle } from "../scheduler/plan.js";
import type { EdgeRecord, ServerObject } from "../server/records.js";
import { findPeer, isThisSite, type PeerInfo, type SiteContext } from "./context.js";
import { sendToPeer, triggerCycles } from "./messages.js";
import { loadServerState } from "./server-state.js";
import { beforeToAfter, combineEdgeTypes, type EdgeType, edgeOutcome } from "./depend-rules.js";
import type { JobRecord } from "./job.js";
import {
  getQueue,
  nodeInfo,
  nodePartition,
  queueEnabled,
  queuePartition,
  queueResource,
  requireExecutionQueue,
  type ServerState,
} from "./objects.js";
import { groupPutAcct, groupWrite } from "./group-commit.js";
import { queuedRecord } from "./acct-records.js";
import { allocateSeq } from "./seq.js";

export interface Submitter {
  /** PBS user name */
  user: string;
  /** the user's groups (queue acl_groups) */
  groups?: string[];
}

export async function submitJob(
  ctx: SiteContext,
  req: SubmitRequest,
  who: Submitter,
): Promise<{ jobId: string; sessionKey?: string }> {
  if (Buffer.byteLength(req.script, "utf8") > ctx.settings.maxScriptBytes) {
    throw new RejectedError(
      "ScriptTooLarge",
      `script is ${Buffer.byteLength(req.script, "utf8")} bytes; the limit is ${ctx.settings.maxScriptBytes} bytes`,
      413,
      PBS_EXIT.JOBSCRIPTMAXSIZE,
    );
  }
  checkFreeText("submit host", req.submitHost);
  checkFreeText("submit directory", req.submitDir);
  if (req.scriptName !== undefined) checkFreeText("script file name", req.scriptName);
  // Paths from a request are used only normalized and absolute: the MOM then checks that the
  // job's user may use them (shared/exec/run-job.ts).
  if (
    !path.isAbsolute(req.submitDir) ||
    path.resolve(req.submitDir) !== req.submitDir.replace(/(.)\/+$/, "$1")
  )
    throw new PbsParseError(`submit directory must be a normalized absolute path: ${req.submitDir}`);
  const opts = mergeOptions(parseDirectives(req.script), req.options);
  validateQsubOptions(opts);
  checkInteractive(opts);
  // an interactive job runs the submitter's terminal, not the script (PBS ignores its commands)
  if (!opts.interactive) {
    const empty = emptyScriptReason(req.script);
    if (empty) throw new RejectedError("EmptyScript", empty, 400, PBS_EXIT.IVALREQ);
  } else if (!ctx.executor.sessionAddress) {
    throw new RejectedError(
      "InteractiveUnavailable",
      "interactive jobs (-I) are not available at this site: its MOMs run as ECS tasks, which cannot reach the submitter's terminal",
      400,
      PBS_EXIT.IVALREQ,
    );
  }
  // the session's one-time secret: only its hash is kept (the MOM compares against it), the
  // secret itself goes back to the submitter alone, in this answer
  const sessionKey = opts.interactive ? newSessionKey() : undefined;
  const st = await loadServerState(ctx);
  const queue = resolveQueue(ctx, st, opts.queue);
  checkQueueAccepts(queue, who);
  const now = ctx.clock.now();
  const resources = resolveResources(st, queue, opts);
  await checkAllocation(ctx, opts.account);
  checkJobStartOptions(opts, noMailerReason(ctx));
  // stagein/stageout this site can carry out, under the names the MOM reads
  opts.attributes = checkStaging(ctx, opts.attributes);

  const array = opts.arrayRange ? parseArrayRange(opts.arrayRange) : undefined;
  if (array) {
    const max = Number(queue.attrs.max_array_size ?? st.server.attrs.max_array_size ?? 10000);
    const n = arrayIndices(array).length;
    if (n > max)
      throw new RejectedError(
        "ArrayTooLarge",
        `Array job exceeds server or queue size limit (${n} > ${max})`,
      );
  }

  const seq = await allocateSeq(ctx);
  const seqText = String(seq);
  const id = array ? `${seq}[].${ctx.site.short}` : `${seq}.${ctx.site.short}`;

  // Dependencies: decide now what is already satisfied, what can never be, and what waits.
  const deps = opts.depend ? parseDepend(opts.depend) : [];
  const named = deps.reduce((n, d) => n + d.jobs.length, 0);
  if (named > MAX_DEPEND_JOBS)
    throw new PbsParseError(`illegal -W value: depend names ${named} jobs; the limit is ${MAX_DEPEND_JOBS}`);
  const depPending: string[] = [];
  const edges: EdgeRecord[] = [];
  const beforeTargets: { parent: JobRecord; type: EdgeType }[] = [];
  const remote: { peer: PeerInfo; parentId: string; type: string }[] = [];
  let depOn = 0;
  for (const d of deps) {
    if (d.type === "on") {
      depOn += d.count ?? 0;
      continue;
    }
    for (const ref of d.jobs) {
      const pid = parseJobId(ref);
      const peer = isThisSite(ctx, pid.server) ? undefined : findPeer(ctx, pid.server);
      if (peer) {
        // A parent at a peer: register with it (below, before the job exists) and wait for its word.
        if (d.type.startsWith("before")) {
          throw new RejectedError(
            "BadDependency",
            `${d.type} on a job at another site (${ref}) is not supported`,
          );
        }
        const parentId = `${pid.seq}${pid.arrayIndex !== undefined ? `[${pid.arrayIndex}]` : ""}.${peer.short}`;
        if (!depPending.includes(parentId)) {
          depPending.push(parentId);
          remote.push({ peer, parentId, type: d.type });
        }
        continue;
      }
      const other = await findLocalJob(ctx, ref);
      if (d.type.startsWith("before")) {
        if (!["Q", "H", "W"].includes(other.state)) {
          throw new RejectedError(
            "BadDependency",
            `cannot add ${d.type} dependency: job ${other.id} has already started`,
          );
        }
        const type = beforeToAfter(d.type);
        const seen = beforeTargets.find((t) => t.parent.key === other.key);
        if (seen) seen.type = combinedType(seen.type, type, other.id);
        else beforeTargets.push({ parent: other, type });
        continue;
      }
      const outcome = edgeOutcome(d.type, other);
      if (outcome === "unsatisfiable") {
        throw new RejectedError(
          "BadDependency",
          `dependency ${d.type}:${other.id} can never be satisfied (job ${other.id} ended${
            other.exitStatus !== undefined ? ` with Exit_status ${other.exitStatus}` : " without running"
          })`,
        );
      }
      if (outcome === "pending") {
        const seen = edges.find((e) => e.parentKey === other.key && e.childId === id);
        if (seen) seen.type = combinedType(seen.type as EdgeType, d.type as EdgeType, other.id);
        else {
          depPending.push(other.id);
          edges.push({ parentKey: other.key, childId: id, type: d.type });
        }
      }
    }
  }

  const holds = (opts.hold ? "u" : "") + (depPending.length || depOn ? "s" : "");
  // -a: epoch seconds in the request, ms in the record; W until then (a hold still wins)
  const execAt = opts.executionTime !== undefined ? opts.executionTime * 1000 : undefined;
  const unheld = execAt !== undefined && execAt > now ? "W" : "Q";
  const name = opts.name ?? defaultName(req.scriptName);
  const dir = req.submitDir;
  const suffix = array ? `${seqText}.^array_index^` : seqText;
  const outPath = outputPath(opts.outputPath, dir, `${name}.o${suffix}`);
  const errPath = outputPath(opts.errorPath, dir, `${name}.e${suffix}`);
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.env)) if (k.startsWith("PBS_O_") || opts.exportEnv) env[k] = v;
  env.PBS_O_WORKDIR = dir;
  env.PBS_O_HOST = req.submitHost;
  env.PBS_O_QUEUE = queue.name;
  for (const [k, v] of Object.entries(opts.variables ?? {})) env[k] = v;
  for (const k of opts.variablesFromEnv ?? []) if (req.env[k] !== undefined) env[k] = req.env[k];

  const partition = queuePartition(queue);
  const rl = resourceList(resources);

  const job: JobRecord = {
    id,
    key: seqText,
    seq,
    site: ctx.site.short,
    state: holds ? "H" : unheld,
    holds,
    queue: queue.name,
    partition,
    execAt,
    name,
    owner: `${who.user}@${req.submitHost}`,
    user: who.user,
    account: opts.account,
    project: opts.project,
    script: req.script,
    submitDir: dir,
    submitHost: req.submitHost,
    rl,
    sel: resources.select,
    walltime: resources.walltime,
    priority: opts.priority ?? 0,
    // PBS: an interactive job is never rerun (its terminal is gone with the first run)
    rerunnable: opts.interactive ? false : (opts.rerunnable ?? true),
    ...(sessionKey ? { interactive: { keyHash: sessionKeyHash(sessionKey) } } : {}),
    join: opts.join ?? "n",
    outPath,
    errPath,
    env,
    depend: opts.depend,
    depPending: depPending.length ? depPending : undefined,
    depOn: depOn || undefined,
    extra: extraAttrs(opts, req.submitArguments),
    array: array
      ? {
          range: opts.arrayRange as string,
          indices: arrayIndices(array),
          next: 0,
          max: array.maxConcurrent,
          running: 0,
          done: 0,
          failed: 0,
        }
      : undefined,
    ctime: now,
    qtime: now,
    mtime: now,
    etime: holds || unheld === "W" ? undefined : now,
    runCount: 0,
    hist: [
      {
        time: now,
        source: "S",
        message: `Job Queued at request of ${who.user}@${req.submitHost}, owner = ${who.user}@${req.submitHost}, job name = ${name}, queue = ${queue.name}`,
      },
      ...(holds
        ? [
            {
              time: now,
              source: "S" as const,
              message: `Job held: Hold_Types = ${holds}${depPending.length ? `, waiting on ${depPending.join(", ")}` : ""}`,
            },
          ]
        : []),
    ],
    ver: 0,
  };

  const beforeUpdates = beforeTargets.map(({ parent, type }) => {
    const after: JobRecord = {
      ...parent,
      depPending: [...(parent.depPending ?? []), id],
      depOn: parent.depOn ? parent.depOn - 1 || undefined : undefined,
      holds: parent.holds.includes("s") ? parent.holds : `${parent.holds}s`,
      state: parent.state === "Q" ? "H" : parent.state,
      mtime: now,
    };
    edges.push({ parentKey: job.key, childId: parent.id, type });
    return { before: parent, after };
  });
  if (edges.some((e) => e.parentKey === job.key)) job.hasDeps = true;
  // Before anything is sent or written: a job the store could not hold, or could not let grow.
  checkJobSize(ctx, job, "Job");

  // Register with peers first: if we crash before the job is written, a peer holds an edge to
  // a child that never existed and its later release is ignored here; the other order could
  // leave a job waiting for a message nobody will send.
  for (const r of remote) {
    await sendToPeer(ctx, r.peer, {
      type: "DEPEND_REGISTER",
      parentId: r.parentId,
      childId: id,
      depType: r.type,
    });
  }
  const queued = queuedRecord(job);
  // A plain job joins the submissions arriving with it in shared transactions (group commit),
  // created only if its key is free. Its Q record follows in a plain put, not in the job's
  // transaction (every transactional item is billed twice, issue 14), shared with the records
  // of the submissions beside it (one BatchWriteItem, group-commit.ts): a crash between the two
  // loses the record only until the job's end puts it (job-end.ts settleEnd). A job with
  // dependency edges keeps one transaction for all of it, record included (rare, and the edges
  // need it anyway).
  if (edges.length === 0 && beforeUpdates.length === 0) {
    await groupWrite(ctx.store, { create: job });
    // best effort: the job exists, so qsub must get its ID (a failure here would invite a resubmit)
    await groupPutAcct(ctx.store, queued).catch((err) =>
      ctx.log.warn(`Q record of ${id} left for its end: ${(err as Error).message}`),
    );
  } else await ctx.store.createJob(job, edges, queued, beforeUpdates);
  ctx.metrics?.count("JobsSubmitted", 1, { queue: queue.name });
  if (job.state === "Q") await triggerCycles(ctx, [partition], "submit");
  return sessionKey ? { jobId: id, sessionKey } : { jobId: id };
}

export function resolveQueue(ctx: SiteContext, st: ServerState, dest: string | undefined): ServerObject {
  let name = String(st.server.attrs.default_queue ?? "");
  if (dest) {
    const d = parseDestination(dest);
    if (!isThisSite(ctx, d.server)) {
      throw new RejectedError(
        "UnknownServer",
        `cannot submit to ${dest}: server ${d.server} is not this server (${ctx.site.server}) and no peering to it is configured`,
      );
    }
    if (d.queue) name = d.queue;
  }
  if (!name) throw new RejectedError("NoDefaultQueue", "No default queue specified");
  try {
    const q = getQueue(st, name);
    requireExecutionQueue(q);
    return q;
  } catch (err) {
    if (err instanceof NotFoundError) throw new RejectedError("UnknownQueue", `Unknown queue ${name}`);
    throw err;
  }
}

const aclList = (v: unknown) =>
  String(v ?? "")
    .split(",")
    .map((u) => u.trim().replace(/@.*$/, ""))
    .filter(Boolean);

/**
 * PBS queue ACLs: with `acl_user_enable` the user must be in `acl_users`; with
 * `acl_group_enable` one of the user's groups must be in `acl_groups`. Both apply when both
 * are enabled.
 */
export function checkQueueAccepts(q: ServerObject, who: Submitter): void {
  if (!queueEnabled(q)) throw new RejectedError("QueueDisabled", `Queue ${q.name} is not enabled`);
  if (q.attrs.acl_user_enable === true && !aclList(q.attrs.acl_users).includes(who.user))
    throw new UnauthorizedError(
      `Unauthorized Request: user ${who.user} is not in the access list of queue ${q.name}`,
    );
  if (q.attrs.acl_group_enable === true) {
    const groups = aclList(q.attrs.acl_groups);
    if (!(who.groups ?? []).some((g) => groups.includes(g)))
      throw new UnauthorizedError(
        `Unauthorized Request: no group of ${who.user} is in the group access list of queue ${q.name}`,
      );
  }
}

/** Resource_List as PBS shows it (text values) for a resolved request. */
export function resourceList(req: ResourceRequest): Record<string, string> {
  const t = totals(req);
  const rl: Record<string, string> = {
    ncpus: String(t.ncpus),
    nodect: String(t.nodect),
    select: requestSelectText(req),
    place: req.place ?? "pack",
  };
  if (t.mem) rl.mem = formatSize(t.mem);
  if (t.ngpus) rl.ngpus = String(t.ngpus);
  if (req.walltime !== undefined) rl.walltime = formatWalltime(req.walltime);
  for (const [k, v] of Object.entries(req.other)) rl[k] = v;
  return rl;
}

/** -l with the queue's defaults, checked against its min/max and against the nodes that exist. */
export function resolveResources(st: ServerState, queue: ServerObject, opts: QsubOptions): ResourceRequest {
  const raw: Record<string, string> = { ...(opts.resources ?? {}) };
  const hasSelect = raw.select !== undefined || raw.nodes !== undefined;
  for (const res of ["walltime", "place", "ncpus", "mem", "ngpus"]) {
    if (raw[res] !== undefined) continue;
    if (hasSelect && ["ncpus", "mem", "ngpus"].includes(res)) continue;
    const d = queueResource(queue, "default", res);
    if (d !== undefined) raw[res] = d;
  }
  const req = normalizeResources(raw);
  const t = totals(req);
  const check = (
    res: string,
    have: number | undefined,
    parse: (s: string) => number,
    fmt: (n: number) => string,
  ) => {
    if (have === undefined) return;
    const max = queueResource(queue, "max", res);
    if (max !== undefined && have > parse(max)) {
      throw new RejectedError(
        "ExceedsQueueLimit",
        `Job violates queue and/or server resource limits: ${res} ${fmt(have)} > resources_max.${res} ${max} of queue ${queue.name}`,
      );
    }
    const min = queueResource(queue, "min", res);
    if (min !== undefined && have < parse(min)) {
      throw new RejectedError(
        "BelowQueueMinimum",
        `Job violates queue and/or server resource limits: ${res} ${fmt(have)} < resources_min.${res} ${min} of queue ${queue.name}`,
      );
    }
  };
  check("walltime", req.walltime, parseWalltime, formatWalltime);
  check("ncpus", t.ncpus, Number, String);
  check("mem", t.mem || undefined, parseSize, formatSize);
  check("ngpus", t.ngpus || undefined, Number, String);
  checkCanEverRun(st, queue, req);
  return req;
}

/** A job that could not run even on an empty partition is refused now rather than left forever. */
function checkCanEverRun(st: ServerState, queue: ServerObject, req: ResourceRequest): void {
  const partition = queuePartition(queue);
  const nodes = [...st.nodes.values()]
    .filter((n) => nodePartition(n) === partition)
    .map((n) => ({ ...nodeInfo(n), state: "free" as const }));
  const plan = planCycle({
    now: 0,
    nodes,
    running: [],
    candidates: [
      {
        id: "probe",
        ver: 0,
        queue: queue.name,
        owner: "",
        priority: 0,
        qtime: 0,
        seq: 0,
        select: req.select,
        walltime: req.walltime,
      },
    ],
    queues: [{ name: queue.name, priority: 0, started: true }],
    backfill: false,
    backfillDepth: 0,
  });
  if (plan.start.length === 0) {
    const biggest = nodes.reduce((m, n) => Math.max(m, n.available.ncpus), 0);
    throw new RejectedError(
      "NeverRuns",
      `Job will never run: select=${requestSelectText(req)} does not fit the ${nodes.length} node(s) of partition ${partition} (largest node: ncpus=${biggest})`,
    );
  }
}

async function findLocalJob(ctx: SiteContext, ref: string): Promise<JobRecord> {
  const id = parseJobId(ref);
  if (!isThisSite(ctx, id.server)) {
    throw new RejectedError(
      "UnknownServer",
      `dependency on ${ref}: server ${id.server} is not this server and no peering to it is configured`,
    );
  }
  const key = id.arrayIndex !== undefined && id.arrayIndex !== "" ? `${id.seq}[${id.arrayIndex}]` : id.seq;
  const job = await ctx.store.getJob(key);
  if (!job) throw new RejectedError("UnknownJob", `Unknown Job Id ${ref}`);
  return job;
}

function defaultName(scriptName: string | undefined): string {
  if (!scriptName) return "STDIN";
  const base = path.basename(scriptName);
  return base.length ? checkJobName(base, "job name (from the script file name; use -N)") : "STDIN";
}

/**
 * A job's item must fit DynamoDB (400 KB) with room for the rest of its life, so a job is
 * refused above `maxJobBytes` (300 KB by default) at submit and at qalter, with the sizes that
 * make it up: a refused submit stores nothing, and a stored job can always be changed and ended.
 */
export function checkJobSize(ctx: SiteContext, job: JobRecord, what: string): void {
  const bytes = ctx.store.jobItemBytes(job);
  const limit = ctx.settings.maxJobBytes;
  if (bytes <= limit) return;
  const kb = (n: number) => `${Math.ceil(n / 1024)} KB`;
  const envBytes = Object.entries(job.env).reduce(
    (n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v),
    0,
  );
  throw new RejectedError(
    "JobTooLarge",
    `${what} too large: ${kb(bytes)} (script ${kb(Buffer.byteLength(job.script))}, variables ${kb(envBytes)}); the limit is ${kb(limit)}`,
    413,
    PBS_EXIT.BADATVAL,
  );
}

/** PBS -o/-e: `[host:]path`, relative to the submit dir; a trailing `/` names a directory. */
function outputPath(given: string | undefined, dir: string, dflt: string): string {
  if (!given) return path.join(dir, dflt);
  const p = given.replace(/^[A-Za-z0-9_.-]+:(?=\/)/, "");
  // resolve() normalizes: no `..` or `.` segments reach the MOM
  const abs = path.resolve(dir, p);
  return p.endsWith("/") ? path.join(abs, dflt) : abs;
}

function extraAttrs(opts: QsubOptions, submitArguments?: string): Record<string, string> | undefined {
  const out: Record<string, string> = { ...(opts.attributes ?? {}) };
  if (submitArguments) out.Submit_arguments = submitArguments;
  if (opts.mailPoints) out.Mail_Points = opts.mailPoints;
  if (opts.mailUsers) out.Mail_Users = opts.mailUsers;
  if (opts.shell) out.Shell_Path_List = opts.shell;
  return Object.keys(out).length ? out : undefined;
}

/** Two dependency types on one job, as one edge (depend-rules.ts combineEdgeTypes), or refused. */
function combinedType(a: EdgeType, b: EdgeType, otherId: string): EdgeType {
  const t = combineEdgeTypes(a, b);
  if (!t)
    throw new RejectedError(
      "BadDependency",
      `dependency ${a} and ${b} on job ${otherId} can never both be satisfied`,
    );
  return t;
}
