/**
 * The SDK clients carry no logger middleware (it copied every request's input and response
 * through the schema's sensitive-field filter, for a logger.info nobody listens to), and the
 * SQS client builds each command's middleware chain once.
 */
import { describe, expect, it } from "vitest";
import { LOCAL_CREDENTIALS, makeDynamoClients, makeSqsClient } from "../../../shared/adapters/aws-clients.js";

const cfg = { region: "us-east-1", endpoint: "http://127.0.0.1:9", credentials: LOCAL_CREDENTIALS };
const names = (stack: { identify(): string[] }) => stack.identify().map((s) => s.split(" ")[0]);

describe("SDK clients", () => {
  it("DynamoDB (base and document client) and SQS send without the logger middleware", () => {
    const { ddb, doc } = makeDynamoClients(cfg);
    const sqs = makeSqsClient(cfg);
    for (const c of [ddb, doc, sqs]) {
      expect(names(c.middlewareStack)).toContain("metaqueueRequestCounter");
      expect(names(c.middlewareStack)).not.toContain("loggerMiddleware");
    }
    expect(sqs.config.cacheMiddleware).toBe(true);
    // not for DynamoDB: a document client command's handler is bound to its instance
    expect(ddb.config.cacheMiddleware).not.toBe(true);
  });
});
