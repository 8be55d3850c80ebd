/**
 * The site's other records as items of the in-memory table, keyed and shaped as the DynamoDB
 * adapter keys and shapes them (shared/adapters/dynamodb/table.ts `keys`), and read back the same way.
 */
import type { AcctRecord, AuditRecord, ProjectRecord, UsageCharge } from "../../server/records.js";
import { keys } from "../dynamodb/table.js";
import { decimalAdd, type Item, type WriteOp } from "./table.js";

export function acctOp(rec: AcctRecord): WriteOp {
  return { key: keys.acct(rec.time, rec.jobId, rec.type), next: () => ({ ...rec }) };
}

/** A record read back as the DynamoDB adapter reads a single record's item. */
export { acctOf } from "../dynamodb/items.js";

/** ADD to a project's counters (core-seconds cs_<where>, walltime ws_<where>), creating it if absent. */
export function chargeOp(c: UsageCharge): WriteOp {
  return {
    key: keys.project(c.account),
    next: (cur) => {
      const it: Item = { ...cur };
      it[`cs_${c.where}`] = decimalAdd(Number(it[`cs_${c.where}`] ?? 0), c.coreSeconds);
      it[`ws_${c.where}`] = decimalAdd(Number(it[`ws_${c.where}`] ?? 0), c.walltime);
      return it;
    },
  };
}

export function projectFrom(it: Item): ProjectRecord {
  const p: ProjectRecord = { account: String(it.sk), coreSeconds: {}, walltime: {} };
  if (typeof it.granted === "number") p.granted = it.granted;
  for (const [k, v] of Object.entries(it)) {
    if (k.startsWith("cs_")) p.coreSeconds[k.slice(3)] = Number(v);
    if (k.startsWith("ws_")) p.walltime[k.slice(3)] = Number(v);
  }
  return p;
}

export function auditOf(it: Item): AuditRecord {
  const { pk: _pk, sk: _sk, ...rest } = it;
  return rest as unknown as AuditRecord;
}

export function peerOf(it: Item) {
  return { short: String(it.short), state: String(it.state), at: Number(it.at) };
}
