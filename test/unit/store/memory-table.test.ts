/**
 * The in-memory table's secondary indexes (shared/adapters/memory/table.ts) against the plainest
 * model of a GSI: every item carrying both index keys, sorted by (index sort key, table key),
 * cut to the key condition, reversed, limited. Random writes (puts that move an item between
 * partitions and sort keys, deletes) and random reads, with sort keys drawn from a tiny alphabet
 * so that ties, empty ranges and bounds equal to a stored key all come up.
 */
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { IndexDefinition } from "../../../shared/adapters/dynamodb/table.js";
import { type IndexRange, type Item, MemoryTable } from "../../../shared/adapters/memory/table.js";

const IDX: IndexDefinition = { name: "x", pk: "ip", sk: "is", projection: ["v"] };

const sortKey = fc.constantFrom("a", "b", "bb", "c");
const write = fc.record({
  pk: fc.constantFrom("P1", "P2", "P3", "P4", "P5", "P6"),
  sk: fc.constantFrom("A", "B"),
  // absent: the item leaves the index (or is deleted, with `gone`)
  ip: fc.option(fc.constantFrom("u", "w"), { nil: undefined }),
  is: fc.option(sortKey, { nil: undefined }),
  gone: fc.boolean(),
  v: fc.nat(9),
});
const read = fc.record({
  value: fc.constantFrom("u", "w", "z"),
  eq: fc.option(sortKey, { nil: undefined }),
  above: fc.option(fc.constantFrom("", "a", "b", "bb", "c"), { nil: undefined }),
  below: fc.option(fc.constantFrom("a", "b", "bb", "c", "d"), { nil: undefined }),
  reverse: fc.boolean(),
  limit: fc.option(fc.integer({ min: 1, max: 5 }), { nil: undefined }),
  odd: fc.boolean(),
});

/** What DynamoDB would return, from every stored item. */
function model(items: Map<string, Item>, value: string, r: IndexRange): Item[] {
  const cmp = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  let rows = [...items.values()]
    .filter((it) => it.ip === value && typeof it.is === "string")
    .filter((it) => r.eq === undefined || it.is === r.eq)
    .filter((it) => r.above === undefined || String(it.is) > r.above)
    .filter((it) => r.below === undefined || String(it.is) < r.below)
    .sort(
      (a, b) =>
        cmp(String(a.is), String(b.is)) || cmp(String(a.pk), String(b.pk)) || cmp(String(a.sk), String(b.sk)),
    );
  if (r.reverse) rows = rows.reverse();
  if (r.filter) rows = rows.filter(r.filter);
  return rows.slice(0, r.limit ?? rows.length).map((it) => {
    const out: Item = { pk: it.pk, sk: it.sk, ip: it.ip, is: it.is };
    if (it.v !== undefined) out.v = it.v;
    return out;
  });
}

describe("the in-memory table's indexes", () => {
  it("read what a GSI holds, in its order, after any writes", () => {
    fc.assert(
      fc.property(
        fc.array(write, { maxLength: 60 }),
        fc.array(read, { minLength: 1, maxLength: 12 }),
        (ws, rs) => {
          const table = new MemoryTable([IDX]);
          const items = new Map<string, Item>();
          for (const w of ws) {
            const key = { pk: w.pk, sk: w.sk };
            const id = `${w.pk}/${w.sk}`;
            const item = w.gone ? undefined : { ...key, ip: w.ip, is: w.is, v: w.v };
            table.write([{ key, next: () => item }], "conflict");
            if (item)
              items.set(id, Object.fromEntries(Object.entries(item).filter(([, x]) => x !== undefined)));
            else items.delete(id);
          }
          for (const r of rs) {
            const range: IndexRange = {
              ...(r.eq !== undefined ? { eq: r.eq } : { above: r.above, below: r.below }),
              reverse: r.reverse,
              limit: r.limit,
              ...(r.odd && { filter: (it: Readonly<Item>) => Number(it.v) % 2 === 1 }),
            };
            expect(table.queryIndex(IDX, r.value, range)).toEqual(model(items, r.value, range));
          }
        },
      ),
      { numRuns: 400 },
    );
  });
});
