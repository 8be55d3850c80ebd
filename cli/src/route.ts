/** Which server an operand (job ID, `queue`, `queue@server`, `@server`) goes to. */
import type { JobView } from "../../shared/api/views.js";
import { parseDestination, parseJobId } from "../../shared/pbs/index.js";
import type { QsubOptions } from "../../shared/pbs/types.js";
import { qualifyJobId, type ServerEntry } from "./config.js";
import type { Ctx } from "./context.js";

export interface JobTarget {
  server: ServerEntry;
  /** the job ID to send: bare IDs completed with the server's short name */
  id: string;
}

/** `123` -> default server, `123.derecho` -> the server named or short-named derecho. */
export function jobTarget(ctx: Ctx, text: string): JobTarget {
  const ref = parseJobId(text);
  const server = ctx.server(ref.server);
  return { server, id: ref.server === undefined ? qualifyJobId(text, server) : text };
}

export interface DestTarget {
  server: ServerEntry;
  queue?: string;
}

/** `queue` -> default server; `queue@server`, `@server` -> that server. */
export function destTarget(ctx: Ctx, text: string): DestTarget {
  const d = parseDestination(text);
  return { server: ctx.server(d.server), queue: d.queue };
}

/** Job IDs start with a digit (OpenPBS pbs_isjobid); anything else is a destination. */
export function isJobId(text: string): boolean {
  return /^\d/.test(text);
}

/**
 * Resolve `-v NAME` (no value: `variablesFromEnv`) from the submit environment into `variables`,
 * as PBS qsub does client-side. Names not set here are dropped.
 */
export function resolveVariables(options: QsubOptions, env: Record<string, string | undefined>): void {
  const names = options.variablesFromEnv;
  if (!names) return;
  const vars: Record<string, string> = { ...options.variables };
  for (const name of names) {
    const v = env[name];
    if (v !== undefined) vars[name] = v;
  }
  delete options.variablesFromEnv;
  if (Object.keys(vars).length > 0) options.variables = vars;
  else delete options.variables;
}

export function isFinished(job: JobView): boolean {
  const s = job.attributes.job_state;
  return s === "F" || s === "M";
}

/**
 * A job that moved to a peer is an M record at its origin pointing at its new ID: follow it (a
 * few hops at most) so the user sees the job where it is now. If that site cannot be reached,
 * the origin's record is what we have, and it is shown rather than nothing.
 */
export async function followMoved(ctx: Ctx, job: JobView): Promise<JobView> {
  let cur = job;
  for (let hop = 0; hop < 4; hop++) {
    const next = cur.attributes.moved_to;
    if (cur.attributes.job_state !== "M" || typeof next !== "string") return cur;
    try {
      const t = jobTarget(ctx, next);
      cur = await ctx.api.getJob(t.server, t.id, true);
    } catch {
      return cur;
    }
  }
  return cur;
}
