/**
 * `qsub -I`: an interactive job, as OpenPBS's qsub runs one. It submits the job, prints
 * `qsub: waiting for job <id> to start`, waits until the job runs (Ctrl-C or a kill signal
 * meanwhile deletes the job, as block.ts does for -W block=true), asks the API where the job's
 * MOM listens (GET /v1/jobs/{id}/session), attaches with the one-time secret the submit answer
 * gave it alone, prints `qsub: job <id> ready`, and joins the user's terminal to the job's:
 * with a TTY, raw mode and a pseudo-terminal on the node (editors, line editing, Ctrl-C reach
 * the job); without one, stdin's commands go to the job's shell and its output comes back.
 * When the session ends (the shell exited, qdel, walltime) it waits for the server to record
 * the end and exits with the shell's exit status: `qsub: job <id> completed`.
 */
import * as net from "node:net";
import type { SubmitRequest } from "../../shared/api/views.js";
import { MetaqueueError } from "../../shared/errors.js";
import { blockOutcome, pollJob, waitForJob } from "./block.js";
import type { ServerEntry } from "./config.js";
import type { Ctx } from "./context.js";

/** longest pause between polls while waiting for the start: a user is watching */
const POLL_MAX_MS = 2_000;
/** the MOM may still be handing the socket to the job's user right after the job went R */
const CONNECT_TRIES_MS = 15_000;

export async function qsubInteractive(
  ctx: Ctx,
  server: ServerEntry,
  request: SubmitRequest,
): Promise<number> {
  const { jobId, sessionKey } = await ctx.api.submitInteractive(server, request);
  if (!sessionKey) {
    ctx.err(`job ${jobId}: the server gave no session key (does it support -I?)`);
    return 1;
  }
  ctx.out(`qsub: waiting for job ${jobId} to start\n`);
  const started = await waitForStart(ctx, server, jobId);
  if (started !== "R") return started;

  const { address } = await ctx.api.jobSession(server, jobId);
  const socket = await attach(address, sessionKey);
  ctx.out(`qsub: job ${jobId} ready\n\n`);
  await converse(socket);
  // the session is over: the job's end (and its exit status) is the server's to record
  const code = await waitForJob(ctx, server, jobId);
  ctx.out(`qsub: job ${jobId} completed\n`);
  return code;
}

/**
 * Until the job runs: "R", or qsub's exit code when it ended first (deleted, failed) or the
 * user interrupted the wait (the job is then deleted, PBS's bailout).
 */
function waitForStart(ctx: Ctx, server: ServerEntry, jobId: string): Promise<"R" | number> {
  return pollJob(ctx, server, jobId, { maxPauseMs: POLL_MAX_MS }, (view): "R" | number | undefined => {
    if (view.attributes.job_state === "R") return "R";
    const out = blockOutcome(view);
    if (!out) return undefined;
    ctx.err(`job ${jobId} ended before its session started: ${out.message ?? view.attributes.comment ?? ""}`);
    return out.message !== undefined ? 3 : out.exitCode;
  });
}

/** Connect to the MOM's socket and prove the session key; the socket, paused, after `OK`. */
export async function attach(
  address: string,
  key: string,
  hello: Record<string, unknown> = terminalHello(),
): Promise<net.Socket> {
  if (!address.startsWith("unix:"))
    throw new MetaqueueError("BadSession", `unsupported session address ${address}`, 400);
  const path = address.slice("unix:".length);
  const until = Date.now() + CONNECT_TRIES_MS;
  for (;;) {
    try {
      return await handshake(path, JSON.stringify({ key, ...hello }));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      const retry = code === "ENOENT" || code === "EACCES" || code === "ECONNREFUSED";
      if (!retry || Date.now() > until)
        throw new MetaqueueError(
          "SessionRefused",
          `cannot attach to the job's session: ${(e as Error).message}`,
          403,
          undefined,
          { cause: e },
        );
      await new Promise((r) => setTimeout(r, 200));
    }
  }
}

function terminalHello(): Record<string, unknown> {
  const tty = process.stdin.isTTY === true;
  const h: Record<string, unknown> = { tty };
  if (tty && process.stdout.isTTY) {
    h.rows = process.stdout.rows;
    h.cols = process.stdout.columns;
  }
  if (tty && process.env.TERM) h.term = process.env.TERM;
  return h;
}

function handshake(path: string, line: string): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ path, allowHalfOpen: true });
    let buf = Buffer.alloc(0);
    const fail = (e: Error) => {
      sock.destroy();
      reject(e);
    };
    sock.once("error", fail);
    sock.once("connect", () => sock.write(`${line}\n`));
    const onData = (b: Buffer) => {
      buf = Buffer.concat([buf, b]);
      const nl = buf.indexOf(0x0a);
      if (nl < 0) return;
      sock.off("data", onData);
      sock.off("error", fail);
      sock.pause();
      const answer = buf.subarray(0, nl).toString("utf8");
      if (answer !== "OK") return fail(new Error(answer.replace(/^ERR /, "") || "refused"));
      // the MOM says OK before any output, but keep what came with it
      const rest = buf.subarray(nl + 1);
      if (rest.length > 0) sock.unshift(rest);
      resolve(sock);
    };
    sock.on("data", onData);
    sock.once("end", () => fail(new Error("the session closed during the handshake")));
  });
}

/** Join this terminal to the session until the MOM ends it. */
function converse(sock: net.Socket): Promise<void> {
  const stdin = process.stdin;
  const raw = stdin.isTTY === true;
  if (raw) stdin.setRawMode(true);
  return new Promise((resolve) => {
    const done = () => {
      if (raw) stdin.setRawMode(false);
      stdin.unpipe(sock);
      stdin.pause();
      resolve();
    };
    sock.on("data", (b: Buffer) => process.stdout.write(b));
    sock.on("error", () => {});
    sock.once("close", done);
    // our end of input (non-TTY stdin ran out): a half-close, the job's shell then sees EOF
    stdin.pipe(sock, { end: true });
    sock.resume();
  });
}
