/**
 * The commands' HTTP/1.1 client (cli/src/http1.ts) against real servers on loopback: node:http
 * (content-length, chunked, error statuses), raw sockets for what node:http would not send
 * (close-delimited, interim 1xx, cut short, silence), node:https with a certificate made here,
 * and HttpApi's PBS-style errors over it (cli/src/api-client.ts).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import { type AddressInfo, createServer as createNetServer, type Server, type Socket } from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { HttpApi, nodeTransport } from "../../../cli/src/api-client.js";
import {
  DEFERRED_CA,
  deferredCa,
  http1Request,
  ResponseParser,
  serializeRequest,
} from "../../../cli/src/http1.js";
import { NotFoundError, RejectedError } from "../../../shared/errors.js";

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await new Promise((r) => s.close(r));
});

async function listen<S extends Server>(server: S): Promise<string> {
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A node:http server; `handle` answers each request, given its body. */
function httpServer(handle: (req: IncomingMessage, body: string, res: ServerResponse) => void) {
  return listen(
    createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => handle(req, Buffer.concat(chunks).toString("utf8"), res));
    }),
  );
}

/** A raw TCP server that reads the request head and then does what `act` says. */
function rawServer(act: (socket: Socket) => void) {
  const sockets: Socket[] = [];
  const server = createNetServer((socket) => {
    sockets.push(socket);
    let head = "";
    socket.on("data", (c: Buffer) => {
      head += c.toString("latin1");
      if (head.includes("\r\n\r\n")) act(socket);
    });
    socket.on("error", () => {});
  });
  server.on("close", () => {
    for (const s of sockets) s.destroy();
  });
  return listen(server);
}

const T = { timeoutMs: 5000 };

describe("http1Request", () => {
  it("sends method, path, query, headers and a UTF-8 body with its byte length", async () => {
    let seen: { method?: string; url?: string; headers: IncomingMessage["headers"]; body: string } = {
      headers: {},
      body: "",
    };
    const host = await httpServer((req, body, res) => {
      seen = { method: req.method, url: req.url, headers: req.headers, body };
      res.writeHead(201, { "content-type": "application/json" }).end('{"ok":true}');
    });
    const body = JSON.stringify({ script: "echo héllo ✓\n" });
    const r = await http1Request(
      `http://${host}/v1/jobs?history=1`,
      { method: "POST", headers: { authorization: "Bearer t", "content-type": "application/json" }, body },
      T,
    );
    expect(r).toMatchObject({
      status: 201,
      text: '{"ok":true}',
      headers: { "content-type": "application/json" },
    });
    expect(seen).toMatchObject({
      method: "POST",
      url: "/v1/jobs?history=1",
      body,
      headers: {
        host,
        authorization: "Bearer t",
        "content-length": String(Buffer.byteLength(body)),
        connection: "close",
      },
    });
  });

  it("reads a content-length body written in pieces, a character split between them", async () => {
    const text = JSON.stringify({ message: "ünïcödé ✓ ".repeat(2000) });
    const bytes = Buffer.from(text);
    const host = await httpServer((_req, _body, res) => {
      res.writeHead(200, { "content-length": bytes.length });
      // the 3 bytes of "✓" are cut after the first one
      const cut = bytes.indexOf(Buffer.from("✓")) + 1;
      res.write(bytes.subarray(0, cut));
      setTimeout(() => res.end(bytes.subarray(cut)), 10);
    });
    const r = await http1Request(`http://${host}/`, { method: "GET", headers: {} }, T);
    expect(r.status).toBe(200);
    expect(r.text).toBe(text);
  });

  it("reads a chunked body (many writes, trailers) and an empty one", async () => {
    const host = await httpServer((req, _body, res) => {
      if (req.url === "/empty") {
        res.writeHead(200, { "transfer-encoding": "chunked" }).end();
        return;
      }
      res.writeHead(200, { "content-type": "application/json", trailer: "x-done" });
      res.write('{"jobs":[');
      for (let i = 0; i < 50; i++) res.write(`${i ? "," : ""}{"id":"${i}.casper"}`);
      res.addTrailers({ "x-done": "1" });
      res.end("]}");
    });
    const r = await http1Request(`http://${host}/`, { method: "GET", headers: {} }, T);
    expect(r.headers["transfer-encoding"]).toBe("chunked");
    expect(JSON.parse(r.text).jobs).toHaveLength(50);
    const e = await http1Request(`http://${host}/empty`, { method: "GET", headers: {} }, T);
    expect(e).toMatchObject({ status: 200, text: "" });
  });

  it("answers 204 and HEAD without waiting for a body", async () => {
    const host = await httpServer((req, _body, res) => {
      if (req.method === "HEAD") res.writeHead(200, { "content-length": 1000 }).end();
      else res.writeHead(204).end();
    });
    expect(await http1Request(`http://${host}/`, { method: "DELETE", headers: {} }, T)).toMatchObject({
      status: 204,
      text: "",
    });
    expect(await http1Request(`http://${host}/`, { method: "HEAD", headers: {} }, T)).toMatchObject({
      status: 200,
      text: "",
    });
  });

  it("reads a body delimited by the connection's close, after skipping a 100 Continue", async () => {
    const host = await rawServer((s) => {
      s.write("HTTP/1.1 100 Continue\r\n\r\n");
      s.end("HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\n\r\nuntil the end");
    });
    const r = await http1Request(`http://${host}/`, { method: "GET", headers: {} }, T);
    expect(r).toMatchObject({ status: 200, text: "until the end" });
  });

  it("ends at the body's last byte (length or last chunk) on a connection the server keeps open", async () => {
    const length = await rawServer((s) => s.write("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello"));
    const chunked = await rawServer((s) =>
      s.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n"),
    );
    for (const host of [length, chunked])
      expect(
        await http1Request(`http://${host}/`, { method: "GET", headers: {} }, { timeoutMs: 1000 }),
      ).toMatchObject({ status: 200, text: "hello" });
  });

  it("rejects an answer cut short, a malformed one, and silence past the timeout", async () => {
    const short = await rawServer((s) => s.end("HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n12345"));
    await expect(http1Request(`http://${short}/`, { method: "GET", headers: {} }, T)).rejects.toThrow(
      /closed before the end of the response/,
    );
    const chunkShort = await rawServer((s) =>
      s.end("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nab"),
    );
    await expect(http1Request(`http://${chunkShort}/`, { method: "GET", headers: {} }, T)).rejects.toThrow(
      /closed before the end/,
    );
    const garbage = await rawServer((s) => s.end("SSH-2.0-OpenSSH\r\n\r\n"));
    await expect(http1Request(`http://${garbage}/`, { method: "GET", headers: {} }, T)).rejects.toThrow(
      /malformed status line/,
    );
    const nothing = await rawServer((s) => s.end());
    await expect(http1Request(`http://${nothing}/`, { method: "GET", headers: {} }, T)).rejects.toThrow(
      /closed before a response/,
    );
    const silent = await rawServer(() => {});
    await expect(
      http1Request(`http://${silent}/`, { method: "GET", headers: {} }, { timeoutMs: 200 }),
    ).rejects.toThrow(/timeout/);
  });

  it("refuses a header value that would write headers of its own", () => {
    expect(() =>
      serializeRequest(new URL("http://h/"), { method: "GET", headers: { authorization: "t\r\nx-evil: 1" } }),
    ).toThrow(/invalid header/);
  });
});

