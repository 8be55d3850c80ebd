/**
 * The MOM task role may PutItem only heartbeat items (partitions MOM#*, the heartbeat's own
 * attributes): if SiteStore.putMomBeat ever writes another attribute or partition, AWS would
 * deny every heartbeat and the sweeper would declare every job lost. This keeps the two in step,
 * with a beat as a MOM really writes it (signed).
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { describe, expect, it } from "vitest";
import { HEARTBEAT_ATTRIBUTES, HEARTBEAT_LEADING_KEYS } from "../../../infra/aws/constructs/mom.js";
import { signBeat } from "../../../shared/auth/mom-report.js";
import { DynamoSiteStore } from "../../../shared/adapters/dynamodb/index.js";
import { MOM_BEAT_KEEP_S } from "../../../shared/adapters/dynamodb/table.js";

/** IAM's StringLike: `*` matches any run of characters */
const like = (pattern: string, v: string) =>
  new RegExp(
    `^${pattern
      .split("*")
      .map((p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"))
      .join(".*")}$`,
  ).test(v);

describe("heartbeat item vs the task role's IAM condition", () => {
  it("putMomBeat writes a MOM# partition (never SRV), only the allowed attributes, with a TTL", async () => {
    const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: "us-east-1" }));
    const mock = mockClient(doc);
    mock.on(PutCommand).resolves({});
    const at = 1_700_000_000_000;
    await new DynamoSiteStore(doc, "metaqueue-casper").putMomBeat(
      signBeat("k".repeat(64), "ecs:12:1", [{ jobId: "12.casper", runCount: 1 }], at),
    );
    const input = mock.commandCalls(PutCommand)[0].args[0].input;
    expect(input.Item?.pk).not.toBe("SRV");
    expect(like(HEARTBEAT_LEADING_KEYS, String(input.Item?.pk))).toBe(true);
    expect(like(HEARTBEAT_LEADING_KEYS, "SRV")).toBe(false);
    expect(input.ConditionExpression).toBeUndefined();
    expect(input.Item?.sig).toBeTruthy();
    expect(input.Item?.expiresAt).toBe(at / 1000 + MOM_BEAT_KEEP_S);
    for (const k of Object.keys(input.Item ?? {})) expect(HEARTBEAT_ATTRIBUTES).toContain(k);
  });
});
