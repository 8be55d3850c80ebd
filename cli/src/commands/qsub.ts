/**
 * qsub [options] [script | -- executable [args]]
 *
 * The command line goes through the shared qsub parser (the one `#PBS` directives use). Prints
 * only the job ID (nothing with -z).
 */
import { basename } from "node:path";
import { MAX_SUBMIT_ARGUMENTS, type SubmitRequest } from "../../../shared/api/views.js";
import { checkInteractive, mergeOptions, parseDirectives, parseQsubArgv } from "../../../shared/pbs/index.js";
import { waitForJob } from "../block.js";
import { qsubInteractive } from "../interactive.js";
import type { Ctx } from "../context.js";
import { destTarget, resolveVariables } from "../route.js";

/** The PBS_O_* variables qsub takes from the submit environment. */
const PBS_O_FROM_ENV: Array<[string, string]> = [
  ["PBS_O_HOME", "HOME"],
  ["PBS_O_LANG", "LANG"],
  ["PBS_O_LOGNAME", "LOGNAME"],
  ["PBS_O_MAIL", "MAIL"],
  ["PBS_O_PATH", "PATH"],
  ["PBS_O_SHELL", "SHELL"],
  ["PBS_O_TZ", "TZ"],
];

export function submitEnv(
  env: Record<string, string | undefined>,
  opts: { exportAll: boolean; host: string; cwd: string; system?: string },
): Record<string, string> {
  const out: Record<string, string> = {};
  if (opts.exportAll) {
    for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  }
  for (const [pbs, name] of PBS_O_FROM_ENV) {
    const v = env[name];
    if (v !== undefined) out[pbs] = v;
  }
  out.PBS_O_HOST = opts.host;
  out.PBS_O_SYSTEM = opts.system ?? systemName();
  out.PBS_O_WORKDIR = opts.cwd;
  return out;
}

function systemName(): string {
  const p = process.platform;
  return p === "linux" ? "Linux" : p === "darwin" ? "Darwin" : p;
}

/** Quote a word for /bin/sh when it needs it. */
export function shQuote(word: string): string {
  if (word !== "" && /^[A-Za-z0-9_@%+=:,./-]+$/.test(word)) return word;
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

export async function qsub(ctx: Ctx, argv: string[]): Promise<number> {
  const parsed = parseQsubArgv(argv, { now: Math.floor(ctx.now() / 1000) });
  let script: string;
  let scriptName: string | undefined;
  if (parsed.command && parsed.command.length > 0) {
    script = `${parsed.command.map(shQuote).join(" ")}\n`;
  } else if (parsed.script !== undefined) {
    try {
      script = await ctx.deps.readFile(parsed.script);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      ctx.err(
        code === "ENOENT"
          ? "script file:: No such file or directory"
          : `script file:: ${(e as Error).message}`,
      );
      return 1;
    }
    scriptName = basename(parsed.script);
  } else if (parsed.options.interactive) {
    // qsub -I: stdin is the session's (the terminal, or the commands piped in), not a script
    script = "";
  } else {
    script = await ctx.deps.stdin();
  }

  // Directives are read here too, as PBS qsub does: `#PBS -q q@server` picks the server, `-v NAME`
  // in a directive is resolved from this environment, and `-C prefix` / PBS_DPREFIX apply. The
  // options sent are the merge (command line wins), so re-reading the directives is idempotent.
  const prefix = parsed.directivePrefix ?? ctx.deps.env.PBS_DPREFIX ?? "#PBS";
  const fromScript = parsed.command
    ? {}
    : parseDirectives(script, prefix, { now: Math.floor(ctx.now() / 1000) });
  const options = mergeOptions(fromScript, parsed.options);
  checkInteractive(options);

  let server = ctx.server();
  if (options.queue !== undefined) {
    const dest = destTarget(ctx, options.queue);
    server = dest.server;
    // routed here: the server only needs the queue part (unless we only know its URL)
    if (!server.fromEnv) {
      if (dest.queue === undefined) delete options.queue;
      else options.queue = dest.queue;
    }
  }

  const env = ctx.deps.env;
  resolveVariables(options, env);
  const cwd = ctx.deps.cwd();
  const request: SubmitRequest = {
    script,
    options,
    submitDir: cwd,
    env: submitEnv(env, { exportAll: options.exportEnv === true, host: ctx.hostname(), cwd }),
    submitHost: ctx.hostname(),
  };
  if (scriptName !== undefined) request.scriptName = scriptName;
  // PBS records the command line only when there is one (qsub.c: argc >= 2)
  if (argv.length > 0) request.submitArguments = argv.join(" ").slice(0, MAX_SUBMIT_ARGUMENTS);
  if (options.interactive) {
    // PBS reads an interactive job's script for its directives only (merged above): its
    // commands are not run, so they are not sent
    request.script = "";
    return qsubInteractive(ctx, server, request);
  }
  const jobId = await ctx.api.submit(server, request);
  if (!options.quiet) ctx.out(`${jobId}\n`);
  return options.block ? waitForJob(ctx, server, jobId) : 0;
}
