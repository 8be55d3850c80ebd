/**
 * Every PBS command by name: `main("<cmd>", argv)`, as the tests run them; the binaries do
 * not: each `cli/bin/<cmd>` (a sh shim) runs load.cjs, which loads cli/dist/<cmd>.cjs
 * (scripts/build.mjs), which holds that command only.
 */
import { pbsnodes, qmgr, tracejob } from "./commands/admin.js";
import { qorder, qrun, qselect, qsig } from "./commands/control.js";
import { metaqueue } from "./commands/metaqueue.js";
import { qalter, qdel, qhold, qmove, qrerun, qrls } from "./commands/jobops.js";
import { qstat } from "./commands/qstat.js";
import { qsub } from "./commands/qsub.js";
import { type Deps, defaultDeps } from "./context.js";
import { type Handler, runCommand } from "./run.js";

export type { Deps } from "./context.js";
export { defaultDeps } from "./context.js";

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
  const handler = COMMANDS[cmd];
  if (!handler) {
    deps.stderr.write(`metaqueue: unknown command ${cmd} (one of ${COMMAND_NAMES.join(", ")})\n`);
    return 2;
  }
  return runCommand(cmd, handler, argv, deps);
}
