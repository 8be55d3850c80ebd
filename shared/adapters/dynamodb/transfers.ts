/**
 * Jobs moving between sites and what this site knows of its peers: the transfer outbox (jobs
 * under the run index's TRANSFER_PARTITION, indexes.ts), a record per transfer received
 * (`XFER#<id>/X`: the job it made, or a tombstone once aborted), each peer's last heartbeat
 * (`PEER/<short>`) and the peer messages taken (`PMSG#<peer>#<id>/M`, one key each so no
 * partition gets hot).
 *
 * DynamoDB facts that shaped it: a received job and its transfer record are one transaction,
 * so a duplicate FORWARD fails its condition and never makes a second job; message claims carry
 * `expiresAt` for the TTL, which deletes only eventually, so the claim's condition compares the
 * time itself.
 */
import {
  GetCommand,
  PutCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from "@aws-sdk/lib-dynamodb";
import type { TransferStore } from "../../ports/store.js";
import type { JobRecord } from "../../server/job.js";
import type { PeerMessageClaim, PeerSeen, TransferRecord } from "../../server/records.js";
import { classifyStoreError } from "./errors.js";
import { TRANSFER_PARTITION } from "./indexes.js";
import { newJobItem } from "./items.js";
import { scriptKey, scriptPut } from "./job-script.js";
import { TableAccess } from "./table-access.js";
import { keys, RUN_INDEX } from "./table.js";

export class DynamoTransfers extends TableAccess implements TransferStore {
  /** Jobs with a transfer step outstanding (in transit, or an end not yet acknowledged). */
  async queryTransfers(): Promise<JobRecord[]> {
    return this.queryAll({
      TableName: this.table,
      IndexName: RUN_INDEX,
      KeyConditionExpression: "run = :k",
      ExpressionAttributeValues: { ":k": TRANSFER_PARTITION },
    });
  }

  async getTransfer(transferId: string): Promise<TransferRecord | undefined> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: keys.xfer(transferId), ConsistentRead: true }),
    );
    if (!r.Item) return undefined;
    return { transferId, status: r.Item.status, key: r.Item.jobKey, newId: r.Item.newId };
  }

  /**
   * Create a job received from a peer together with its transfer record. Fails with
   * ConflictError when the transfer is already known (created before, or aborted): the caller
   * re-reads it and answers from it, so a duplicate or late FORWARD never makes a second job.
   */
  async createInbound(job: JobRecord, transferId: string): Promise<void> {
    try {
      await this.doc.send(
        new TransactWriteCommand({
          TransactItems: [
            {
              Put: {
                TableName: this.table,
                Item: { ...keys.xfer(transferId), status: "created", jobKey: job.key, newId: job.id },
                ConditionExpression: "attribute_not_exists(pk)",
              },
            },
            {
              Put: {
                TableName: this.table,
                Item: newJobItem(job),
                ConditionExpression: "attribute_not_exists(pk)",
              },
            },
            // the script apart, written once (job-script.ts)
            { Put: scriptPut(this.table, job) },
          ],
        }),
      );
    } catch (err) {
      throw classifyStoreError(err, `transfer ${transferId} already known`);
    }
  }

  /**
   * Abort a received transfer: leave a tombstone so a FORWARD that arrives later creates nothing,
   * and drop the job it made if that job is still waiting for the origin's commit (`job` as read,
   * guarded by its ver). ConflictError if the job changed meanwhile.
   */
  async abortInbound(transferId: string, job?: JobRecord): Promise<void> {
    const items: NonNullable<TransactWriteCommandInput["TransactItems"]> = [
      {
        Put: {
          TableName: this.table,
          Item: { ...keys.xfer(transferId), status: "aborted", jobKey: job?.key, newId: job?.id },
          ...(job ? {} : { ConditionExpression: "attribute_not_exists(pk)" }),
        },
      },
    ];
    if (job) {
      items.push({
        Delete: {
          TableName: this.table,
          Key: keys.job(job.key),
          ConditionExpression: "#ver = :ver AND #st = :t",
          ExpressionAttributeNames: { "#ver": "ver", "#st": "state" },
          ExpressionAttributeValues: { ":ver": job.ver, ":t": "T" },
        },
      });
      items.push({ Delete: { TableName: this.table, Key: scriptKey(job.key) } });
    }
    try {
      await this.doc.send(new TransactWriteCommand({ TransactItems: items }));
    } catch (err) {
      throw classifyStoreError(err, `transfer ${transferId} changed concurrently`);
    }
  }

  async putPeerSeen(p: PeerSeen): Promise<void> {
    await this.doc.send(new PutCommand({ TableName: this.table, Item: { ...keys.peer(p.short), ...p } }));
  }

  /**
   * Take a peer message, once: succeeds when no live record of this (peer, id) exists or the
   * record is this same delivery (SQS redelivering a message whose handler failed or was
   * killed); throws ConflictError when another delivery took it (a replay). `now` decides what
   * is live: TTL deletes expired items only eventually.
   */
  async claimPeerMessage(c: PeerMessageClaim, now: number): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: {
            ...keys.peerMessage(c.peer, c.id),
            delivery: c.delivery,
            type: c.type,
            expiresAt: Math.ceil(c.until / 1000),
          },
          ConditionExpression: "attribute_not_exists(pk) OR delivery = :d OR expiresAt < :now",
          ExpressionAttributeValues: { ":d": c.delivery, ":now": Math.floor(now / 1000) },
        }),
      );
    } catch (err) {
      throw classifyStoreError(err, `message ${c.id} from ${c.peer} already taken`);
    }
  }

  async getPeersSeen(): Promise<PeerSeen[]> {
    const items = await this.queryItems({
      TableName: this.table,
      KeyConditionExpression: "pk = :p",
      ExpressionAttributeValues: { ":p": "PEER" },
      ConsistentRead: true,
    });
    return items.map((it) => ({ short: String(it.short), state: String(it.state), at: Number(it.at) }));
  }
}
