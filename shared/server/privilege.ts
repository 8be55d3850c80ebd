/**
 * PBS privilege levels. Everyone is a user; the server attributes `managers` and `operators`
 * (lists of `user@host`, host `*` or absent meaning any host, set with qmgr) raise a user to
 * manager or operator. A user sees every job (PBS default) but changes only their own;
 * operators and managers change any. Every refusal and every use of privilege goes to the
 * audit trail (audit()).
 */
import type { Identity } from "../ports/index.js";
import type { AuditRecord } from "../server/records.js";
import type { SiteContext } from "./context.js";
import { loadServerState } from "./server-state.js";
import type { Actor } from "./ops.js";

function names(attr: unknown): string[] {
  return String(attr ?? "")
    .split(",")
    .map((s) => s.trim().replace(/@.*$/, ""))
    .filter(Boolean);
}

/** The PBS actor for an authenticated identity, from the current server attributes. */
export async function actorFor(ctx: SiteContext, id: Identity): Promise<Actor> {
  const st = await loadServerState(ctx);
  const manager = names(st.server.attrs.managers).includes(id.user);
  const operator = names(st.server.attrs.operators).includes(id.user);
  return { user: id.user, groups: id.groups, manager, operator, privileged: manager || operator };
}

/** "manager" or "operator" for an audit line, by the highest level the actor holds. */
export function levelOf(actor: Actor): string {
  return actor.manager ? "manager" : actor.operator ? "operator" : "user";
}

/**
 * Writes an audit line (the table's trail, and the job's trace when about a job) and a log
 * line. Never throws: failing to audit must not turn a refusal into a 500, and the log line
 * is still there (CloudWatch on AWS).
 */
export async function audit(ctx: SiteContext, rec: Omit<AuditRecord, "time">): Promise<void> {
  const full: AuditRecord = { time: ctx.clock.now(), ...rec };
  ctx.log.info(
    `audit: ${full.outcome} ${full.action} ${full.target} by ${full.user}${full.reason ? `: ${full.reason}` : ""}`,
  );
  ctx.metrics?.count(full.outcome === "refused" ? "RequestsRefused" : "PrivilegedActions", 1, {
    action: full.action,
  });
  try {
    await ctx.store.putAudit(full);
  } catch (err) {
    ctx.log.warn(`audit: could not record ${full.action} ${full.target}: ${(err as Error).message}`);
  }
}
