/** qmgr, pbsnodes and tracejob. */
import type { NodeView } from "../../../shared/api/views.js";
import { type Ctx, messageOf } from "../context.js";
import { Command, parseCommand, usageError } from "../parse.js";
import { pbsnodesJson, pbsnodesMarked, pbsnodesSummary, pbsnodesText, tracejobText } from "../format.js";
import { jobTarget } from "../route.js";

/** Splits qmgr input into commands: one per line, `\` continues a line, `#` starts a comment line. */
export function qmgrCommands(text: string): string[] {
  const out: string[] = [];
  let pending = "";
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trimEnd();
    if (line.endsWith("\\")) {
      pending += `${(pending ? line.trimStart() : line).slice(0, -1).trimEnd()} `;
      continue;
    }
    const cmd = (pending + (pending ? line.trimStart() : line)).trim();
    pending = "";
    if (cmd === "" || cmd.startsWith("#")) continue;
    out.push(cmd);
  }
  if (pending.trim() !== "") out.push(pending.trim());
  return out;
}

export async function qmgr(ctx: Ctx, argv: string[]): Promise<number> {
  const usage = "qmgr [-a] [-c command] [-e] [-n] [-z] [server...]\n       qmgr --version";
  const program = new Command()
    .option("-c <command>", "run this command (may repeat)", (v: string, prev: string[] = []) => [...prev, v])
    .option("-a", "abort on the first error")
    .option("-e", "echo each command")
    .option("-n", "do not execute commands")
    .option("-z", "do not print errors")
    .argument("[servers...]");
  const stop = parseCommand(ctx, program, argv, usage);
  if (stop !== undefined) return stop;
  const o = program.opts<{ c?: string[]; a?: boolean; e?: boolean; n?: boolean; z?: boolean }>();
  let commands: string[];
  if (o.c && o.c.length > 0) commands = o.c.flatMap((c) => qmgrCommands(c));
  else commands = qmgrCommands(await ctx.deps.stdin());
  const servers = program.args.length > 0 ? program.args.map((s) => s.replace(/^@/, "")) : [undefined];
  let errors = 0;
  outer: for (const command of commands) {
    if (/^(exit|quit|q)$/i.test(command)) break;
    if (o.e) ctx.out(`${command}\n`);
    if (o.n) continue;
    for (const name of servers) {
      try {
        const output = await ctx.api.qmgr(ctx.server(name), command);
        if (output) ctx.out(output.endsWith("\n") ? output : `${output}\n`);
      } catch (e) {
        errors++;
        if (!o.z) ctx.err(messageOf(e));
        if (o.a) break outer;
      }
    }
  }
  return Math.min(errors, 255);
}

/** Quote a qmgr value in double quotes. */
function qmgrQuote(v: string): string {
  return `"${v.replace(/"/g, "'")}"`;
}

