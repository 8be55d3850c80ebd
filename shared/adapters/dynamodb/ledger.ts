/**
 * The ledger: projects (allocation granted and usage by site, `PROJ/<account>`), accounting
 * records (`ACCT#<day>/<time>#<jobId>#<type>`, or several written together in one item under the
 * first's key and `#pack`: acct-packs.ts) and the audit trail (`AUDIT#<day>/<time>#<rand>`,
 * and the same line under the job, `JOB#<key>/L#...`, for tracejob).
 *
 * DynamoDB facts that shaped it: usage is counted with UpdateItem ADD, which needs no read and
 * adds concurrent charges without a lost update; a job's own accounting record and charge ride
 * in the job's transaction (jobs.ts, items.ts), these are the writes outside one; records are
 * partitioned by day so a day's records are one Query (paged), in sort-key (time) order.
 */
import {
  BatchWriteCommand,
  GetCommand,
  PutCommand,
  QueryCommand,
  TransactWriteCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import { randomUUID } from "node:crypto";
import type { Ledger, SettleEnd } from "../../ports/store.js";
import type { AcctRecord, AuditRecord, ProjectRecord, UsageCharge } from "../../server/records.js";
import { packAccts, recordSk, recordWindows, unpackAccts } from "./acct-packs.js";
import { acctItem, chargesUpdate, chargeUpdate } from "./items.js";
import { batchPut } from "./batch-put.js";
import { classifyStoreError, retryBusy } from "./errors.js";
import { mergeCharges } from "./job-groups.js";
import { TableAccess } from "./table-access.js";
import { keys } from "./table.js";

/** Queries ensureAcct has in flight at once. */
const ENSURE_QUERIES_AT_ONCE = 8;

export class DynamoLedger extends TableAccess implements Ledger {
  async getProject(account: string): Promise<ProjectRecord | undefined> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: keys.project(account), ConsistentRead: true }),
    );
    return r.Item ? projectFrom(r.Item) : undefined;
  }

  async listProjects(): Promise<ProjectRecord[]> {
    const items = await this.queryItems({
      TableName: this.table,
      KeyConditionExpression: "pk = :p",
      ExpressionAttributeValues: { ":p": "PROJ" },
      ConsistentRead: true,
    });
    return items.map(projectFrom);
  }

  /** Set (core-hours) or clear (undefined) a project's allocation; usage counters are kept. */
  async setAllocation(account: string, coreHours: number | undefined): Promise<void> {
    await this.doc.send(
      new UpdateCommand({
        TableName: this.table,
        Key: keys.project(account),
        UpdateExpression: coreHours === undefined ? "REMOVE granted" : "SET granted = :g",
        ExpressionAttributeValues: coreHours === undefined ? undefined : { ":g": coreHours },
      }),
    );
  }

  /** Add usage outside a job transaction (usage reported by a peer is guarded by its own job write). */
  async chargeUsage(charge: UsageCharge): Promise<void> {
    await this.doc.send(new UpdateCommand(chargeUpdate(this.table, charge)));
  }

  async putAcct(rec: AcctRecord): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: acctItem(rec) }));
  }

  /**
   * Several records at once (the Q records of submissions arriving together, the S records of a
   * cycle's claims: group-commit.ts), packed (acct-packs.ts: records within a few ms of each
   * other in one item, billed by its size) and put with BatchWriteItem, 25 items a request
   * (batch-put.ts). A pack's key and content follow from its records, so a put sent again
   * (unprocessed, or after a crash) rewrites the same item. A record's error is its item's.
   */
  async putAccts(recs: AcctRecord[]): Promise<(Error | undefined)[]> {
    const packs = packAccts(recs);
    const errs = await batchPut(
      this.doc,
      this.table,
      packs.map((p) => p.item),
      (err, i) => {
        const first = recs[packs[i].members[0]];
        const what = packs[i].members.length > 1 ? ` and ${packs[i].members.length - 1} more` : "";
        return classifyStoreError(err, "", `the ${first.type} record of ${first.jobId}${what}`);
      },
    );
    const out: (Error | undefined)[] = new Array(recs.length).fill(undefined);
    packs.forEach((p, i) => {
      for (const m of p.members) out[m] = errs[i];
    });
    return out;
  }

  /**
   * The ends' records, each conditional on its key being free, with their projects' ADDs (one
   * per project, the ends' charges summed: a transaction may not touch an item twice), in one
   * transaction of these small items only (the job items, ~2 KB each, are written before, alone:
   * job-end.ts settleEnd says why). When DynamoDB cancels it, its CancellationReasons say which
   * records were there already (settled before: false); the others are sent again without them.
   * Up to 40 ends a transaction, so records and ADDs stay under its 100 actions.
   */
  async settleEnds(ends: SettleEnd[]): Promise<boolean[]> {
    const out: boolean[] = new Array(ends.length).fill(false);
    for (let i = 0; i < ends.length; i += 40) {
      let live = ends.map((_, j) => j).slice(i, i + 40);
      while (live.length) {
        const puts = live.map((j) => ({
          Put: {
            TableName: this.table,
            Item: acctItem(ends[j].rec),
            ConditionExpression: "attribute_not_exists(pk)",
          },
        }));
        // one ADD per project, as the group commit charges (job-groups.ts)
        const adds = mergeCharges(live.map((j) => ends[j])).map((list) => ({
          Update: chargesUpdate(this.table, list) as never,
        }));
        const items = [...puts, ...adds];
        try {
          // one record without a charge: a conditional PutItem, no transaction at all
          if (items.length === 1) await retryBusy(() => this.doc.send(new PutCommand(puts[0].Put)));
          else await retryBusy(() => this.doc.send(new TransactWriteCommand({ TransactItems: items })));
          for (const j of live) out[j] = true;
          break;
        } catch (err) {
          const e = err as { name?: string; CancellationReasons?: { Code?: string }[] };
          const settled =
            e.name === "ConditionalCheckFailedException"
              ? new Set(live)
              : e.name === "TransactionCanceledException"
                ? new Set(
                    live.filter((_, k) => e.CancellationReasons?.[k]?.Code === "ConditionalCheckFailed"),
                  )
                : new Set<number>();
          if (settled.size === 0)
            throw classifyStoreError(err, `the accounting of ${live.length} job ends could not be settled`);
          live = live.filter((j) => !settled.has(j)); // already there: false, as out holds
        }
      }
    }
    return out;
  }

  /**
   * Records that may be missing after a crash between a job's write and its record's (job-end.ts
   * settleEnd): looked for where they would be, alone or packed (one eventually consistent Query
   * of the few milliseconds before each, overlapping ones merged: acct-packs.ts recordWindows),
   * the missing ones put. A record read as missing only because the read lagged is put again
   * with the same key and content: read as one record (unpackAccts keeps one per key).
   */
  async ensureAcct(recs: AcctRecord[]): Promise<void> {
    if (!recs.length) return;
    const have = new Set<string>();
    const windows = recordWindows(recs);
    // a few Queries at a time: the ends of a lost MOM's jobs can name records hours apart, one
    // window each
    for (let i = 0; i < windows.length; i += ENSURE_QUERIES_AT_ONCE) {
      const found = await Promise.all(
        windows.slice(i, i + ENSURE_QUERIES_AT_ONCE).map((w) =>
          this.queryItems({
            TableName: this.table,
            KeyConditionExpression: "pk = :p AND sk BETWEEN :a AND :b",
            ExpressionAttributeValues: { ":p": w.pk, ":a": w.from, ":b": w.to },
          }),
        ),
      );
      for (const r of unpackAccts(found.flat())) have.add(recordSk(r));
    }
    const missing = recs.filter((r) => !have.has(recordSk(r)));
    if (!missing.length) return;
    const err = (await this.putAccts(missing)).find((e) => e !== undefined);
    if (err) throw err;
  }

  /**
   * Writes an audit line to the day's trail and, for a job, next to the job (outside the job
   * item: a refusal changes nothing about the job itself, not even its version).
   */
  async putAudit(rec: AuditRecord): Promise<void> {
    const id = randomUUID().slice(0, 8);
    const item = { ...rec };
    const puts = [{ PutRequest: { Item: { ...keys.audit(rec.time, id), ...item } } }];
    if (rec.jobKey)
      puts.push({ PutRequest: { Item: { ...keys.jobAudit(rec.jobKey, rec.time, id), ...item } } });
    await this.doc.send(new BatchWriteCommand({ RequestItems: { [this.table]: puts } }));
  }

  async listAudit(day: string): Promise<AuditRecord[]> {
    const r = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: "pk = :p",
        ExpressionAttributeValues: { ":p": `AUDIT#${day}` },
      }),
    );
    return (r.Items ?? []).map(auditOf);
  }

  /** The audit lines about one job, oldest first. */
  async jobAudit(key: string): Promise<AuditRecord[]> {
    const r = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: "pk = :p AND begins_with(sk, :l)",
        ExpressionAttributeValues: { ":p": `JOB#${key}`, ":l": "L#" },
      }),
    );
    return (r.Items ?? []).map(auditOf);
  }

  /** A day's records, packed or not, in key order (time, job, type); every page of the day. */
  async listAcct(day: string): Promise<AcctRecord[]> {
    const items = await this.queryItems({
      TableName: this.table,
      KeyConditionExpression: "pk = :p",
      ExpressionAttributeValues: { ":p": `ACCT#${day}` },
    });
    // expiresAt (the TTL) too: reads leave out what expired before DynamoDB deleted it (history.ts)
    return unpackAccts(items);
  }
}

function projectFrom(it: Record<string, unknown>): ProjectRecord {
  const p: ProjectRecord = { account: String(it.sk), coreSeconds: {}, walltime: {} };
  if (typeof it.granted === "number") p.granted = it.granted;
  for (const [k, v] of Object.entries(it)) {
    if (k.startsWith("cs_")) p.coreSeconds[k.slice(3)] = Number(v);
    if (k.startsWith("ws_")) p.walltime[k.slice(3)] = Number(v);
  }
  return p;
}

function auditOf(it: Record<string, unknown>): AuditRecord {
  const { pk: _pk, sk: _sk, ...rest } = it;
  return rest as unknown as AuditRecord;
}
