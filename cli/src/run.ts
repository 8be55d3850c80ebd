/**
 * Runs one command with its handler: what every PBS command does around its own work (--version,
 * a closed output pipe, PBS-style error printing). No command is imported here: each command's
 * bundle (scripts/build.mjs) imports only its own handler, so `qsub` does not
 * load qstat's formatting or commander.
 */
import { Ctx, type Deps, defaultDeps, exitCodeOf, messageOf } from "./context.js";
import { PBS_VERSION } from "./format.js";
import { exitQuietlyOnClosedPipe } from "./pipe.js";

export type Handler = (ctx: Ctx, argv: string[]) => Promise<number>;

/** Runs `handler` as command `cmd`; returns its exit code. Never throws. */
export async function runCommand(
  cmd: string,
  handler: Handler,
  argv: string[],
  deps: Deps = defaultDeps,
): Promise<number> {
  if (deps.stdout === process.stdout) exitQuietlyOnClosedPipe([process.stdout, process.stderr]);
  if (argv.length === 1 && argv[0] === "--version") {
    deps.stdout.write(`pbs_version = ${PBS_VERSION}\n`);
    return 0;
  }
  const ctx = new Ctx(cmd, deps);
  try {
    return await handler(ctx, argv);
  } catch (e) {
    ctx.err(messageOf(e));
    return exitCodeOf(e);
  }
}
