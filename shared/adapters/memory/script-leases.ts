/**
 * JobStore.scriptLeases and renewScriptLease over the memory table, read and written as the
 * DynamoDB adapter does (dynamodb/script-leases.ts): the active list-index partition of a queue
 * oldest first, then each listed job's script item (`JOB#<key>/B`, job-items.ts scriptOp); a
 * renewal extends a lease, never shortens one, and writes nothing without a script item.
 */
import { ConflictError } from "../../errors.js";
import type { ScriptLease } from "../../ports/store.js";
import { scriptKey } from "../dynamodb/job-script.js";
import { keys, LIST_INDEX } from "../dynamodb/table.js";
import { type MemoryTable, siteIndex } from "./table.js";

const LIST = siteIndex(LIST_INDEX);

export function scriptLeases(
  table: MemoryTable,
  queue: string,
  sub: boolean,
  after: number | undefined,
  limit: number,
): { leases: ScriptLease[]; next?: number } {
  const part = `${keys.list(queue, false)}${sub ? "#sub" : ""}`;
  const above = after === undefined ? undefined : keys.listSort(after);
  // one more than asked: whether there is more (DynamoDB says so by LastEvaluatedKey)
  const listed = table.queryIndex(LIST, part, { above, limit: limit + 1 });
  const page = listed.slice(0, limit);
  const leases = page.flatMap((it): ScriptLease[] => {
    const key = String(it.key);
    const b = table.get(scriptKey(key));
    if (!b) return [];
    return [
      {
        key,
        seq: Number(it.seq),
        until: typeof b.expiresAt === "number" ? b.expiresAt : undefined,
        renewed: b.rn === true,
        ...(typeof b.gt === "number" && { granted: b.gt }),
      },
    ];
  });
  return { leases, next: listed.length > limit ? Number(page[page.length - 1].seq) : undefined };
}

export function renewScriptLease(table: MemoryTable, key: string, until: number): void {
  try {
    table.write(
      [
        {
          key: scriptKey(key),
          cond: (cur) => cur !== undefined && !(typeof cur.expiresAt === "number" && cur.expiresAt >= until),
          next: (cur) => (cur === undefined ? undefined : { ...cur, expiresAt: until, rn: true }),
        },
      ],
      `job ${key}: its script's lease is as long already`,
    );
  } catch (err) {
    // as on DynamoDB: a failed condition (as long already, or no script item) changes nothing
    if (!(err instanceof ConflictError)) throw err;
  }
}

/** The floor on the job counter's item (`SRV/SEQ`, `leaseTerm`), as on DynamoDB. */
export function scriptLeaseFloor(table: MemoryTable): number | undefined {
  const v = table.get(keys.seq())?.leaseTerm;
  return typeof v === "number" ? v : undefined;
}

export function lowerScriptLeaseFloor(table: MemoryTable, termS: number): void {
  try {
    table.write(
      [
        {
          key: keys.seq(),
          cond: (cur) => !(typeof cur?.leaseTerm === "number" && cur.leaseTerm <= termS),
          next: (cur) => ({ ...cur, leaseTerm: termS }),
        },
      ],
      `the script lease floor is ${termS} s or lower already`,
    );
  } catch (err) {
    if (!(err instanceof ConflictError)) throw err;
  }
}
