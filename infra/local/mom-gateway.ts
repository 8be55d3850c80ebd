/**
 * The local MOM gateway: what API Gateway's WebSocket API is on AWS (shared/ports/channel.ts).
 * MOMs open a WebSocket to it (`ws+unix:<socket>:/`); each connect, frame and close becomes the
 * event API Gateway would hand the route's Lambda, and the same handler code answers it
 * in-process (lambdas/handlers.ts makeMomChannelHandler). The server pushes through the same
 * Unix socket with the management API (`POST/GET/DELETE /@connections/{id}`), through the AWS
 * SDK's own client (shared/adapters/channel/apigw.ts), answering 410 GoneException for a
 * connection it does not have, as API Gateway does.
 *
 * A Unix socket in the runtime's 0700 folder, no TCP port: a job cannot push to other MOMs or
 * impersonate the management API (a MOM still proves who it is at connect, as on AWS).
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import type { Duplex } from "node:stream";
import { type WebSocket, WebSocketServer } from "ws";
import type { MomChannelEvent } from "../../lambdas/handlers.js";

export type MomChannelRoute = (e: MomChannelEvent) => Promise<{ statusCode: number; body?: string }>;

export interface MomGateway {
  /** for the management client: `unix:<socket>` */
  endpoint: string;
  /** for MOMs: `ws+unix:<socket>:/` */
  wsUrl: string;
  /** the open connections' ids (tests) */
  connectionIds(): string[];
  /** connect, frame and push counts (the benchmark) */
  counts: { connects: number; refused: number; frames: number; posts: number; gone: number };
  stop(): Promise<void>;
}

const MAX_FRAME = 256 * 1024;

/** API Gateway's connection ids are 16-character base64ish strings; these look alike. */
const newConnectionId = () => randomBytes(12).toString("base64url");

export async function startMomGateway(opts: {
  socketPath: string;
  route: MomChannelRoute;
  log?: (line: string) => void;
}): Promise<MomGateway> {
  const log = opts.log ?? (() => {});
  const conns = new Map<string, { ws: WebSocket; at: number }>();
  const counts = { connects: 0, refused: 0, frames: 0, posts: 0, gone: 0 };
  const wss = new WebSocketServer({ noServer: true, maxPayload: MAX_FRAME });
  let stopping = false;

  const gone = (res: http.ServerResponse) => {
    counts.gone++;
    res.writeHead(410, { "content-type": "application/json", "x-amzn-errortype": "GoneException" });
    res.end(JSON.stringify({ message: "Gone" }));
  };

  const server = http.createServer((req, res) => {
    const m = /^\/@connections\/([^/?]+)/.exec(req.url ?? "");
    if (!m) {
      res.writeHead(404).end();
      return;
    }
    const id = decodeURIComponent(m[1]);
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const c = conns.get(id);
      if (!c || c.ws.readyState !== c.ws.OPEN) return gone(res);
      if (req.method === "POST") {
        counts.posts++;
        // answered once the frame is written to the MOM's socket, as API Gateway answers once
        // it took the message for the connection
        c.ws.send(Buffer.concat(chunks), { binary: false }, (err) => {
          if (err) return gone(res);
          res.writeHead(200).end();
        });
      } else if (req.method === "DELETE") {
        c.ws.close(1000, "closed by the server");
        res.writeHead(204).end();
      } else if (req.method === "GET") {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({ connectedAt: new Date(c.at).toISOString(), identity: { sourceIp: "127.0.0.1" } }),
        );
      } else {
        res.writeHead(405).end();
      }
    });
  });

  const refuseUpgrade = (socket: Duplex, status: number, why: string) => {
    counts.refused++;
    socket.end(
      `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? "Refused"}\r\nContent-Length: ${why.length}\r\nConnection: close\r\n\r\n${why}`,
    );
  };

  server.on("upgrade", (req, socket, head) => {
    const connectionId = newConnectionId();
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
    socket.on("error", () => {});
    opts
      .route({ requestContext: { routeKey: "$connect", connectionId }, headers })
      .then((r) => {
        if (r.statusCode !== 200) return refuseUpgrade(socket, r.statusCode, r.body ?? "refused");
        wss.handleUpgrade(req, socket, head, (ws) => {
          counts.connects++;
          conns.set(connectionId, { ws, at: Date.now() });
          ws.on("message", (data, isBinary) => {
            counts.frames++;
            const body = isBinary ? Buffer.from(data as Buffer).toString("base64") : String(data);
            opts
              .route({
                requestContext: { routeKey: "$default", connectionId },
                body,
                isBase64Encoded: isBinary,
              })
              // the route's answer back on the connection, as API Gateway's two-way $default route
              .then((r) => {
                if (r.body && ws.readyState === ws.OPEN) ws.send(r.body, { binary: false });
              })
              .catch((e) => log(`mom gateway: $default on ${connectionId}: ${(e as Error).message}`));
          });
          ws.on("error", () => {});
          ws.on("close", () => {
            conns.delete(connectionId);
            // the runtime is stopping: its store may be gone already, and the next start's
            // MOMs connect anew (their records replace these)
            if (stopping) return;
            opts
              .route({ requestContext: { routeKey: "$disconnect", connectionId } })
              .catch((e) => log(`mom gateway: $disconnect of ${connectionId}: ${(e as Error).message}`));
          });
        });
      })
      .catch((e) => {
        log(`mom gateway: $connect: ${(e as Error).message}`);
        refuseUpgrade(socket, 500, "connect failed");
      });
  });

  fs.rmSync(opts.socketPath, { force: true });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.socketPath, () => resolve());
  });
  fs.chmodSync(opts.socketPath, 0o600);
  return {
    endpoint: `unix:${opts.socketPath}`,
    wsUrl: `ws+unix:${opts.socketPath}:/`,
    connectionIds: () => [...conns.keys()],
    counts,
    stop: async () => {
      stopping = true;
      for (const c of conns.values()) c.ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      fs.rmSync(opts.socketPath, { force: true });
    },
  };
}
