/**
 * The site table in memory: items under (pk, sk), read and written the way DynamoDB reads and
 * writes them, so that MemorySiteStore can be the DynamoDB adapter's twin item for item. What is
 * DynamoDB's here, and why:
 *
 * - Items are plain data as the document client marshals them (undefined values dropped at every
 *   depth, `removeUndefinedValues`), copied in and copied out: nobody holds a reference to a
 *   stored item.
 * - A write is a list of operations, each with an optional condition on the item as stored; all
 *   conditions are checked, then all items are written, in one synchronous step (no await in
 *   between), so a write is atomic against every other call however the event loop interleaves
 *   them. A failed condition writes nothing and throws ConflictError.
 * - The validation DynamoDB does before any condition (item over 400 KB, a transaction of no or
 *   more than 100 actions, two actions on one item) is a StoreError built by the same
 *   `classifyStoreError` the DynamoDB adapter uses, so both adapters throw the same error.
 * - Secondary indexes are sparse and read as DynamoDB reads a GSI: only items carrying both index
 *   keys, ordered by the index sort key, projected to the index's attributes plus the keys.
 *   Each index is kept as DynamoDB keeps one, ordered: per index key value, a B+ tree
 *   (sorted-btree) of the items' (index sort key, table key). An index read starts where its
 *   range starts and reads only what it returns (and what its filter skips), and a write
 *   changes one entry in O(log n), so both cost the same with 100 jobs in a partition as with
 *   a million (bench/scale.ts). A sorted array did the reads as well, but every write at the
 *   front of a long partition moved the whole array: a job's start and end take the oldest
 *   entries out of the ready and list partitions, ~50 ms a cycle at a million queued.
 * - Numbers added with ADD are summed in decimal, as DynamoDB does (0.1 + 0.2 is 0.3 there).
 */
import sortedBTree from "sorted-btree";
import { ConflictError } from "../../errors.js";
import { itemSize } from "../dynamodb/item-size.js";
import { classifyStoreError, DYNAMO_ITEM_LIMIT } from "../dynamodb/errors.js";
import { type IndexDefinition, siteTableDefinition } from "../dynamodb/table.js";

export type Item = Record<string, unknown>;

/** One index of the site table, by name (the definition both adapters share). */
export function siteIndex(name: string): IndexDefinition {
  const i = siteTableDefinition.indexes.find((x) => x.name === name);
  if (!i) throw new Error(`the site table has no ${name} index`);
  return i;
}
export interface Key {
  pk: string;
  sk: string;
}

/** One action of a write: the item it makes from the stored one (undefined deletes it). */
export interface WriteOp {
  key: Key;
  /** true when the write may go ahead, given the item as stored (undefined: absent) */
  cond?: (cur: Item | undefined) => boolean;
  next: (cur: Item | undefined) => Item | undefined;
}

/**
 * Which part of an index partition a read wants, as a Query's key condition, direction, Limit
 * and FilterExpression say it (the filter sees the item as stored; `limit` counts what it keeps).
 */
export interface IndexRange {
  /** the sort key equals this */
  eq?: string;
  /** the sort key is below this */
  below?: string;
  /** the sort key is above this */
  above?: string;
  /** highest sort key first (ScanIndexForward: false) */
  reverse?: boolean;
  limit?: number;
  filter?: (it: Readonly<Item>) => boolean;
}

/** An index entry: the item's index sort key and its table key. */
interface Entry {
  s: string;
  pk: string;
  sk: string;
}

/**
 * A bound of an index range: `top` sorts after every entry whose sort key is `s`; without it,
 * `pk: ""` sorts before every one (a DynamoDB key attribute is never empty). Never stored.
 */
type Probe = Entry & { top?: true };

const low = (s: string): Probe => ({ s, pk: "", sk: "" });
const high = (s: string): Probe => ({ s, pk: "", sk: "", top: true });

/** Entries compare by index sort key, then table key (DynamoDB leaves ties unordered). */
const cmpEntry = (a: Probe, b: Probe): number =>
  cmp(a.s, b.s) || (a.top || b.top ? (a.top ? 1 : 0) - (b.top ? 1 : 0) : cmp(a.pk, b.pk) || cmp(a.sk, b.sk));

// sorted-btree is CommonJS with `exports.default`: a default import is its exports object under
// Node's ESM loader (as TypeScript says); a loader that unwraps CommonJS defaults gives the class.
type BTreeClass = typeof sortedBTree.default;
const BTree: BTreeClass = sortedBTree.default ?? (sortedBTree as unknown as BTreeClass);

type IndexPartition = sortedBTree.default<Entry, undefined>;

