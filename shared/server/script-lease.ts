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
 * and it stops at the first job granted its lease so recently that no job after it can be due.
 * Why that bound holds with no memory of earlier passes:
 * - every submit's lease is at least the site's floor (JobStore.scriptLeaseFloor: the shortest
 *   term any submit granted; history.ts records a lower one before a job holds it), and a
 *   renewal only ever extends a lease;
 * - a job with a higher seq was granted its lease no earlier than SEQ_ORDER_SLACK_S before one
 *   with a lower seq (seq.ts: a process uses a block of seqs for hours at most);
 * so at a job granted at g, every later job's lease ends after g - slack + floor; once that is
 * past `need`, none of them is due. With the defaults (two weeks of history, a 30-day margin,
 * a week's notice, a day's slack), the walk reads the jobs submitted more than ~22 days ago and
 * one more: the few held or queued that long, a page. The walk goes on past scripts stored
 * before the grant time was kept (no bound from them), until it reaches one that has it.
 *
 * Every renewal is conditional (it only ever extends a lease), so two passes at once, a pass
 * racing a job's end, or a replay can only make a script live longer. A submit that lowers the
 * floor while a pass runs is seen by the next pass, an hour later, within the week's notice.
 */
import type { SiteContext } from "./context.js";
import { historySeconds, LEASE_NOTICE_S, scriptLeaseUntil } from "./history.js";
import { SEQ_ORDER_SLACK_S } from "./seq.js";
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
}

/** Per store: when the pass was last started. */
const last = new WeakMap<object, number>();

/**
 * Whether the pass is due: at a process's first tick, then every LEASE_PASS_MS (a failed pass
 * waits for the next period too). Keyed by the store, as repairDue is, so a Lambda container
 * keeps its cadence across invocations.
 */
export function leasePassDue(ctx: SiteContext, now = ctx.clock.now()): boolean {
  const at = last.get(ctx.store);
  if (at !== undefined && now - at < LEASE_PASS_MS) return false;
  last.set(ctx.store, now);
  return true;
}

export async function renewScriptLeases(ctx: SiteContext): Promise<LeasePassResult> {
  const st = await loadServerState(ctx);
  const nowS = Math.floor(ctx.clock.now() / 1000);
  const historyS = historySeconds(st.server.attrs.job_history_duration);
  // a lease due now ends before this; a renewed one ends at `until`
  const need = nowS + historyS + LEASE_NOTICE_S;
  const until = scriptLeaseUntil(nowS, historyS, ctx.settings.scriptLeaseMarginDays);
  // the walk stops after a job granted at or after this (the header says why); no floor yet:
  // no submit recorded one, so there is no bound and the walk reads every active job
  const floor = await ctx.store.scriptLeaseFloor();
  const stopFrom = floor === undefined ? Number.POSITIVE_INFINITY : need - floor + SEQ_ORDER_SLACK_S;
  const res: LeasePassResult = { read: 0, renewed: 0 };
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
          }
          if (l.granted !== undefined && l.granted >= stopFrom) break walk;
        }
        if (page.next === undefined) break;
        after = page.next;
        limit = Math.min(MAX_PAGE, limit * 2);
      }
    }
  return res;
}