describe("ResponseParser", () => {
  it("parses a chunked response fed one byte at a time (extensions, trailers, bytes after it)", () => {
    const raw = Buffer.from(
      "HTTP/1.1 404 Not Found\r\nTransfer-Encoding: chunked\r\nSet-Cookie: a\r\nSet-Cookie: b\r\n\r\n" +
        "4;ext=1\r\nWiki\r\n6\r\npedia \r\nE\r\nin \r\n\r\nchunks.\r\n0\r\nx-t: 1\r\n\r\nNEXT",
    );
    const p = new ResponseParser();
    let done = false;
    let at = 0;
    for (; at < raw.length && !done; at++) done = p.push(raw.subarray(at, at + 1));
    expect(done).toBe(true);
    expect(raw.subarray(at).toString()).toBe("NEXT");
    expect(p.result()).toEqual({
      status: 404,
      headers: { "transfer-encoding": "chunked", "set-cookie": "a, b" },
      text: "Wikipedia in \r\n\r\nchunks.",
    });
  });

  it("refuses conflicting content-lengths and a bad chunk size", () => {
    expect(() =>
      new ResponseParser().push(Buffer.from("HTTP/1.1 200 OK\r\ncontent-length: 1, 2\r\n\r\n")),
    ).toThrow(/malformed content-length/);
    expect(() =>
      new ResponseParser().push(Buffer.from("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n")),
    ).toThrow(/malformed chunk size/);
  });
});

