/**
 * `metaqueue`: what the PBS commands have no word for. `metaqueue accounting` shows project usage
 * by site and allocations; `metaqueue peers` shows each site's peers and their health.
 */
import type { AccountingReport } from "../../../shared/accounting/allocations.js";
import type { ServerEntry } from "../config.js";
import type { Ctx } from "../context.js";
import { Command, parseCommand, usageError } from "../parse.js";

const USAGE =
  "metaqueue accounting [--project P] [-F json] [@server...]\n" +
  "       metaqueue peers [-F json] [@server...]";

export async function metaqueue(ctx: Ctx, argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === "accounting") return accounting(ctx, rest);
  if (sub === "peers") return peers(ctx, rest);
  return usageError(ctx, USAGE);
}

function targets(ctx: Ctx, args: string[]): ServerEntry[] {
  return args.length ? args.map((a) => ctx.server(a.replace(/^@/, ""))) : ctx.allServers();
}

async function accounting(ctx: Ctx, argv: string[]): Promise<number> {
  const program = new Command()
    .option("--project <name>", "only this project (account)")
    .option("-F <format>", "output format: json")
    .argument("[servers...]");
  const stop = parseCommand(ctx, program, argv, USAGE);
  if (stop !== undefined) return stop;
  const o = program.opts<{ project?: string; F?: string }>();
  const reports: AccountingReport[] = [];
  for (const t of targets(ctx, program.args)) {
    try {
      reports.push(await ctx.api.accounting(t, o.project));
    } catch (e) {
      ctx.fail(e);
    }
  }
  if (o.F === "json") {
    ctx.out(`${JSON.stringify({ reports }, null, 2)}\n`);
    return ctx.exitCode;
  }
  ctx.out(accountingText(reports));
  return ctx.exitCode;
}

const hours = (s: number) => (s / 3600).toFixed(4);

/**
 * Usage by project: where it is recorded (each server's own books), where it ran, and for whom
 * (work a site ran for a peer's project); then allocations used vs granted.
 */
export function accountingText(reports: AccountingReport[]): string {
  const rows: string[][] = [["Project", "Recorded at", "Ran at", "For", "Walltime(s)", "Core-hours"]];
  for (const r of reports) {
    for (const u of r.usage) {
      rows.push([
        u.project,
        r.site,
        u.ranAt,
        u.forPeer ?? "-",
        String(u.walltimeSeconds),
        hours(u.coreSeconds),
      ]);
    }
  }
  const lines = table(rows, 4);
  const allocs = reports.flatMap((r) => r.allocations);
  if (allocs.length) {
    const a: string[][] = [["Project", "Site", "Granted", "Used", "Used%"]];
    for (const x of allocs) {
      const pct = x.granted ? ((100 * x.used) / x.granted).toFixed(1) : "-";
      a.push([
        x.project,
        x.site,
        x.granted === undefined ? "unlimited" : String(x.granted),
        x.used.toFixed(4),
        pct,
      ]);
    }
    lines.push("", ...table(a, 2));
  }
  return `${lines.join("\n")}\n`;
}

/** Columns as wide as their widest cell; the first `left` columns left-aligned, the rest right. */
function table(rows: string[][], left: number): string[] {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  const line = (r: string[]) =>
    r
      .map((c, i) => (i < left ? c.padEnd(widths[i]) : c.padStart(widths[i])))
      .join("  ")
      .trimEnd();
  return [line(rows[0]), line(widths.map((w) => "-".repeat(w))), ...rows.slice(1).map(line)];
}

async function peers(ctx: Ctx, argv: string[]): Promise<number> {
  const program = new Command().option("-F <format>", "output format: json").argument("[servers...]");
  const stop = parseCommand(ctx, program, argv, USAGE);
  if (stop !== undefined) return stop;
  const o = program.opts<{ F?: string }>();
  const out: Awaited<ReturnType<Ctx["api"]["peers"]>>[] = [];
  for (const t of targets(ctx, program.args)) {
    try {
      out.push(await ctx.api.peers(t));
    } catch (e) {
      ctx.fail(e);
    }
  }
  if (o.F === "json") {
    ctx.out(`${JSON.stringify({ sites: out }, null, 2)}\n`);
    return ctx.exitCode;
  }
  const lines: string[] = [];
  for (const s of out) {
    lines.push(`${s.server} (${s.site}): ${s.state}`);
    for (const p of s.peers) {
      const seen = p.lastSeen
        ? `last heard ${Math.round((ctx.now() - p.lastSeen) / 1000)}s ago`
        : "never heard";
      lines.push(
        `    ${p.server.padEnd(14)} ${p.state.padEnd(13)} ${seen}${p.pulls.length ? `; pulls ${p.pulls.join(", ")}` : ""}`,
      );
    }
  }
  ctx.out(`${lines.join("\n")}\n`);
  return ctx.exitCode;
}
