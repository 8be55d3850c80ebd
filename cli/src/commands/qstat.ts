/**
 * qstat [-f] [-x|-H] [-F json|dsv [-D delim]] [-u users] [-a|-n|-s|-1|-i|-r] [-w] [job_id | destination ...]
 * qstat -Q[f] [-F json|dsv [-D delim]] [destination ...]
 * qstat -B[f] [-F json|dsv [-D delim]] [server ...]
 */
import type { JobView, PbsAttributes, QueueView } from "../../../shared/api/views.js";
import type { ServerEntry } from "../config.js";
import { jobPages } from "../api-client.js";
import type { Ctx } from "../context.js";
import { Command, parseCommand, usageError } from "../parse.js";
import { DSV_DELIMITER, qstatDsv, queueDsv, serverDsv } from "../format-dsv.js";
import {
  qstatAltTable,
  qstatFull,
  qstatJson,
  qstatTable,
  queueFull,
  queueJson,
  queueTable,
  serverFull,
  serverJson,
  serverTable,
} from "../format.js";
import { pbsExitOf } from "../../../shared/pbs/errno.js";
import { destTarget, followMoved, isFinished, isJobId, jobTarget } from "../route.js";

const USAGE =
  "qstat [-f] [-1] [-x] [-H] [-J] [-t] [-F format | -w] [-D delim] [-u user] [-a] [-n] [-s] [-i] [-r] [job_identifier | destination ...]\n" +
  "       qstat -Q [-f] [-F format] [-D delim] [destination ...]\n" +
  "       qstat -B [-f] [-F format] [-D delim] [server_name ...]\n" +
  "       qstat --version";

/** PBSE_HISTJOBID (15139) & 0xff, as qstat exits for a finished job without -x */
export const EXIT_JOB_FINISHED = pbsExitOf("HISTJOBID");

/** How -f output is written: PBS's text, JSON, or delimiter-separated values (-F dsv, -D). */
type Output = { kind: "text" } | { kind: "json" } | { kind: "dsv"; delim: string };

interface QstatOpts {
  f?: boolean;
  x?: boolean;
  H?: boolean;
  F?: string;
  D?: string;
  u?: string;
  Q?: boolean;
  B?: boolean;
  a?: boolean;
  n?: boolean;
  s?: boolean;
  "1"?: boolean;
  w?: boolean;
  i?: boolean;
  r?: boolean;
  t?: boolean;
  J?: boolean;
}

export async function qstat(ctx: Ctx, argv: string[]): Promise<number> {
  const program = new Command()
    .option("-f", "full display")
    .option("-x", "include finished jobs")
    .option("-H", "only finished jobs")
    .option("-F <format>", "output format (default, json or dsv)")
    .option("-D <delim>", "delimiter for -F dsv (default |)")
    .option("-u <users>", "jobs of these users")
    .option("-Q", "queue status")
    .option("-B", "server status")
    .option("-a", "alternate display")
    .option("-n", "alternate display with exec hosts")
    .option("-s", "alternate display with comments")
    .option("-1", "one line per job")
    .option("-w", "wide")
    .option("-i", "only jobs not running")
    .option("-r", "only running jobs")
    .option("-t", "include subjobs")
    .option("-J", "only array jobs")
    .option("-T", "estimated start times")
    .option("-p", "percentage done")
    .option("-G", "sizes in gb")
    .option("-M", "sizes in mw")
    .option("-E", "group by server")
    .argument("[operands...]");
  const stop = parseCommand(ctx, program, argv, USAGE);
  if (stop !== undefined) return stop;
  const o = program.opts<QstatOpts>();
  const operands = program.args;
  let output: Output = { kind: "text" };
  if (o.F !== undefined) {
    const fmt = o.F.toLowerCase();
    if (fmt === "json") output = { kind: "json" };
    else if (fmt === "dsv") output = { kind: "dsv", delim: o.D ?? DSV_DELIMITER };
    else if (fmt !== "default") return usageError(ctx, USAGE, `invalid output format: ${o.F}`);
  }
  // as OpenPBS: -D only with -F dsv, and -w only with PBS's own text layout
  if (o.D !== undefined && output.kind !== "dsv") return usageError(ctx, USAGE, "-D needs -F dsv");
  if (o.w && output.kind !== "text") return usageError(ctx, USAGE, "option w cannot be used with -F");
  if (o.Q && o.B) {
    ctx.deps.stderr.write("qstat: conflicting options.\n");
    return usageError(ctx, USAGE);
  }
  const full = !!o.f || output.kind !== "text";
  if (o.B) return serverStatus(ctx, operands, full, output, !!o["1"] || !!o.w);
  if (o.Q) return queueStatus(ctx, operands, full, output, !!o["1"] || !!o.w);
  return jobStatus(ctx, operands, o, output);
}

