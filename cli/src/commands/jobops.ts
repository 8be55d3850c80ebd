/**
 * Commands that act on a list of jobs: qdel, qhold, qrls, qrerun, qmove, qalter. Each job is
 * handled on its own: an error prints `cmd: <message>` and the others still run; the exit code is
 * the last failure's (as in PBS).
 */
import { parseQsubArgv, QSUB_VALUE_FLAGS } from "../../../shared/pbs/index.js";
import type { HoldType } from "../api-client.js";
import type { ServerEntry } from "../config.js";
import type { Ctx } from "../context.js";
import { Command, parseCommand, usageError } from "../parse.js";
import { jobTarget, resolveVariables } from "../route.js";

async function eachJob(
  ctx: Ctx,
  ids: string[],
  op: (server: ServerEntry, id: string) => Promise<void>,
): Promise<number> {
  for (const text of ids) {
    try {
      const t = jobTarget(ctx, text);
      await op(t.server, t.id);
    } catch (e) {
      ctx.fail(e);
    }
  }
  return ctx.exitCode;
}

export async function qdel(ctx: Ctx, argv: string[]): Promise<number> {
  const usage = "qdel [-W force|suppress_email=N] [-x] job_identifier...\n       qdel --version";
  const program = new Command()
    .option("-W <value>", "force | suppress_email=N")
    .option("-x", "also delete finished jobs' history")
    .argument("[jobs...]");
  const stop = parseCommand(ctx, program, argv, usage);
  if (stop !== undefined) return stop;
  if (program.args.length === 0) return usageError(ctx, usage);
  const o = program.opts<{ W?: string; x?: boolean }>();
  let force = false;
  let mails = QDEL_MAIL_SUPPRESS;
  if (o.W !== undefined) {
    const n = /^suppress_email=(-?\d+)$/.exec(o.W);
    if (o.W === "force") force = true;
    else if (!n) return usageError(ctx, usage, `illegal -W value: ${o.W}`);
    // OpenPBS qdel.c: 0 is ignored (the default stands), -1 none, N the first N jobs only
    else if (Number(n[1]) !== 0) mails = Math.max(0, Number(n[1]));
  }
  const opts = { ...(o.x ? { history: true } : {}), ...(force ? { force: true } : {}) };
  let asked = 0;
  return eachJob(ctx, program.args, (s, id) =>
    ctx.api.deleteJob(s, id, asked++ < mails ? opts : { ...opts, nomail: true }),
  );
}

/**
 * How many of one qdel's jobs may mail their abort (-m a) when -W suppress_email does not say:
 * OpenPBS's QDEL_MAIL_SUPPRESS (its server's default_qdel_arguments are not modelled).
 */
export const QDEL_MAIL_SUPPRESS = 1000;

function holdCommand(release: boolean) {
  return async (ctx: Ctx, argv: string[]): Promise<number> => {
    const usage = `${ctx.cmd} [-h hold_list] job_identifier_list\n       ${ctx.cmd} --version`;
    const program = new Command().option("-h <hold_list>", "u, o or s").argument("[jobs...]");
    const stop = parseCommand(ctx, program, argv, usage);
    if (stop !== undefined) return stop;
    const h = program.opts<{ h?: string }>().h;
    if (h !== undefined && !/^[uos]$/.test(h)) {
      ctx.err(`illegal -h value: ${h}`);
      return usageError(ctx, usage);
    }
    if (program.args.length === 0) return usageError(ctx, usage);
    const holdType = h as HoldType | undefined;
    return eachJob(ctx, program.args, (s, id) =>
      release ? ctx.api.releaseJob(s, id, holdType) : ctx.api.holdJob(s, id, holdType),
    );
  };
}

export const qhold = holdCommand(false);
export const qrls = holdCommand(true);

export async function qrerun(ctx: Ctx, argv: string[]): Promise<number> {
  const usage = "qrerun [-W force] job_identifier...\n       qrerun --version";
  const program = new Command().option("-W <value>", "force").argument("[jobs...]");
  const stop = parseCommand(ctx, program, argv, usage);
  if (stop !== undefined) return stop;
  if (program.args.length === 0) return usageError(ctx, usage);
  return eachJob(ctx, program.args, (s, id) => ctx.api.rerunJob(s, id));
}

export async function qmove(ctx: Ctx, argv: string[]): Promise<number> {
  const usage = "qmove destination job_identifier...\n       qmove --version";
  const program = new Command().argument("[operands...]");
  const stop = parseCommand(ctx, program, argv, usage);
  if (stop !== undefined) return stop;
  const [destination, ...ids] = program.args;
  if (destination === undefined || ids.length === 0) return usageError(ctx, usage);
  return eachJob(ctx, ids, (s, id) => ctx.api.moveJob(s, id, destination));
}

/** qsub option letters that take an argument. */
const QSUB_ARG_LETTERS = new Set(`${QSUB_VALUE_FLAGS}C`.split(""));

/** Index of the first operand after qsub-style options (getopt scanning rules). */
export function firstOperandIndex(argv: string[]): number {
  let i = 0;
  while (i < argv.length) {
    const arg = argv[i];
    if (arg === "--") return i + 1;
    if (!arg.startsWith("-") || arg === "-") return i;
    let j = 1;
    let skipNext = false;
    while (j < arg.length) {
      if (QSUB_ARG_LETTERS.has(arg[j])) {
        skipNext = j === arg.length - 1;
        break;
      }
      j++;
    }
    i += skipNext ? 2 : 1;
  }
  return i;
}

export async function qalter(ctx: Ctx, argv: string[]): Promise<number> {
  const usage = "qalter [qsub options] job_identifier...\n       qalter --version";
  if (argv.includes("--help")) {
    ctx.out(`usage: ${usage}\n`);
    return 0;
  }
  const split = firstOperandIndex(argv);
  const optionArgs = argv.slice(0, split).filter((a, i, arr) => !(a === "--" && i === arr.length - 1));
  const ids = argv.slice(split);
  if (ids.length === 0) return usageError(ctx, usage);
  const { options } = parseQsubArgv(optionArgs);
  if (Object.keys(options).length === 0) return usageError(ctx, usage);
  resolveVariables(options, ctx.deps.env);
  return eachJob(ctx, ids, (s, id) => ctx.api.alterJob(s, id, options));
}
