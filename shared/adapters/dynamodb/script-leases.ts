/**
 * The script leases of active jobs (JobStore.scriptLeases, renewScriptLease): what the sweeper's
 * lease pass (shared/server/script-lease.ts) reads and writes. Why scripts have leases rather
 * than an expiry set at the job's end: job-script.ts.
 *
 * Finding the jobs: the list index's active partition of a queue (`A#<queue>`, `A#<queue>#sub`
 * for subjobs) holds every active job and only those, in seq order, which is submit order. So the
 * oldest active jobs, the only ones whose leases can be near their end, are the first entries
 * of one Query (no Scan, nothing finished walked past); their leases are on their B items, read
 * by key in one BatchGetItem (eventually consistent: half the read units; a lease read stale
 * is renewed again, which the renewal's condition turns into nothing).
 */
import { batchGet } from "./batch-get.js";
import { GetCommand, QueryCommand, UpdateCommand, type UpdateCommandInput } from "@aws-sdk/lib-dynamodb";
import type { JobStore, ScriptLease } from "../../ports/store.js";
import { ConflictError } from "../../errors.js";
import { classifyStoreError, retryBusy } from "./errors.js";
import { scriptKey, scriptLeaseRenewal } from "./job-script.js";
import { TableAccess } from "./table-access.js";
import { keys, LIST_INDEX } from "./table.js";

export type ScriptLeaseMethods =
  | "scriptLeases"
  | "renewScriptLease"
  | "scriptLeaseFloor"
  | "lowerScriptLeaseFloor";

export class DynamoScriptLeases extends TableAccess implements Pick<JobStore, ScriptLeaseMethods> {
  async scriptLeases(
    queue: string,
    sub: boolean,
    after: number | undefined,
    limit: number,
  ): Promise<{ leases: ScriptLease[]; next?: number }> {
    const values: Record<string, unknown> = { ":k": `${keys.list(queue, false)}${sub ? "#sub" : ""}` };
    let cond = "lst = :k";
    if (after !== undefined) {
      cond += " AND lstSk > :a";
      values[":a"] = keys.listSort(after);
    }
    const r = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        IndexName: LIST_INDEX,
        KeyConditionExpression: cond,
        ExpressionAttributeValues: values,
        ProjectionExpression: "#key, seq",
        ExpressionAttributeNames: { "#key": "key" },
        Limit: limit,
      }),
    );
    const listed = (r.Items ?? []).map((it) => ({ key: String(it.key), seq: Number(it.seq) }));
    const got = new Map<string, Record<string, unknown>>();
    const items = await batchGet(
      this.doc,
      this.table,
      listed.map((j) => scriptKey(j.key)),
      { projection: "pk, expiresAt, rn, gt" },
    );
    for (const it of items) got.set(String(it.pk), it);
    const leases = listed.flatMap((j): ScriptLease[] => {
      // no B item: a script stored inline (before the split), which goes with its job
      const b = got.get(scriptKey(j.key).pk);
      if (!b) return [];
      return [
        {
          key: j.key,
          seq: j.seq,
          until: typeof b.expiresAt === "number" ? b.expiresAt : undefined,
          renewed: b.rn === true,
          ...(typeof b.gt === "number" && { granted: b.gt }),
        },
      ];
    });
    const last = listed.at(-1);
    return { leases, next: r.LastEvaluatedKey && last ? last.seq : undefined };
  }

  async renewScriptLease(key: string, until: number): Promise<void> {
    // a failed condition: already as long (another pass, a replay) or no script item
    await this.oneWayUpdate(
      scriptLeaseRenewal(this.table, key, until),
      `job ${key}: its script's lease is as long already`,
    );
  }

  /** The floor lives on the job counter's item (`SRV/SEQ`, `leaseTerm`): one small item, no new key. */
  async scriptLeaseFloor(): Promise<number | undefined> {
    const r = await this.doc.send(
      new GetCommand({
        TableName: this.table,
        Key: keys.seq(),
        ProjectionExpression: "leaseTerm",
        ConsistentRead: true,
      }),
    );
    return typeof r.Item?.leaseTerm === "number" ? r.Item.leaseTerm : undefined;
  }

  async lowerScriptLeaseFloor(termS: number): Promise<void> {
    // a failed condition: the floor is as low already (another process, an earlier submit)
    await this.oneWayUpdate(
      {
        TableName: this.table,
        Key: keys.seq(),
        UpdateExpression: "SET leaseTerm = :t",
        ConditionExpression: "attribute_not_exists(leaseTerm) OR leaseTerm > :t",
        ExpressionAttributeValues: { ":t": termS },
      },
      `the script lease floor is ${termS} s or lower already`,
    );
  }

  /**
   * An update whose condition only lets it move a value one way (a lease longer, the floor
   * lower): a failed condition means the item is that far already, so it is done, not an error.
   */
  private async oneWayUpdate(input: UpdateCommandInput, already: string): Promise<void> {
    try {
      await retryBusy(() => this.doc.send(new UpdateCommand(input)));
    } catch (err) {
      const e = classifyStoreError(err, already);
      if (e instanceof ConflictError) return;
      throw e;
    }
  }
}
