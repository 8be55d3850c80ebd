/**
 * What the site's MOMs last said: one heartbeat item per MOM (`SRV/MOM#<momId>`, last writer
 * wins: a beat replaces the one before) and one boot item per node (`SRV/MOM#BOOT#<node>`).
 *
 * DynamoDB facts that shaped it: the boot is a conditional Put on its send time, so an SQS
 * redelivery or a replayed hello cannot undo a later boot; heartbeats are read by BatchGetItem
 * (at most 100 keys a request, unprocessed keys asked again).
 */
import { BatchGetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { ConflictError } from "../../errors.js";
import type { MomStore } from "../../ports/store.js";
import type { MomBeat } from "../../server/records.js";
import { classifyStoreError } from "./errors.js";
import { TableAccess } from "./table-access.js";
import { keys } from "./table.js";

export class DynamoMoms extends TableAccess implements MomStore {
  async putMomBeat(beat: MomBeat): Promise<void> {
    await this.doc.send(
      new PutCommand({ TableName: this.table, Item: { ...keys.mom(beat.momId), ...beat } }),
    );
  }

  async getMomBeats(momIds: string[]): Promise<Map<string, MomBeat>> {
    const out = new Map<string, MomBeat>();
    const ids = [...new Set(momIds)];
    for (let i = 0; i < ids.length; i += 100) {
      let req: Record<string, { Keys: Record<string, unknown>[] }> | undefined = {
        [this.table]: { Keys: ids.slice(i, i + 100).map((id) => keys.mom(id)) },
      };
      while (req && Object.keys(req).length) {
        const r = await this.doc.send(new BatchGetCommand({ RequestItems: req }));
        for (const it of r.Responses?.[this.table] ?? []) {
          out.set(it.momId, {
            momId: it.momId,
            jobs: it.jobs ?? [],
            at: it.at,
            nonce: it.nonce,
            sig: it.sig,
          });
        }
        req = r.UnprocessedKeys as typeof req;
      }
    }
    return out;
  }

  /**
   * Record a node's MOM boot (its hello) unless a later one is recorded: false when the hello is
   * older than the node's last accepted one (a replay must not undo a newer MOM's adoption).
   * The same hello again (SQS redelivery) is accepted.
   */
  async putMomBoot(node: string, momId: string, sentAt: number): Promise<boolean> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...keys.mom(`BOOT#${node}`), momId, sentAt },
          ConditionExpression: "attribute_not_exists(pk) OR sentAt < :s OR (sentAt = :s AND momId = :m)",
          ExpressionAttributeValues: { ":s": sentAt, ":m": momId },
        }),
      );
      return true;
    } catch (err) {
      const e = classifyStoreError(err, `node ${node} has a later MOM boot`);
      if (e instanceof ConflictError) return false;
      throw e;
    }
  }
}