/** DynamoDB's limit on the actions of one TransactWriteItems. */
const MAX_TRANSACT_ITEMS = 100;

/**
 * A value as the document client stores it (undefined dropped in maps and lists), as a new
 * deep-frozen copy. Stored items are frozen so that conditions, builders and inspection can be
 * handed them without a copy and still cannot change what is stored; reads through the port
 * copy them (structuredClone), so callers get records of their own to change.
 */
export function clean<T>(v: T): T {
  if (Array.isArray(v)) return Object.freeze(v.filter((x) => x !== undefined).map(clean)) as T;
  if (v !== null && typeof v === "object" && !(v instanceof Uint8Array) && !(v instanceof Set)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) if (x !== undefined) out[k] = clean(x);
    return Object.freeze(out) as T;
  }
  return v;
}

/** The SDK error DynamoDB answers an invalid request with, for classifyStoreError. */
function validationError(message: string): Error {
  const e = new Error(message);
  e.name = "ValidationException";
  return e;
}

const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

export class MemoryTable {
  /** pk -> sk -> item */
  private readonly parts = new Map<string, Map<string, Item>>();
  /** index name -> index key value -> entries by (index sort key, table key) */
  private readonly indexes = new Map<string, Map<string, IndexPartition>>();

  constructor(private readonly indexDefs: IndexDefinition[] = siteTableDefinition.indexes) {
    for (const d of indexDefs) this.indexes.set(d.name, new Map());
  }

  get(key: Key): Item | undefined {
    const it = this.parts.get(key.pk)?.get(key.sk);
    return it === undefined ? undefined : structuredClone(it);
  }

  /** Items of a partition whose sort key passes `sk`, by sort key ascending (a Query). */
  query(pk: string, sk: (s: string) => boolean = () => true): Item[] {
    const part = this.parts.get(pk);
    if (!part) return [];
    return [...part.keys()]
      .filter(sk)
      .sort(cmp)
      .map((s) => structuredClone(part.get(s) as Item));
  }

  /**
   * Items of a secondary index partition in the range asked, by index sort key (ascending unless
   * `reverse`), projected as the index projects them. Items with equal index sort keys come in
   * table-key order (DynamoDB leaves that order unspecified: nothing may rely on it).
   */
  queryIndex(idx: IndexDefinition, value: string, range: IndexRange = {}): Item[] {
    const tree = this.indexes.get(idx.name)?.get(value);
    if (!tree) return [];
    // the range as two bounds, each the tighter of what the key condition says
    let lo: Probe | undefined;
    let hi: Probe | undefined;
    const raise = (p: Probe) => {
      if (!lo || cmpEntry(p, lo) > 0) lo = p;
    };
    const lower = (p: Probe) => {
      if (!hi || cmpEntry(p, hi) < 0) hi = p;
    };
    if (range.eq !== undefined) {
      raise(low(range.eq));
      lower(high(range.eq));
    }
    if (range.above !== undefined) raise(high(range.above));
    if (range.below !== undefined) lower(low(range.below));
    const limit = range.limit ?? Number.POSITIVE_INFINITY;
    const out: Item[] = [];
    // a bound is never stored, so the walk starts at the first entry inside it
    const walk = range.reverse ? tree.entriesReversed(hi) : tree.entries(lo);
    for (const [e] of walk) {
      if (out.length >= limit) break;
      if (range.reverse ? lo && cmpEntry(e, lo) < 0 : hi && cmpEntry(e, hi) > 0) break;
      const it = this.parts.get(e.pk)?.get(e.sk) as Item;
      if (range.filter && !range.filter(it)) continue;
      out.push(structuredClone(project(idx, it)));
    }
    return out;
  }

  /**
   * Every item whose partition key starts with `prefix`, by table key, as stored: deep-frozen,
   * not copied (a Scan for a test's checks, which may run after every step of a simulation).
   */
  peek(prefix = ""): Readonly<Item>[] {
    const out: Item[] = [];
    for (const pk of [...this.parts.keys()].filter((p) => p.startsWith(prefix)).sort(cmp)) {
      const part = this.parts.get(pk) as Map<string, Item>;
      for (const sk of [...part.keys()].sort(cmp)) out.push(part.get(sk) as Item);
    }
    return out;
  }

