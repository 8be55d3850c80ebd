/** node:http in front of the API handler: each request becomes an API Gateway v2 event. */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { APIGatewayProxyEventV2, APIGatewayProxyStructuredResultV2 } from "aws-lambda";

const MAX_BODY = 2 * 1024 * 1024;

export async function startApiServer(
  handler: (e: APIGatewayProxyEventV2) => Promise<APIGatewayProxyStructuredResultV2>,
  port = 0,
): Promise<{ url: string; port: number; stop(): Promise<void> }> {
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    req.on("data", (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) tooBig = true;
      else chunks.push(c);
    });
    req.on("end", async () => {
      if (tooBig) {
        res.writeHead(413, { "content-type": "application/json" });
        res.end(
          JSON.stringify({ error: { code: "TooLarge", message: `request body over ${MAX_BODY} bytes` } }),
        );
        return;
      }
      const url = new URL(req.url ?? "/", "http://localhost");
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
      const event = {
        version: "2.0",
        routeKey: "$default",
        rawPath: url.pathname,
        rawQueryString: url.search.slice(1),
        queryStringParameters: Object.fromEntries(url.searchParams),
        headers,
        body: chunks.length ? Buffer.concat(chunks).toString("utf8") : undefined,
        isBase64Encoded: false,
        requestContext: {
          http: {
            method: req.method ?? "GET",
            path: url.pathname,
            protocol: "HTTP/1.1",
            sourceIp: req.socket.remoteAddress ?? "",
            userAgent: headers["user-agent"] ?? "",
          },
          requestId: String(Math.random()).slice(2),
          routeKey: "$default",
          stage: "$default",
          timeEpoch: Date.now(),
        },
      } as unknown as APIGatewayProxyEventV2;
      try {
        const r = await handler(event);
        res.writeHead(r.statusCode ?? 200, (r.headers ?? {}) as http.OutgoingHttpHeaders);
        res.end(r.body ?? "");
      } catch (err) {
        res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ error: { code: "Internal", message: String((err as Error).message) } }));
      }
    });
  });
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, "127.0.0.1", () => resolve());
  });
  const p = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${p}`,
    port: p,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
