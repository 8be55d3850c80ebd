/**
 * A command whose reader went away (`qstat | head -1`) stops quietly, as the C commands do when
 * SIGPIPE kills them. Node ignores SIGPIPE, so the failed write surfaces as an EPIPE 'error' event
 * on the stream instead; unhandled, that prints a stack trace on stderr.
 */

/** What a shell reports for a process killed by SIGPIPE (128 + 13). */
export const EXIT_SIGPIPE = 141;

interface ErrorEmitter {
  on(event: "error", listener: (err: NodeJS.ErrnoException) => void): unknown;
}

/**
 * Makes a closed pipe on `stdout`/`stderr` end the process with EXIT_SIGPIPE and nothing printed
 * (stderr may be the closed pipe itself). Any other stream error is still thrown, as before.
 */
export function exitQuietlyOnClosedPipe(
  streams: ErrorEmitter[],
  exit: (code: number) => void = (code) => process.exit(code),
): void {
  for (const s of streams) {
    s.on("error", (err) => {
      if (err.code === "EPIPE") exit(EXIT_SIGPIPE);
      else throw err;
    });
  }
}