async function jobStatus(ctx: Ctx, operands: string[], o: QstatOpts, output: Output): Promise<number> {
  const json = output.kind === "json";
  const full = !!o.f || output.kind !== "text";
  const history = !!o.x || !!o.H;
  const alt = !full && !!(o.a || o.u || o.n || o.s || o.i || o.r || o.H);
  const users = o.u ? o.u.split(",").map((u) => u.trim().split("@")[0]) : undefined;
  const keep = (job: JobView): boolean => {
    const state = String(job.attributes.job_state ?? "");
    if (o.H && !isFinished(job)) return false;
    if (o.i && !"EHQTW".includes(state)) return false;
    if (o.r && !"RS".includes(state)) return false;
    // -J: array jobs only (with -t, their subjobs too: nothing else lists them)
    if (o.J && job.attributes.array !== "True" && job.attributes.array_id === undefined) return false;
    if (users) {
      const owner = String(job.attributes.Job_Owner ?? "").split("@")[0];
      if (!users.includes(owner)) return false;
    }
    return true;
  };

  const all: JobView[] = [];
  let headerDone = false;
  let firstServer: ServerEntry | undefined;
  const emit = async (server: ServerEntry, jobs: JobView[]) => {
    const shown = jobs.filter(keep);
    firstServer ??= server;
    if (json) {
      all.push(...shown);
      return;
    }
    if (shown.length === 0) return;
    if (output.kind === "dsv") ctx.out(qstatDsv(shown, output.delim));
    else if (full) ctx.out(qstatFull(shown, !!o["1"] || !!o.w));
    else if (alt) {
      const serverName = headerDone ? "" : await ctx.serverName(server);
      ctx.out(
        qstatAltTable(shown, {
          serverName,
          header: !headerDone,
          nodes: !!o.n,
          comments: !!o.s,
          oneLine: !!o["1"],
          wide: !!o.w,
        }),
      );
    } else ctx.out(qstatTable(shown, !headerDone, !!o.w));
    headerDone = true;
  };

  /** -t: each array followed by its subjobs (PBS lists subjobs only with -t). */
  const expand = async (server: ServerEntry, jobs: JobView[]): Promise<JobView[]> => {
    const out: JobView[] = [];
    for (const job of jobs) {
      if (job.attributes.array_id !== undefined && !o.t) continue;
      out.push(job);
      if (o.t && job.attributes.array === "True") out.push(...(await ctx.api.listSubjobs(server, job.id)));
    }
    return out;
  };

  const targets = operands.length > 0 ? operands : [undefined];
  for (const operand of targets) {
    try {
      if (operand === undefined) {
        const server = ctx.server();
        for await (const page of jobPages(ctx.api, server, { history, user: o.u }))
          await emit(server, await expand(server, page));
      } else if (isJobId(operand) && /\[\d+-/.test(operand)) {
        // a range of subjobs (`12[1-5]`): each subjob in it the array has
        const t = jobTarget(ctx, operand);
        await emit(t.server, await ctx.api.listSubjobs(t.server, t.id));
      } else if (isJobId(operand)) {
        const t = jobTarget(ctx, operand);
        const job = await followMoved(ctx, await ctx.api.getJob(t.server, t.id, true));
        if (!history && isFinished(job)) {
          ctx.err(`${job.id} Job has finished, use -x or -H to obtain historical job information`);
          ctx.exitCode = EXIT_JOB_FINISHED;
          continue;
        }
        await emit(t.server, o.t ? await expand(t.server, [job]) : [job]);
      } else {
        const d = destTarget(ctx, operand);
        for await (const page of jobPages(ctx.api, d.server, { history, queue: d.queue, user: o.u }))
          await emit(d.server, await expand(d.server, page));
      }
    } catch (e) {
      ctx.fail(e);
    }
  }
  if (json) {
    try {
      const server = firstServer ?? ctx.server();
      ctx.out(
        qstatJson(all, { serverName: await ctx.serverName(server), now: Math.floor(ctx.now() / 1000) }),
      );
    } catch (e) {
      ctx.fail(e);
    }
  }
  return ctx.exitCode;
}

async function queueStatus(
  ctx: Ctx,
  operands: string[],
  full: boolean,
  output: Output,
  oneLine: boolean,
): Promise<number> {
  const json = output.kind === "json";
  const all: QueueView[] = [];
  let headerDone = false;
  let firstServer: ServerEntry | undefined;
  const targets = operands.length > 0 ? operands : [undefined];
  for (const operand of targets) {
    try {
      let server: ServerEntry;
      let queues: QueueView[];
      if (operand === undefined) {
        server = ctx.server();
        queues = await ctx.api.listQueues(server);
      } else {
        const d = destTarget(ctx, operand);
        server = d.server;
        queues = d.queue ? [await ctx.api.getQueue(server, d.queue)] : await ctx.api.listQueues(server);
      }
      firstServer ??= server;
      if (json) all.push(...queues);
      else if (output.kind === "dsv") ctx.out(queueDsv(queues, output.delim));
      else if (full) ctx.out(queueFull(queues, oneLine));
      else if (queues.length > 0) {
        ctx.out(queueTable(queues, !headerDone));
        headerDone = true;
      }
    } catch (e) {
      ctx.fail(e);
    }
  }
  if (json) {
    try {
      const server = firstServer ?? ctx.server();
      ctx.out(
        queueJson(all, { serverName: await ctx.serverName(server), now: Math.floor(ctx.now() / 1000) }),
      );
    } catch (e) {
      ctx.fail(e);
    }
  }
  return ctx.exitCode;
}

async function serverStatus(
  ctx: Ctx,
  operands: string[],
  full: boolean,
  output: Output,
  oneLine: boolean,
): Promise<number> {
  const json = output.kind === "json";
  const all: Array<{ name: string; attributes: PbsAttributes }> = [];
  let headerDone = false;
  const targets = operands.length > 0 ? operands : [undefined];
  for (const operand of targets) {
    try {
      const name = operand?.startsWith("@") ? operand.slice(1) : operand;
      const server = ctx.server(name);
      const view = await ctx.api.getServer(server);
      const item = { name: view.name, attributes: view.attributes };
      if (json) all.push(item);
      else if (output.kind === "dsv") ctx.out(serverDsv([item], output.delim));
      else if (full) ctx.out(serverFull([item], oneLine));
      else {
        ctx.out(serverTable([item], !headerDone));
        headerDone = true;
      }
    } catch (e) {
      ctx.fail(e);
    }
  }
  if (json && all.length > 0) {
    ctx.out(serverJson(all, { serverName: all[0].name, now: Math.floor(ctx.now() / 1000) }));
  }
  return ctx.exitCode;
}