  /**
   * Apply `ops` all or nothing. `transact` adds TransactWriteItems' own validation (1 to 100
   * actions, each on a different item). `conflict` is the ConflictError's message when a
   * condition fails. Synchronous on purpose: nothing else runs between the checks and the writes.
   */
  write(ops: WriteOp[], conflict: string, transact = false): void {
    if (transact) {
      if (ops.length === 0 || ops.length > MAX_TRANSACT_ITEMS)
        throw classifyStoreError(
          validationError(
            `Member must have length between 1 and ${MAX_TRANSACT_ITEMS}, was ${ops.length} (TransactItems)`,
          ),
          conflict,
        );
      const seen = new Set<string>();
      for (const op of ops) {
        const k = `${op.key.pk}\u0000${op.key.sk}`;
        if (seen.has(k))
          throw classifyStoreError(
            validationError("Transaction request cannot include multiple operations on one item"),
            conflict,
          );
        seen.add(k);
      }
    }
    const staged: { key: Key; item: Item | undefined }[] = [];
    let failed = false;
    for (const op of ops) {
      // the stored item itself: frozen, so a condition or builder cannot change it in place
      const cur = this.parts.get(op.key.pk)?.get(op.key.sk);
      const next = op.next(cur);
      const item = next === undefined ? undefined : clean({ ...next, pk: op.key.pk, sk: op.key.sk });
      // DynamoDB refuses an oversized item whatever the conditions say (a validation error).
      if (item && itemSize(item) > DYNAMO_ITEM_LIMIT)
        throw classifyStoreError(
          validationError("Item size has exceeded the maximum allowed size"),
          conflict,
        );
      if (op.cond && !op.cond(cur)) failed = true;
      staged.push({ key: op.key, item });
    }
    if (failed) throw new ConflictError(conflict);
    for (const { key, item } of staged) {
      this.reindex(key, this.parts.get(key.pk)?.get(key.sk), item);
      if (item === undefined) {
        const part = this.parts.get(key.pk);
        part?.delete(key.sk);
        if (part && part.size === 0) this.parts.delete(key.pk);
      } else {
        const part = this.parts.get(key.pk) ?? new Map<string, Item>();
        this.parts.set(key.pk, part);
        part.set(key.sk, item);
      }
    }
  }

  /** Keep every index in step with one item going from `before` to `after` (undefined: absent). */
  private reindex(key: Key, before: Item | undefined, after: Item | undefined): void {
    for (const d of this.indexDefs) {
      const was = indexKey(d, before);
      const now = indexKey(d, after);
      if (was && now && was.v === now.v && was.s === now.s) continue;
      const parts = this.indexes.get(d.name) as Map<string, IndexPartition>;
      if (was) {
        const tree = parts.get(was.v);
        tree?.delete({ s: was.s, pk: key.pk, sk: key.sk });
        if (tree?.size === 0) parts.delete(was.v);
      }
      if (now) {
        let tree = parts.get(now.v);
        if (!tree) {
          tree = new BTree<Entry, undefined>(undefined, cmpEntry);
          parts.set(now.v, tree);
        }
        tree.set({ s: now.s, pk: key.pk, sk: key.sk }, undefined);
      }
    }
  }
}

/** The index key of `it` in `d` (both attributes strings), or undefined: the item is not in it. */
function indexKey(d: IndexDefinition, it: Item | undefined): { v: string; s: string } | undefined {
  const v = it?.[d.pk];
  const s = it?.[d.sk];
  return typeof v === "string" && typeof s === "string" ? { v, s } : undefined;
}

/** The attributes a GSI returns for an item: its projection plus the table and index keys. */
function project(idx: IndexDefinition, it: Item): Item {
  if (idx.projection === "ALL") {
    // DynamoDB keeps a job's script in an item of its own (dynamodb/job-script.ts), which no
    // index holds: no index read returns it here either
    const { script: _script, ...rest } = it;
    return rest;
  }
  const out: Item = {};
  for (const a of ["pk", "sk", idx.pk, idx.sk, ...idx.projection]) if (it[a] !== undefined) out[a] = it[a];
  return out;
}

/**
 * a + b as DynamoDB's ADD computes it: in decimal (38 digits), not in binary floating point.
 * Integers (the usual case) take the fast path.
 */
export function decimalAdd(a: number, b: number): number {
  if (Number.isInteger(a) && Number.isInteger(b) && Number.isSafeInteger(a + b)) return a + b;
  const da = toDecimal(a);
  const db = toDecimal(b);
  const exp = Math.min(da.exp, db.exp);
  const sum = da.mant * 10n ** BigInt(da.exp - exp) + db.mant * 10n ** BigInt(db.exp - exp);
  return Number(`${sum}e${exp}`);
}

/** x as mant * 10^exp, from its shortest decimal text. */
function toDecimal(x: number): { mant: bigint; exp: number } {
  const [m, e = "0"] = String(x).toLowerCase().split("e");
  const [int, frac = ""] = m.split(".");
  return { mant: BigInt(`${int}${frac}`), exp: Number(e) - frac.length };
}
