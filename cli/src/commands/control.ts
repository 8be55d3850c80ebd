/**
 * qselect, qsig, qorder, qrun: the commands that pick jobs or act on the queue's order and on
 * running jobs (OpenPBS src/cmds/qselect.c, qsig.c, qorder.c, qrun.c).
 */
import {
  parseResourceCriteria,
  parseUserList,
  type SelectCriteria,
  selectMatches,
} from "../../../shared/pbs/qselect.js";
import type { Ctx } from "../context.js";
import { jobPages } from "../api-client.js";
import { Command, parseCommand, usageError } from "../parse.js";
import { destTarget, jobTarget } from "../route.js";

export async function qselect(ctx: Ctx, argv: string[]): Promise<number> {
  const usage =
    "qselect [-A account] [-h hold_list] [-H] [-J] [-l resource_list] [-N name] [-q destination]\n" +
    "               [-r y|n] [-s states] [-t] [-u user_list] [-x]\n       qselect --version";
  const program = new Command()
    .option("-A <account>")
    .option("-h <hold_list>")
    .option("-H")
    .option("-J")
    .option("-l <resource_list>")
    .option("-N <name>")
    .option("-q <destination>")
    .option("-r <rerun>")
    .option("-s <states>")
    .option("-t")
    .option("-u <user_list>")
    .option("-x");
  const stop = parseCommand(ctx, program, argv, usage);
  if (stop !== undefined) return stop;
  if (program.args.length > 0) return usageError(ctx, usage);
  const o = program.opts<Record<string, string | boolean | undefined>>();
  const c: SelectCriteria = {};
  try {
    if (typeof o.A === "string") c.account = o.A;
    if (typeof o.h === "string") {
      if (!/^[uosn]+$/.test(o.h)) return usageError(ctx, usage, `illegal -h value: ${o.h}`);
      c.holds = o.h;
    }
    if (o.H) c.history = "only";
    else if (o.x) c.history = "include";
    if (o.J) c.arraysOnly = true;
    if (o.t) c.subjobs = true;
    if (typeof o.l === "string") c.resources = parseResourceCriteria(o.l);
    if (typeof o.N === "string") c.name = o.N;
    if (typeof o.r === "string") {
      if (!/^[yn]$/.test(o.r)) return usageError(ctx, usage, `illegal -r value: ${o.r}`);
      c.rerunnable = o.r === "y";
    }
    if (typeof o.s === "string") {
      if (!/^[BEFHMQRSTUWX]+$/.test(o.s)) return usageError(ctx, usage, `illegal -s value: ${o.s}`);
      c.states = o.s;
    }
    if (typeof o.u === "string") c.users = parseUserList(o.u);
  } catch (e) {
    ctx.fail(e);
    return usageError(ctx, usage);
  }
  let server = ctx.server();
  if (typeof o.q === "string") {
    const d = destTarget(ctx, o.q);
    server = d.server;
    if (d.queue !== undefined) c.queue = d.queue;
  }
  // the server filters by queue and history; the rest is decided here, over what qstat shows
  const pages = jobPages(ctx.api, server, {
    history: c.history !== undefined,
    ...(c.queue ? { queue: c.queue } : {}),
  });
  for await (const jobs of pages) for (const j of jobs) if (selectMatches(j, c)) ctx.out(`${j.id}\n`);
  return 0;
}

export async function qsig(ctx: Ctx, argv: string[]): Promise<number> {
  const usage = "qsig [-s signal] job_identifier...\n       qsig --version";
  const program = new Command().option("-s <signal>").argument("[jobs...]");
  const stop = parseCommand(ctx, program, argv, usage);
  if (stop !== undefined) return stop;
  if (program.args.length === 0) return usageError(ctx, usage);
  const signal = program.opts<{ s?: string }>().s ?? "SIGTERM";
  for (const text of program.args) {
    try {
      const t = jobTarget(ctx, text);
      await ctx.api.signalJob(t.server, t.id, signal);
    } catch (e) {
      ctx.fail(e);
    }
  }
  return ctx.exitCode;
}

export async function qorder(ctx: Ctx, argv: string[]): Promise<number> {
  const usage = "qorder job_identifier job_identifier\n       qorder --version";
  const program = new Command().argument("[jobs...]");
  const stop = parseCommand(ctx, program, argv, usage);
  if (stop !== undefined) return stop;
  if (program.args.length !== 2) return usageError(ctx, usage);
  const [a, b] = program.args.map((t) => jobTarget(ctx, t));
  // PBS: both jobs at the same server
  if (a.server.url !== b.server.url) {
    ctx.err(`Operation not supported: ${a.id} and ${b.id} are at different servers`);
    return 1;
  }
  try {
    await ctx.api.orderJobs(a.server, a.id, b.id);
  } catch (e) {
    return ctx.fail(e);
  }
  return 0;
}

export async function qrun(ctx: Ctx, argv: string[]): Promise<number> {
  const usage = "qrun [-H host] job_identifier...\n       qrun --version";
  const program = new Command().option("-H <host>").argument("[jobs...]");
  const stop = parseCommand(ctx, program, argv, usage);
  if (stop !== undefined) return stop;
  if (program.args.length === 0) return usageError(ctx, usage);
  const host = program.opts<{ H?: string }>().H;
  for (const text of program.args) {
    try {
      const t = jobTarget(ctx, text);
      await ctx.api.runJob(t.server, t.id, host);
    } catch (e) {
      ctx.fail(e);
    }
  }
  return ctx.exitCode;
}
