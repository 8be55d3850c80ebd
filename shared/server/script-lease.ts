/**
 * The script-lease pass (issue 14): keep the scripts of long-lived active jobs.
 *
 * A job's script is stored with a lease (history.ts scriptLeaseUntil: submit + history + a
 * margin) and nothing writes it when the job ends (shared/adapters/dynamodb/job-script.ts says
 * why). The one thing that can go wrong is a job still active when its lease nears its end: held,
 * queued or running for weeks. This pass, from the sweeper's tick, renews those leases so that
 * every active job's lease ends after now + history + LEASE_NOTICE_S: when the job ends, its
 * script outlives its history. A missed pass or two changes nothing (the notice is a week).
 *
 * What it reads: per queue (and its subjobs), the active jobs oldest first with their leases
 * (JobStore.scriptLeases: one small Query of the list index and one BatchGet of script items),
 * and it stops at the first job whose lease was granted at submit and is not due. Why that is
 * enough: leases granted at submit grow with seq (submit order), so every younger job's is at
 * least as long; a renewed lease is no such bound (an old job's, renewed far ahead), so the walk
 * goes past renewed ones, which are the few jobs active for longer than the margin. Jobs become
 * due in seq order too: a pass reads the oldest jobs, then stops, a page of a few items.
 *
 * That order holds for leases granted under one history and margin. When either changes (qmgr
 * job_history_duration, the setting), or in a process's first pass (it cannot know what was
 * granted before it started, and scripts stored before leases existed have none), the pass
 * walks every active job once. Every renewal is conditional (it only ever extends a lease), so
 * two passes at once, a pass racing a job's end, or a replay can only make a script live longer.
 */
import type { SiteContext } from "./context.js";
import { historySeconds, LEASE_NOTICE_S, scriptLeaseUntil } from "./history.js";
import { loadServerState } from "./server-state.js";

/** How often the pass runs (besides the first tick of a process): far below the week's notice. */
export const LEASE_PASS_MS = 3600_000;

/** Jobs read per request: the first page is small (the walk usually stops at its first job). */
const FIRST_PAGE = 8;
const MAX_PAGE = 100;

export interface LeasePassResult {
  /** leases read */
  read: number;
  /** leases renewed */
  renewed: number;
  /** whether every active job was looked at (first pass, or history or margin changed) */
  full: boolean;
}

/** Per store: when the pass was last started, and the terms of the last one that went through. */
const last = new WeakMap<object, { at: number; grant?: string }>();

/**
 * Whether the pass is due: at a process's first tick, then every LEASE_PASS_MS (a failed pass
 * waits for the next period too). Keyed by the store, as repairDue is, so a Lambda container
 * keeps its cadence across invocations.
 */
export function leasePassDue(ctx: SiteContext, now = ctx.clock.now()): boolean {
  const l = last.get(ctx.store);
  if (l !== undefined && now - l.at < LEASE_PASS_MS) return false;
  last.set(ctx.store, { at: now, grant: l?.grant });
  return true;
}

export async function renewScriptLeases(ctx: SiteContext): Promise<LeasePassResult> {
  const st = await loadServerState(ctx);
  const nowS = Math.floor(ctx.clock.now() / 1000);
  const historyS = historySeconds(st.server.attrs.job_history_duration);
  const margin = ctx.settings.scriptLeaseMarginDays;
  // a lease due now ends before this; a renewed one ends at `until`
  const need = nowS + historyS + LEASE_NOTICE_S;
  const until = scriptLeaseUntil(nowS, historyS, margin);
  // the terms leases are granted on: when they change, submit order no longer orders leases
  const grant = `${historyS}/${margin}`;
  const prev = last.get(ctx.store);
  const full = prev?.grant !== grant;
  const res: LeasePassResult = { read: 0, renewed: 0, full };
  for (const queue of st.queues.keys())
    for (const sub of [false, true]) {
      let after: number | undefined;
      let limit = FIRST_PAGE;
      walk: for (;;) {
        const page = await ctx.store.scriptLeases(queue, sub, after, limit);
        for (const l of page.leases) {
          res.read++;
          if (l.until === undefined || l.until < need) {
            await ctx.store.renewScriptLease(l.key, until);
            res.renewed++;
          } else if (!l.renewed && !full) break walk;
        }
        if (page.next === undefined) break;
        after = page.next;
        limit = Math.min(MAX_PAGE, limit * 2);
      }
    }
  // recorded once the pass went through: after a failed one, the next walks in full
  last.set(ctx.store, { at: prev?.at ?? ctx.clock.now(), grant });
  return res;
}
