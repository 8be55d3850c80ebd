/**
 * How a group of job writes (JobStore.writeJobs) is cut into transactions, as a pure function
 * both adapters use, so the in-memory twin groups exactly as DynamoDB does.
 *
 * DynamoDB facts that shaped it: one TransactWriteItems carries at most 100 actions and 4 MB,
 * and refuses two actions on one item (a ValidationException for the whole request, not a
 * per-item reason). So a write goes into the first transaction that still has room for its
 * actions and bytes and touches none of its job or accounting items: two writes of one job land
 * in different transactions, in their order. Charges are the exception: the ends of one
 * project in a transaction are charged by one ADD of their sum (mergeCharges), which lands
 * exactly when they all do, so a batch of one project's ends still shares transactions.
 * DynamoDB Local commits about 3× more items per second in one 25-item transaction than in
 * 2-item ones (issue 14), which is what grouping buys.
 */
import type { JobWrite } from "../../ports/store.js";
import type { UsageCharge } from "../../server/records.js";
import { itemSize } from "./item-size.js";
import { jobItem } from "./items.js";
import { keys } from "./table.js";

/** DynamoDB's limit on the actions of one TransactWriteItems. */
export const MAX_TRANSACT_ACTIONS = 100;
/** DynamoDB's 4 MB per transaction, less a margin for keys, expressions and names. */
export const MAX_TRANSACT_BYTES = 3.5 * 1024 * 1024;
/** What an update expression and its names cost over the item's own bytes, roughly. */
const ACTION_OVERHEAD = 1024;

type Footprint = { items: string[]; bytes: number; project?: string };
/**
 * Footprints already worked out: writeJobs asks for each write's twice (planJobGroups, then
 * groupsShareItems), and sizing a job item builds it whole (a measurable share of the runtime's
 * CPU per job in `node --cpu-prof` of the 500-job bench). A write is not changed once made.
 */
const footprints = new WeakMap<JobWrite, Footprint>();

/** The items a write touches (as "pk\0sk"), and what it adds to a transaction. */
export function writeFootprint(w: JobWrite): Footprint {
  const known = footprints.get(w);
  if (known) return known;
  const f = footprintOf(w);
  footprints.set(w, f);
  return f;
}

function footprintOf(w: JobWrite): Footprint {
  const k = (x: { pk: string; sk: string }) => `${x.pk}\u0000${x.sk}`;
  const job = w.create ?? w.after;
  const items = [k(keys.job(job.key))];
  let bytes = itemSize(jobItem(job)) + ACTION_OVERHEAD;
  if (w.acct) {
    items.push(k(keys.acct(w.acct.time, w.acct.jobId, w.acct.type)));
    bytes += itemSize({ ...w.acct }) + ACTION_OVERHEAD;
  }
  // its project's item is not its own: the group charges each project once (mergeCharges)
  return { items, bytes, project: w.charge ? k(keys.project(w.charge.account)) : undefined };
}

/**
 * The charges of a group (job writes, or the ends a settle batch records), one list per project:
 * each `where`'s core and wall seconds summed.
 */
export function mergeCharges(writes: readonly { charge?: UsageCharge }[]): UsageCharge[][] {
  const by = new Map<string, Map<string, UsageCharge>>();
  for (const w of writes) {
    const c = w.charge;
    if (!c) continue;
    const p = by.get(c.account) ?? new Map<string, UsageCharge>();
    by.set(c.account, p);
    const cur = p.get(c.where);
    p.set(
      c.where,
      cur
        ? { ...cur, coreSeconds: cur.coreSeconds + c.coreSeconds, walltime: cur.walltime + c.walltime }
        : { ...c },
    );
  }
  return [...by.values()].map((p) => [...p.values()]);
}

/**
 * The indices of `writes`, cut into groups that each fit one transaction: at most
 * MAX_TRANSACT_ACTIONS actions and MAX_TRANSACT_BYTES, no item twice. Order is kept inside a
 * group and between writes of one item. A write too big for any transaction is alone.
 */
export function planJobGroups(writes: JobWrite[]): number[][] {
  const groups: { idx: number[]; actions: number; bytes: number; items: Set<string> }[] = [];
  for (let i = 0; i < writes.length; i++) {
    const f = writeFootprint(writes[i]);
    // after the last group holding one of its items: a second write of an item keeps its order
    let from = 0;
    for (let g = 0; g < groups.length; g++) if (f.items.some((it) => groups[g].items.has(it))) from = g + 1;
    // its actions in a group: its own, plus its project's charge unless the group has it
    const need = (x: (typeof groups)[number]) =>
      f.items.length + (f.project && !x.items.has(f.project) ? 1 : 0);
    const extra = f.project ? ACTION_OVERHEAD : 0;
    let g = from;
    for (; g < groups.length; g++) {
      const x = groups[g];
      if (x.actions + need(x) <= MAX_TRANSACT_ACTIONS && x.bytes + f.bytes + extra <= MAX_TRANSACT_BYTES)
        break;
    }
    if (g === groups.length) groups.push({ idx: [], actions: 0, bytes: 0, items: new Set() });
    const x = groups[g];
    x.idx.push(i);
    x.actions += need(x);
    x.bytes += f.bytes + extra;
    for (const it of f.items) x.items.add(it);
    if (f.project) x.items.add(f.project);
  }
  return groups.map((x) => x.idx);
}

/** True when two groups touch one item: they must then be committed one after the other. */
export function groupsShareItems(groups: JobWrite[][]): boolean {
  const seen = new Set<string>();
  for (const g of groups) {
    const mine = g.flatMap((w) => writeFootprint(w).items);
    if (mine.some((it) => seen.has(it))) return true;
    for (const it of mine) seen.add(it);
  }
  return false;
}