describe("HttpApi over the default transport", () => {
  const target = (host: string) => ({ name: "casper-pbs", short: "casper", url: `http://${host}` });

  it("an error status with a JSON body becomes the PBS error, with the server's message and exit code", async () => {
    const host = await httpServer((_req, _body, res) => {
      const body = JSON.stringify({
        error: { code: "UnknownObject", message: "Unknown Job Id 12.casper", pbsErrno: 15001 },
      });
      res.writeHead(404, { "content-type": "application/json" });
      // chunked, in two writes
      res.write(body.slice(0, 10));
      res.end(body.slice(10));
    });
    const api = new HttpApi(nodeTransport, () => "t");
    const err = await api.getJob(target(host), "12.casper").catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NotFoundError);
    expect(err).toMatchObject({ message: "Unknown Job Id 12.casper", exitCode: 153 });
    const refused = await listen(
      createHttpServer((_req, res) =>
        res
          .writeHead(400, { "content-type": "application/json" })
          .end(JSON.stringify({ error: { code: "ScriptTooLarge", message: "too big", exitCode: 166 } })),
      ),
    );
    const e2 = await api.submit(target(refused), {} as never).catch((e: unknown) => e);
    expect(e2).toBeInstanceOf(RejectedError);
    expect(e2).toMatchObject({ message: "too big", exitCode: 166 });
  });

  it("a refused connection is `cannot connect to server <name> (<url>)`, exit 1", async () => {
    // a port that was just free: nothing listens there
    const server = createNetServer();
    const host = await listen(server);
    await new Promise((r) => server.close(r));
    servers.splice(servers.indexOf(server), 1);
    const api = new HttpApi(nodeTransport, () => "t");
    const err = await api.getServer(target(host)).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "ConnectionRefused",
      message: `cannot connect to server casper-pbs (http://${host})`,
      exitCode: 1,
    });
  });

  it("a 2xx that is not JSON is an invalid response", async () => {
    const host = await httpServer((_req, _body, res) => res.writeHead(200).end("<html>"));
    const err = await new HttpApi(nodeTransport, () => "t").getServer(target(host)).catch((e: unknown) => e);
    expect(err).toMatchObject({
      code: "BadResponse",
      message: `invalid response from server casper-pbs (http://${host})`,
    });
  });
});

describe("https", () => {
  let dir: string;
  let cert: string;
  let key: string;
  let hasOpenssl = true;
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-http1-"));
    try {
      execFileSync(
        "openssl",
        [
          "req",
          "-x509",
          "-newkey",
          "rsa:2048",
          "-nodes",
          "-days",
          "2",
          "-subj",
          "/CN=localhost",
          "-addext",
          "subjectAltName=DNS:localhost,IP:127.0.0.1",
          "-keyout",
          path.join(dir, "key.pem"),
          "-out",
          path.join(dir, "cert.pem"),
        ],
        { stdio: "ignore" },
      );
      cert = fs.readFileSync(path.join(dir, "cert.pem"), "utf8");
      key = fs.readFileSync(path.join(dir, "key.pem"), "utf8");
    } catch {
      hasOpenssl = false;
    }
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  it("speaks TLS to an https server, checks its certificate against the CAs and its name", async (t) => {
    if (!hasOpenssl) t.skip();
    const port = (
      await listen(
        createHttpsServer({ cert, key }, (req, res) =>
          res.writeHead(200).end(JSON.stringify({ url: req.url })),
        ),
      )
    ).split(":")[1];
    const ok = await http1Request(
      `https://localhost:${port}/v1/server`,
      { method: "GET", headers: {} },
      {
        ...T,
        ca: cert,
      },
    );
    expect(ok).toMatchObject({ status: 200, text: '{"url":"/v1/server"}' });
    // Node's default CAs do not know this certificate: refused, as node:https refuses it
    await expect(
      http1Request(`https://localhost:${port}/`, { method: "GET", headers: {} }, T),
    ).rejects.toThrow(/self[- ]signed/i);
  });

  it("trusts the NODE_EXTRA_CA_CERTS file the shim kept from Node's start (DEFERRED_CA)", async (t) => {
    if (!hasOpenssl) t.skip();
    const port = (
      await listen(createHttpsServer({ cert, key }, (_req, res) => res.writeHead(204).end()))
    ).split(":")[1];
    const proc = process as unknown as Record<symbol, unknown>;
    const url = `https://localhost:${port}/`;
    try {
      proc[DEFERRED_CA] = path.join(dir, "cert.pem");
      expect((await http1Request(url, { method: "GET", headers: {} }, T)).status).toBe(204);
      // Node's roots stay trusted beside it, as NODE_EXTRA_CA_CERTS adds to them
      expect(deferredCa(["root"])).toEqual(["root", cert]);
      // a file that cannot be read: Node's defaults (and the warning Node gives), so refused here
      proc[DEFERRED_CA] = path.join(dir, "missing.pem");
      await expect(http1Request(url, { method: "GET", headers: {} }, T)).rejects.toThrow(/self[- ]signed/i);
    } finally {
      delete proc[DEFERRED_CA];
    }
  });
});
