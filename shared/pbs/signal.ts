/**
 * qsig's signal argument (OpenPBS qsig -s): a name with or without `SIG` (`USR1`, `SIGUSR1`,
 * case-insensitive) or its number (Linux numbering); `suspend` and `resume` are PBS's own.
 */
import { RejectedError } from "../errors.js";

/** Linux signal numbers of the names a job may be sent. */
const SIGNALS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

export type ParsedSignal = { kind: "signal"; name: NodeJS.Signals } | { kind: "suspend" | "resume" };

/** `USR1` / `sigusr1` / `10` / `suspend` -> what to send; PBSE_UNKSIG's message otherwise. */
export function parseSignal(text: string): ParsedSignal {
  const t = text.trim();
  const lower = t.toLowerCase();
  if (lower === "suspend" || lower === "resume") return { kind: lower };
  if (/^\d+$/.test(t)) {
    const n = Number(t);
    const name = Object.keys(SIGNALS).find((k) => SIGNALS[k] === n);
    if (name) return { kind: "signal", name: name as NodeJS.Signals };
  } else {
    const up = t.toUpperCase();
    const name = up.startsWith("SIG") ? up : `SIG${up}`;
    if (name in SIGNALS) return { kind: "signal", name: name as NodeJS.Signals };
  }
  throw new RejectedError("UnknownSignal", `Unknown/illegal signal name ${t}`);
}
