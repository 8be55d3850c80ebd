/**
 * `metaqueue`: what the PBS commands have no word for. `metaqueue accounting` shows project usage
 * by site and allocations; `metaqueue peers` shows each site's peers and their health.
 */
import type { AccountingReport } from "../../../shared/accounting/allocations.js";
import type { ServerEntry } from "../config.js";
import { Command, type Ctx, parseCommand, usageError } from "../context.js";

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

/** Usage by project and by the site it ran at, as each home site charged it; then allocations. */
export function accountingText(reports: AccountingReport[]): string {
  const lines: string[] = [];
  const row = (c: string[]) =>
    lines.push(
      c
        .map((x, i) => (i < 3 ? x.padEnd(14) : x.padStart(13)))
        .join(" ")
        .trimEnd(),
    );
  row(["Project", "Charged at", "Ran at", "Walltime(s)", "Core-hours"]);
  row(["-------", "----------", "------", "-----------", "----------"]);
  for (const r of reports) {
    for (const u of r.usage) {
      const ranAt = u.forPeer ? `${u.ranAt} (for ${u.forPeer})` : u.ranAt;
      row([
        u.project,
        u.forPeer ? u.forPeer : r.site,
        ranAt,
        String(u.walltimeSeconds),
        hours(u.coreSeconds),
      ]);
    }
  }
  const allocs = reports.flatMap((r) => r.allocations);
  if (allocs.length) {
    lines.push("");
    lines.push(
      `${"Project".padEnd(14)} ${"Site".padEnd(14)} ${"Granted".padStart(13)} ${"Used".padStart(13)} ${"Used%".padStart(7)}`,
    );
    for (const a of allocs) {
      const pct = a.granted ? ((100 * a.used) / a.granted).toFixed(1) : "-";
      lines.push(
        `${a.project.padEnd(14)} ${a.site.padEnd(14)} ${(a.granted === undefined ? "unlimited" : String(a.granted)).padStart(13)} ${a.used.toFixed(4).padStart(13)} ${pct.padStart(7)}`,
      );
    }
  }
  return `${lines.join("\n")}\n`;
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
