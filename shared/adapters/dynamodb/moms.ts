/**
 * What the site's MOMs last said: one heartbeat item per MOM (`MOM#<momId>/B`, last writer
 * wins: a beat replaces the one before) and one boot item per node (`BOOT#<node>/B`); the push
 * connection a MOM holds (`MOM#<momId>/C`, conditional on its connect time) and its reverse
 * entry (`CONN#<connectionId>/C`).
 *
 * DynamoDB facts that shaped it: the boot is a conditional Put on its send time, so an SQS
 * redelivery or a replayed hello cannot undo a later boot; heartbeats are read by BatchGetItem
 * (at most 100 keys a request, unprocessed keys asked again), never by a Query, and each
 * carries `expiresAt` for the table's TTL: an ECS MOM is one per run, so without it the items
 * would grow with every run ever made. TTL deletes only eventually; a beat that old is judged
 * silent by the sweeper anyway, so nothing reads past it.
 */
import { batchGet } from "./batch-get.js";
import { DeleteCommand, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { ConflictError } from "../../errors.js";
import type { MomConnection } from "../../ports/channel.js";
import type { MomStore } from "../../ports/store.js";
import type { MomBeat } from "../../server/records.js";
import { classifyStoreError } from "./errors.js";
import { TableAccess } from "./table-access.js";
import { beatExpiresAt, connExpiresAt, keys } from "./table.js";

export class DynamoMoms extends TableAccess implements MomStore {
  async putMomBeat(beat: MomBeat): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...keys.mom(beat.momId), ...beat, expiresAt: beatExpiresAt(beat.at) },
      }),
    );
  }

  /**
   * Delete the MOM's beat if it holds nothing but `run` (or nothing): after that run's
   * obituary, a per-run MOM (ECS) says nothing more, and its item goes at once rather than at
   * the TTL. A MOM still holding other runs keeps its beat (the condition fails, quietly).
   */
  async dropMomBeat(momId: string, run: { jobId: string; runCount: number }): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: keys.mom(momId),
          ConditionExpression:
            "size(jobs) = :zero OR (size(jobs) = :one AND jobs[0].jobId = :j AND jobs[0].runCount = :r)",
          ExpressionAttributeValues: { ":zero": 0, ":one": 1, ":j": run.jobId, ":r": run.runCount },
        }),
      );
    } catch (err) {
      const e = classifyStoreError(err, `MOM ${momId} holds other runs`);
      if (!(e instanceof ConflictError)) throw e;
    }
  }

  async getMomBeats(momIds: string[]): Promise<Map<string, MomBeat>> {
    const out = new Map<string, MomBeat>();
    const ids = [...new Set(momIds)];
    const items = await batchGet(
      this.doc,
      this.table,
      ids.map((id) => keys.mom(id)),
    );
    for (const it of items) {
      out.set(it.momId, {
        momId: it.momId,
        jobs: it.jobs ?? [],
        at: it.at,
        nonce: it.nonce,
        sig: it.sig,
      });
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
          Item: { ...keys.momBoot(node), momId, sentAt },
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

  /**
   * The reverse entry first: a `$disconnect` that finds it drops the record only if it still
   * names this connection, so writing it before the record leaves no window where the record
   * names a connection nobody can clean up. Then the record, conditional on the connect's
   * signed time: a later connect of the MOM wins, an older one (replayed, or delivered late)
   * loses and returns false.
   */
  async putMomConnection(c: MomConnection): Promise<boolean> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { ...keys.connMom(c.connectionId), momId: c.momId, expiresAt: connExpiresAt(c.at) },
      }),
    );
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...keys.momConn(c.momId), ...c, expiresAt: connExpiresAt(c.at) },
          ConditionExpression: "attribute_not_exists(pk) OR #at < :at OR (#at = :at AND connectionId = :c)",
          ExpressionAttributeNames: { "#at": "at" },
          ExpressionAttributeValues: { ":at": c.at, ":c": c.connectionId },
        }),
      );
      return true;
    } catch (err) {
      const e = classifyStoreError(err, `MOM ${c.momId} has a later connection`);
      if (e instanceof ConflictError) return false;
      throw e;
    }
  }

  async getMomConnection(momId: string): Promise<MomConnection | undefined> {
    const r = await this.doc.send(new GetCommand({ TableName: this.table, Key: keys.momConn(momId) }));
    if (!r.Item) return undefined;
    return { momId: r.Item.momId, connectionId: r.Item.connectionId, at: r.Item.at };
  }

  async momOfConnection(connectionId: string): Promise<string | undefined> {
    const r = await this.doc.send(new GetCommand({ TableName: this.table, Key: keys.connMom(connectionId) }));
    return r.Item?.momId;
  }

  async dropMomConnection(momId: string, connectionId: string): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: keys.momConn(momId),
          ConditionExpression: "connectionId = :c",
          ExpressionAttributeValues: { ":c": connectionId },
        }),
      );
    } catch (err) {
      const e = classifyStoreError(err, `MOM ${momId} holds another connection`);
      if (!(e instanceof ConflictError)) throw e;
    }
    await this.doc.send(new DeleteCommand({ TableName: this.table, Key: keys.connMom(connectionId) }));
  }
}
