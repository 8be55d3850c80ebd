/**
 * What every part of the DynamoDB adapter works with: the document client, the site's table
 * name, and the paged Query they all read with. A Query returns at most 1 MB per page, so a
 * read that must see every match follows LastEvaluatedKey until there is none.
 */
import { type DynamoDBDocumentClient, QueryCommand, type QueryCommandInput } from "@aws-sdk/lib-dynamodb";
import type { JobRecord } from "../../server/job.js";
import { stripItem } from "./items.js";

export abstract class TableAccess {
  constructor(
    readonly doc: DynamoDBDocumentClient,
    readonly table: string,
  ) {}

  /** Jobs a query matches, page after page (until `limit` jobs), as records. */
  protected async queryAll(input: QueryCommandInput, limit = Number.POSITIVE_INFINITY): Promise<JobRecord[]> {
    return (await this.queryItems(input, limit)).map(stripItem);
  }

  /** Every item a query matches, page after page (until `limit` items). */
  protected async queryItems(
    input: QueryCommandInput,
    limit = Number.POSITIVE_INFINITY,
  ): Promise<Record<string, unknown>[]> {
    const out: Record<string, unknown>[] = [];
    let start: Record<string, unknown> | undefined;
    do {
      // Limit on the request: without it DynamoDB reads (and bills) a whole 1 MB page however few
      // items are wanted (the overview's capped count read all 10,000 queued, bench/scale.ts)
      const left = limit - out.length;
      const r = await this.doc.send(
        new QueryCommand({
          ...input,
          ExclusiveStartKey: start,
          ...(Number.isFinite(left) ? { Limit: left } : {}),
        }),
      );
      out.push(...(r.Items ?? []));
      start = r.LastEvaluatedKey;
    } while (start && out.length < limit);
    return out;
  }
}
