/**
 * Entry point of the PBS commands. Each `cli/bin/<cmd>.js` shim calls
 * `main("<cmd>", process.argv.slice(2))` and sets process.exitCode to the result.
 */
import { pbsnodes, qmgr, tracejob } from "./commands/admin.js";
import { qorder, qrun, qselect, qsig } from "./commands/control.js";
import { metaqueue } from "./commands/metaqueue.js";
import { qalter, qdel, qhold, qmove, qrerun, qrls } from "./commands/jobops.js";
import { qstat } from "./commands/qstat.js";
import { qsub } from "./commands/qsub.js";
import { Ctx, type Deps, defaultDeps, exitCodeOf, messageOf } from "./context.js";
import { PBS_VERSION } from "./format.js";
import { exitQuietlyOnClosedPipe } from "./pipe.js";

export type { Deps } from "./context.js";
export { defaultDeps } from "./context.js";

type Handler = (ctx: Ctx, argv: string[]) => Promise<number>;

const COMMANDS: Record<string, Handler> = {
  qsub,
  qstat,
  qdel,
  qhold,
  qrls,
  qalter,
  qmove,
  qrerun,
  qselect,
  qsig,
  qorder,
  qrun,
  qmgr,
  pbsnodes,
  tracejob,
  metaqueue,
};

export const COMMAND_NAMES = Object.keys(COMMANDS);

/** Runs one PBS command; returns its exit code. Never throws. */
export async function main(cmd: string, argv: string[], deps: Deps = defaultDeps): Promise<number> {
  if (deps.stdout === process.stdout) exitQuietlyOnClosedPipe([process.stdout, process.stderr]);
  const handler = COMMANDS[cmd];
  if (!handler) {
    deps.stderr.write(`metaqueue: unknown command ${cmd} (one of ${COMMAND_NAMES.join(", ")})\n`);
    return 2;
  }
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
