/**
 * The MOM task role may PutItem only heartbeat items (partition SRV, the heartbeat's own
 * attributes): if SiteStore.putMomBeat ever writes another attribute, AWS would deny every
 * heartbeat and the sweeper would declare every job lost. This keeps the two in step.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { DynamoDBDocumentClient, PutCommand } from "@aws-sdk/lib-dynamodb";
import { mockClient } from "aws-sdk-client-mock";
import { describe, expect, it } from "vitest";
import { HEARTBEAT_ATTRIBUTES } from "../../../infra/aws/constructs/mom.js";
import { DynamoSiteStore } from "../../../shared/adapters/dynamodb/index.js";

describe("heartbeat item vs the task role's IAM condition", () => {
  it("putMomBeat writes partition SRV and only the allowed attributes", async () => {
    const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: "us-east-1" }));
    const mock = mockClient(doc);
    mock.on(PutCommand).resolves({});
    await new DynamoSiteStore(doc, "metaqueue-casper").putMomBeat({
      momId: "ecs:12:1",
      jobs: [{ jobId: "12.casper", runCount: 1 }],
      at: 1_700_000_000_000,
    });
    const input = mock.commandCalls(PutCommand)[0].args[0].input;
    expect(input.Item?.pk).toBe("SRV");
    expect(input.ConditionExpression).toBeUndefined();
    for (const k of Object.keys(input.Item ?? {})) expect(HEARTBEAT_ATTRIBUTES).toContain(k);
  });
});
