/**
 * The Mailer port on the host's sendmail: `<sendmail> -f <from> -- <rcpts>` with the message on
 * stdin, run with execFile (never a shell: the addresses were checked by parseMailUsers, and
 * `--` ends the options in any case).
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import type { Mailer } from "../../ports/mailer.js";

/** Where a sendmail usually is, in the order PBS's own lookup tries them. */
export const DEFAULT_SENDMAIL_PATHS = ["/usr/sbin/sendmail", "/usr/lib/sendmail"];

function executable(p: string): boolean {
  try {
    fs.accessSync(p, fs.constants.X_OK);
    return fs.statSync(p).isFile();
  } catch {
    return false;
  }
}

/**
 * The site's sendmail: the configured path (which must be an executable file: a typo is an error
 * at startup, not silently no mail), else the first executable default, else undefined.
 */
export function findSendmail(configured?: string, defaults = DEFAULT_SENDMAIL_PATHS): string | undefined {
  if (configured !== undefined) {
    if (!configured.startsWith("/") || !executable(configured))
      throw new Error(`mail.sendmail ${configured} is not an executable file (an absolute path)`);
    return configured;
  }
  return defaults.find(executable);
}

export class SendmailError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "SendmailError";
  }
}

export class SendmailMailer implements Mailer {
  constructor(
    private readonly path: string,
    readonly from: string,
    private readonly timeoutMs = 30_000,
  ) {}

  send(to: string[], message: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const child = execFile(
        this.path,
        ["-f", this.from, "--", ...to],
        { timeout: this.timeoutMs },
        (err, _stdout, stderr) => {
          if (err)
            reject(
              new SendmailError(`${this.path} failed: ${String(stderr).trim() || err.message}`, {
                cause: err,
              }),
            );
          else resolve();
        },
      );
      // a sendmail that exits before reading all of stdin: its exit status tells, not EPIPE
      child.stdin?.on("error", () => {});
      child.stdin?.end(message);
    });
  }
}
