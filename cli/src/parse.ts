/**
 * Argument parsing for the commands that use commander (all but qsub, which has PBS's own
 * parser). Kept out of context.ts so a command that does not parse with commander does not load
 * it: each command is its own bundle (scripts/build.mjs) and commander is a third of a bundle.
 */
import { Command, CommanderError } from "commander";
import type { Ctx } from "./context.js";

/**
 * Parses argv with commander, PBS-style: errors print `cmd: <problem>` and the usage line and
 * give exit code 2; `--help` prints help and gives 0. Returns the exit code when parsing ended the
 * command, else undefined.
 */
export function parseCommand(ctx: Ctx, program: Command, argv: string[], usage: string): number | undefined {
  program
    .name(ctx.cmd)
    .helpOption("--help", "display help")
    .exitOverride()
    .configureOutput({
      writeOut: (s) => ctx.deps.stdout.write(s),
      writeErr: (s) => ctx.deps.stderr.write(s),
      outputError: () => {},
    });
  try {
    program.parse(argv, { from: "user" });
    return undefined;
  } catch (e) {
    if (e instanceof CommanderError) {
      if (e.code === "commander.helpDisplayed" || e.code === "commander.help") return 0;
      ctx.err(e.message.replace(/^error: /, ""));
      ctx.deps.stderr.write(`usage: ${usage}\n`);
      return 2;
    }
    throw e;
  }
}

export function usageError(ctx: Ctx, usage: string, message?: string): number {
  if (message) ctx.err(message);
  ctx.deps.stderr.write(`usage: ${usage}\n`);
  return 2;
}

export { Command };
