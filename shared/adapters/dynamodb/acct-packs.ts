/**
 * Accounting records written together, stored as one item: the Q records of a group commit's
 * submissions, the S records of a cycle's claims (Ledger.putAccts). A pack is billed by its size
 * (1 WRU per KB) where each record alone was an item of its own, 1 WRU however small: a Q record
 * is ~150 B. Issue 14: the Q and S records were two of the ~10 items a job wrote, and on
 * DynamoDB Local items, not requests, are what costs (bench/throughput.ts: a 500-job burst ran
 * ~20 % faster without them).
 *
 * Layout. A pack lives in its records' day partition (`ACCT#<day>`, as a single record), under
 * the sort key of its first record with `#pack` after it, and holds its records as a JSON array
 * (`recs`, text: readable in a table export or the console, as single records are). Its records
 * are of one day and lie within PACK_SPAN_MS of its first, so a record's pack, if it has one, is
 * found by its own time: a Query of its day from `time - PACK_SPAN_MS` to `time`
 * (`recordWindows`), which returns singles and packs alike. A pack of one record is written as
 * that single record.
 *
 * Idempotent as single records are: a pack is a plain Put whose key and content follow from its
 * records, so one sent again writes the same item; a record that lands twice (in a pack and
 * again alone, after a repair read that lagged) is read once (`unpackAccts` keeps one per key).
 */
import type { AcctRecord } from "../../server/records.js";
import { acctItem, acctOf } from "./items.js";
import { keys } from "./table.js";

/** Records of a pack lie within this many ms of its first (the repair reads that far back). */
export const PACK_SPAN_MS = 50;
/** A pack stops growing here: items up to 400 KB are allowed, a smaller one is cheaper to rewrite. */
export const PACK_MAX_BYTES = 32 * 1024;

type Item = Record<string, unknown>;

const dayOf = (t: number) => new Date(t).toISOString().slice(0, 10);
/** A record's own sort key (its single item's): the order of a day's records and their identity. */
export const recordSk = (r: Pick<AcctRecord, "time" | "jobId" | "type">) =>
  keys.acct(r.time, r.jobId, r.type).sk;

/**
 * `recs` as items to put: packs of records of one day within PACK_SPAN_MS of their first and
 * under PACK_MAX_BYTES, or single records. `members[i]` are the indexes in `recs` an item holds.
 * A record named twice (one key) goes once, its later copy.
 */
export function packAccts(recs: AcctRecord[]): { item: Item; members: number[] }[] {
  const last = new Map<string, number>();
  for (const [i, r] of recs.entries()) last.set(recordSk(r), i);
  // the records sharing each kept copy's key: they share its outcome
  const sharers = new Map<number, number[]>();
  recs.forEach((r, i) => {
    const k = last.get(recordSk(r)) as number;
    sharers.set(k, [...(sharers.get(k) ?? []), i]);
  });
  const order = [...last.values()].sort((a, b) => recs[a].time - recs[b].time || cmp(recs[a], recs[b]));
  const groups: number[][] = [];
  let cur: number[] = [];
  let bytes = 0;
  for (const i of order) {
    const r = recs[i];
    const size = JSON.stringify(r).length;
    const first = cur.length ? recs[cur[0]] : undefined;
    const fits =
      first !== undefined &&
      dayOf(r.time) === dayOf(first.time) &&
      r.time - first.time <= PACK_SPAN_MS &&
      bytes + size <= PACK_MAX_BYTES;
    if (!fits && cur.length) {
      groups.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(i);
    bytes += size;
  }
  if (cur.length) groups.push(cur);
  return groups.map((g) => {
    const members = g.flatMap((i) => sharers.get(i) ?? []);
    if (g.length === 1) return { item: acctItem(recs[g[0]]), members };
    const rs = g.map((i) => recs[i]);
    const expires = rs.map((r) => r.expiresAt).filter((x): x is number => x !== undefined);
    return {
      item: {
        pk: keys.acct(rs[0].time, rs[0].jobId, rs[0].type).pk,
        sk: `${recordSk(rs[0])}#pack`,
        recs: JSON.stringify(rs),
        // the TTL deletes the pack with its last record (readers drop an expired record themselves)
        ...(expires.length === rs.length && { expiresAt: Math.max(...expires) }),
      },
      members,
    };
  });
}

/** The records of items read from a day partition (singles and packs), one per key, in key order. */
export function unpackAccts(items: Item[]): AcctRecord[] {
  const byKey = new Map<string, AcctRecord>();
  for (const it of items) {
    const rs: AcctRecord[] = typeof it.recs === "string" ? JSON.parse(it.recs) : [acctOf(it)];
    for (const r of rs) byKey.set(recordSk(r), r);
  }
  return [...byKey.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)).map(([, r]) => r);
}

/**
 * The sort-key ranges of the day partitions that hold `recs` if they were written, alone or in a
 * pack: [time - PACK_SPAN_MS (not before the day), time] for each, overlapping ranges merged.
 */
export function recordWindows(recs: AcctRecord[]): { pk: string; from: string; to: string }[] {
  const out: { pk: string; lo: number; hi: number }[] = [];
  const sorted = [...recs].sort((a, b) => a.time - b.time);
  for (const r of sorted) {
    const day = dayOf(r.time);
    const lo = Math.max(r.time - PACK_SPAN_MS, Date.parse(`${day}T00:00:00.000Z`));
    const prev = out[out.length - 1];
    if (prev && prev.pk === `ACCT#${day}` && lo <= prev.hi) prev.hi = Math.max(prev.hi, r.time);
    else out.push({ pk: `ACCT#${day}`, lo, hi: r.time });
  }
  // a key starts with its record's ISO time: the range covers every key of those milliseconds
  return out.map((w) => ({
    pk: w.pk,
    from: new Date(w.lo).toISOString(),
    to: `${new Date(w.hi).toISOString()}#\uffff`,
  }));
}

function cmp(a: AcctRecord, b: AcctRecord): number {
  const x = recordSk(a);
  const y = recordSk(b);
  return x < y ? -1 : x > y ? 1 : 0;
}