export async function pbsnodes(ctx: Ctx, argv: string[]): Promise<number> {
  const usage =
    "pbsnodes [-{o|r}][-C comment][-s server] host host ...\n" +
    "       pbsnodes -l [-s server]\n" +
    "       pbsnodes -a[v][S[j][L]][-F format][-s server]\n" +
    "       pbsnodes -[H][S[j][L]][-F format] host host ...\n" +
    "       pbsnodes --version";
  const program = new Command()
    .option("-a", "all nodes")
    .option("-l", "list nodes marked down or offline")
    .option("-o", "mark offline")
    .option("-r", "clear offline")
    .option("-C <comment>", "set the comment")
    .option("-S", "single-line summary")
    .option("-j", "job summary (with -S)")
    .option("-L", "long summary (with -S)")
    .option("-v", "vnodes")
    .option("-H", "hosts and their vnodes")
    .option("-q", "quiet")
    .option("-F <format>", "output format (json)")
    .option("-s <server>", "server")
    .argument("[nodes...]");
  const stop = parseCommand(ctx, program, argv, usage);
  if (stop !== undefined) return stop;
  const o = program.opts<{
    a?: boolean;
    l?: boolean;
    o?: boolean;
    r?: boolean;
    C?: string;
    S?: boolean;
    j?: boolean;
    q?: boolean;
    F?: string;
    s?: string;
  }>();
  const names = program.args;
  const json = o.F?.toLowerCase() === "json";
  if (o.F !== undefined && !json && o.F.toLowerCase() !== "default") return usageError(ctx, usage);
  if ((o.o && o.r) || ((o.o || o.r || o.C !== undefined) && (o.a || o.l || names.length === 0))) {
    return usageError(ctx, usage);
  }
  if (!o.a && !o.l && !o.o && !o.r && o.C === undefined && names.length === 0) return usageError(ctx, usage);
  const server = ctx.server(o.s);

  if (o.o || o.r || o.C !== undefined) {
    let rc = 0;
    for (const name of names) {
      const commands: string[] = [];
      if (o.o) commands.push(`set node ${name} state = offline`);
      if (o.r) commands.push(`set node ${name} state = free`);
      if (o.C !== undefined) commands.push(`set node ${name} comment = ${qmgrQuote(o.C)}`);
      try {
        for (const c of commands) await ctx.api.qmgr(server, c);
      } catch (e) {
        rc = 1;
        if (!o.q) ctx.deps.stderr.write(`Error marking node ${name} - ${messageOf(e)}\n`);
      }
    }
    return rc;
  }

  let nodes: NodeView[] = await ctx.api.listNodes(server);
  if (o.l) {
    ctx.out(pbsnodesMarked(nodes));
    return 0;
  }
  let rc = 0;
  if (!o.a) {
    const picked: NodeView[] = [];
    for (const n of names) {
      const found = nodes.find((x) => x.name === n || x.name.split(".")[0] === n);
      if (found) picked.push(found);
      else {
        rc = 1;
        if (!o.q) ctx.err(`Unknown node ${n}`);
      }
    }
    nodes = picked;
  } else if (nodes.length === 0) {
    if (!o.q) ctx.err("Server has no node list");
    return 1;
  }
  if (json) {
    ctx.out(
      pbsnodesJson(nodes, { serverName: await ctx.serverName(server), now: Math.floor(ctx.now() / 1000) }),
    );
  } else if (o.S) {
    if (nodes.length > 0) ctx.out(pbsnodesSummary(nodes, !!o.j));
  } else ctx.out(pbsnodesText(nodes));
  return rc;
}

export async function tracejob(ctx: Ctx, argv: string[]): Promise<number> {
  const usage =
    "tracejob [-a|s|l|m|v] [-w size] [-p path] [-n days] [-f filter_type] [-z] [-c count] job_identifier\n" +
    "       tracejob --version";
  const program = new Command()
    .option("-a", "no accounting logs")
    .option("-s", "no server logs")
    .option("-l", "no scheduler logs")
    .option("-m", "no MOM logs")
    .option("-v", "verbose")
    .option("-z", "suppress noisy messages")
    .option("-q", "quiet")
    .option("-w <size>", "wrap width")
    .option("-p <path>", "log path")
    .option("-n <days>", "days of logs")
    .option("-f <filter>", "filter")
    .option("-c <count>", "count")
    .argument("[jobs...]");
  const stop = parseCommand(ctx, program, argv, usage);
  if (stop !== undefined) return stop;
  const o = program.opts<{ a?: boolean; s?: boolean; l?: boolean; m?: boolean }>();
  if (program.args.length === 0) return usageError(ctx, usage);
  const skip = new Set<string>();
  if (o.a) skip.add("A");
  if (o.s) skip.add("S");
  if (o.l) skip.add("L");
  if (o.m) skip.add("M");
  for (const text of program.args) {
    try {
      const t = jobTarget(ctx, text);
      const events = await ctx.api.traceJob(t.server, t.id);
      // A moved job's story goes on where it runs, under the same ID: append it (the origin's
      // record names that site, exec_site).
      const here = await ctx.api.getJob(t.server, t.id, true).catch(() => undefined);
      const site = here?.attributes.exec_site;
      if (here && typeof site === "string" && site !== t.id.slice(t.id.indexOf(".") + 1)) {
        const more = await Promise.resolve()
          .then(() => ctx.api.traceJob(ctx.server(site), t.id))
          .catch(() => []);
        events.push(...more);
        events.sort((a, b) => a.time - b.time);
      }
      ctx.out(
        tracejobText(
          t.id,
          events.filter((e) => !skip.has(e.source)),
        ),
      );
    } catch (e) {
      ctx.fail(e);
    }
  }
  return ctx.exitCode;
}
