/**
 * The MOM push channel's management API through the AWS SDK: API Gateway's WebSocket API on
 * AWS, and the local gateway (infra/local/mom-gateway.ts), which serves the same
 * `POST/DELETE /@connections/{id}`, through the same client pointed at its socket.
 */
import {
  ApiGatewayManagementApiClient,
  DeleteConnectionCommand,
  PostToConnectionCommand,
} from "@aws-sdk/client-apigatewaymanagementapi";
import type { AwsCredentialIdentity } from "@smithy/types";
import { ConnectionGoneError, type MomConnections } from "../../ports/channel.js";
import { endpointOptions } from "../aws-clients.js";

/** 410 GoneException: the gateway has no such connection. */
function isGone(err: unknown): boolean {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === "GoneException" || e?.$metadata?.httpStatusCode === 410;
}

export class ApiGatewayConnections implements MomConnections {
  constructor(private readonly client: ApiGatewayManagementApiClient) {}

  async post(connectionId: string, data: string): Promise<void> {
    try {
      await this.client.send(new PostToConnectionCommand({ ConnectionId: connectionId, Data: data }));
    } catch (err) {
      if (isGone(err)) throw new ConnectionGoneError(connectionId, { cause: err });
      throw err;
    }
  }

  async close(connectionId: string): Promise<void> {
    try {
      await this.client.send(new DeleteConnectionCommand({ ConnectionId: connectionId }));
    } catch (err) {
      if (!isGone(err)) throw err;
    }
  }
}

/**
 * The management client: `endpoint` is the WebSocket API's `https://{api}.execute-api.{region}
 * .amazonaws.com/{stage}` on AWS, `unix:/path.sock` for the local gateway.
 */
export function makeConnectionsClient(cfg: {
  region: string;
  endpoint: string;
  credentials?: AwsCredentialIdentity;
}): ApiGatewayManagementApiClient {
  const client = new ApiGatewayManagementApiClient({
    region: cfg.region,
    ...endpointOptions(cfg.endpoint),
    credentials: cfg.credentials,
    // a push is retried by its caller (the scheduler requeues a run it could not hand over)
    maxAttempts: 2,
  });
  client.middlewareStack.remove("loggerMiddleware");
  return client;
}
