/**
 * Server, queue, node and scheduler objects (qmgr), the scheduler's cycle reports and the
 * dashboard's stat samples, all small items outside the job partitions: objects under
 * `SRV/<kind>#<name>` (one Query reads them all), reports under `CYCLE/<sched>`, samples under
 * `STAT/<minute>`.
 *
 * DynamoDB facts that shaped it: a qmgr change is a conditional Put on the object's `ver` like
 * every other change; stat samples carry `expiresAt` (epoch seconds) for the table's TTL, which
 * deletes only eventually, so readers ask for a time range and never see stale samples either way.
 */
import { DeleteCommand, GetCommand, PutCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { ServerObjectStore } from "../../ports/store.js";
import type { IntakeRecord, ServerObject, StatSample } from "../../server/records.js";
import { classifyStoreError } from "./errors.js";
import { TableAccess } from "./table-access.js";
import { keys } from "./table.js";

/** Stat samples are kept two days (then the TTL may delete them). */
const STAT_KEEP_S = 2 * 24 * 3600;
const statSort = (t: number) => String(t).padStart(15, "0");

export class DynamoServerObjects extends TableAccess implements ServerObjectStore {
  async getServerObjects(): Promise<ServerObject[]> {
    const out: ServerObject[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const r = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "pk = :p",
          FilterExpression: "attribute_exists(kind)",
          ExpressionAttributeValues: { ":p": "SRV" },
          ExclusiveStartKey: start,
        }),
      );
      for (const it of r.Items ?? []) {
        if (it.kind) out.push({ kind: it.kind, name: it.name, attrs: it.attrs ?? {}, ver: it.ver ?? 0 });
      }
      start = r.LastEvaluatedKey;
    } while (start);
    return out;
  }

  /**
   * Create (expectVer undefined: must not exist) or replace (must be at expectVer) a server object.
   * qmgr changes are conditional like every other change.
   */
  async putServerObject(obj: ServerObject, expectVer?: number): Promise<void> {
    const key = keys.object(obj.kind, obj.name);
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...key, kind: obj.kind, name: obj.name, attrs: obj.attrs, ver: (expectVer ?? -1) + 1 },
          ConditionExpression: expectVer === undefined ? "attribute_not_exists(pk)" : "ver = :v",
          ExpressionAttributeValues: expectVer === undefined ? undefined : { ":v": expectVer },
        }),
      );
    } catch (err) {
      throw classifyStoreError(
        err,
        expectVer === undefined
          ? `${obj.kind} ${obj.name} already exists`
          : `${obj.kind} ${obj.name} changed concurrently`,
      );
    }
  }

  async deleteServerObject(kind: ServerObject["kind"], name: string, expectVer: number): Promise<void> {
    try {
      await this.doc.send(
        new DeleteCommand({
          TableName: this.table,
          Key: keys.object(kind, name),
          ConditionExpression: "ver = :v",
          ExpressionAttributeValues: { ":v": expectVer },
        }),
      );
    } catch (err) {
      throw classifyStoreError(err, `${kind} ${name} changed concurrently`);
    }
  }

  async getIntake(): Promise<IntakeRecord | undefined> {
    const r = await this.doc.send(
      new GetCommand({ TableName: this.table, Key: keys.intake(), ConsistentRead: true }),
    );
    const it = r.Item;
    return it ? { state: it.state, since: it.since, ver: it.ver } : undefined;
  }

  /** One conditional Put on `ver` (no `kind`: getServerObjects leaves the item out). */
  async putIntake(rec: IntakeRecord): Promise<void> {
    try {
      await this.doc.send(
        new PutCommand({
          TableName: this.table,
          Item: { ...keys.intake(), state: rec.state, since: rec.since, ver: rec.ver },
          ConditionExpression: rec.ver === 0 ? "attribute_not_exists(pk)" : "ver = :v",
          ExpressionAttributeValues: rec.ver === 0 ? undefined : { ":v": rec.ver - 1 },
        }),
      );
    } catch (err) {
      throw classifyStoreError(err, "the site's intake changed concurrently");
    }
  }

  /** Scheduler cycle summary on the sched object (not versioned: last writer wins, it is a report). */
  async putCycleReport(sched: string, report: Record<string, unknown>): Promise<void> {
    await this.doc.send(
      new PutCommand({ TableName: this.table, Item: { pk: "CYCLE", sk: sched, ...report } }),
    );
  }

  async getCycleReports(): Promise<Record<string, unknown>[]> {
    const r = await this.doc.send(
      new QueryCommand({
        TableName: this.table,
        KeyConditionExpression: "pk = :p",
        ExpressionAttributeValues: { ":p": "CYCLE" },
      }),
    );
    return r.Items ?? [];
  }

  async putStatSample(s: StatSample): Promise<void> {
    await this.doc.send(
      new PutCommand({
        TableName: this.table,
        Item: { pk: "STAT", sk: statSort(s.t), ...s, expiresAt: Math.floor(s.t / 1000) + STAT_KEEP_S },
      }),
    );
  }

  async getStatSamples(since: number): Promise<StatSample[]> {
    const out: StatSample[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      const r = await this.doc.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: "pk = :p AND sk >= :s",
          ExpressionAttributeValues: { ":p": "STAT", ":s": statSort(since) },
          ExclusiveStartKey: start,
        }),
      );
      for (const it of r.Items ?? []) {
        out.push({
          t: Number(it.t),
          queued: Number(it.queued ?? 0),
          running: Number(it.running ?? 0),
          held: Number(it.held ?? 0),
          movedIn: (it.movedIn as Record<string, number>) ?? {},
          ...(it.capped === true ? { capped: true } : {}),
        });
      }
      start = r.LastEvaluatedKey;
    } while (start);
    return out;
  }
}
