/**
 * The PBS commands' one HTTP request, as HTTP/1.1 over a plain `node:net` socket (`node:tls` for
 * an https server). Workflow tools run a command per job and per poll, and in a fresh process
 * node:http costs about 15 ms of CPU for one request (loading _http_client, _http_outgoing,
 * _http_common, the Agent and its parser, and running them for the first time) where this costs
 * about 9 ms, node:net included (docs/benchmark-history.md, "Command latency"). node:net is loaded anyway when
 * stdout is a pipe, as it is under a workflow tool.
 *
 * Scope, as the commands need it: one request per connection (`connection: close`), the whole
 * body written at once, the whole answer read into memory; a response delimited by
 * content-length, chunked transfer coding or the connection's close; 1xx answers skipped.
 * Rejects when no complete answer came (refused, reset, cut short, malformed, timeout): the
 * caller maps that to "cannot connect to server ..." as it did with node:http.
 */
import { readFileSync } from "node:fs";
import { connect as netConnect, isIP, type Socket } from "node:net";

export interface Http1Request {
  method: string;
  headers: Record<string, string>;
  body?: string;
}

export interface Http1Response {
  status: number;
  /** header names in lower case; a repeated header's values joined with ", " */
  headers: Record<string, string>;
  /** the body as UTF-8 (decoded once, after the last byte: a character may span chunks) */
  text: string;
}

/** A response that does not parse, or ends before it is complete. */
export class HttpProtocolError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "HttpProtocolError";
  }
}

/** The most a status line and headers may take (node:http's default is 16 KB). */
export const MAX_HEAD_BYTES = 64 * 1024;

const CRLF = Buffer.from("\r\n");
const HEAD_END = Buffer.from("\r\n\r\n");

type BodyMode =
  | { kind: "none" }
  | { kind: "length"; left: number }
  | { kind: "chunked"; left: number; stage: "size" | "data" | "data-crlf" | "trailers" }
  | { kind: "close" };

/**
 * Parses one HTTP/1.1 response from the bytes of a connection, as they come (`push`), and
 * `end()` when the connection ends. Pure: the unit tests feed it bytes split anywhere.
 */
export class ResponseParser {
  private buf: Buffer = Buffer.alloc(0);
  private status = 0;
  private headers: Record<string, string> = {};
  private mode: BodyMode | undefined;
  private body: Buffer[] = [];
  private done = false;

  /** `method`: a HEAD request's answer has no body whatever its headers say. */
  constructor(private readonly method = "GET") {}

  /** Feeds bytes; true once the response is complete (the rest of the connection is ignored). */
  push(chunk: Buffer): boolean {
    if (this.done) return true;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    for (;;) {
      if (this.mode === undefined) {
        const end = this.buf.indexOf(HEAD_END);
        if (end < 0) {
          if (this.buf.length > MAX_HEAD_BYTES) throw new HttpProtocolError("response headers too large");
          return false;
        }
        if (end > MAX_HEAD_BYTES) throw new HttpProtocolError("response headers too large");
        const head = this.buf.subarray(0, end).toString("latin1");
        this.buf = this.buf.subarray(end + HEAD_END.length);
        this.head(head);
        // 1xx (100 Continue, 103 Early Hints): a final answer follows on the same connection
        if (this.mode === undefined) continue;
      }
      if (this.body_()) {
        this.done = true;
        return true;
      }
      return false;
    }
  }

  /** The connection ended: the response, or why there is none. */
  end(): Http1Response {
    if (!this.done) {
      if (this.mode?.kind === "close") this.done = true;
      else
        throw new HttpProtocolError(
          this.mode === undefined
            ? "connection closed before a response"
            : "connection closed before the end of the response",
        );
    }
    return { status: this.status, headers: this.headers, text: Buffer.concat(this.body).toString("utf8") };
  }

  /** The response once complete (push returned true). */
  result(): Http1Response {
    return this.end();
  }

  private head(text: string): void {
    const lines = text.split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3})(?: .*)?$/.exec(lines[0]);
    if (!m) throw new HttpProtocolError(`malformed status line: ${JSON.stringify(lines[0].slice(0, 80))}`);
    const status = Number(m[1]);
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(":");
      if (colon <= 0)
        throw new HttpProtocolError(`malformed header line: ${JSON.stringify(line.slice(0, 80))}`);
      const name = line.slice(0, colon).trim().toLowerCase();
      const value = line.slice(colon + 1).trim();
      headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
    }
    if (status >= 100 && status < 200 && status !== 101) return; // interim: mode stays undefined
    this.status = status;
    this.headers = headers;
    this.mode = bodyMode(this.method, status, headers);
  }

  /** Consumes what it can of the body from `buf`; true when the body is complete. */
  private body_(): boolean {
    const mode = this.mode as BodyMode;
    switch (mode.kind) {
      case "none":
        return true;
      case "close":
        if (this.buf.length) this.body.push(this.buf);
        this.buf = Buffer.alloc(0);
        return false;
      case "length": {
        const take = Math.min(mode.left, this.buf.length);
        if (take) this.body.push(this.buf.subarray(0, take));
        this.buf = this.buf.subarray(take);
        mode.left -= take;
        return mode.left === 0;
      }
      case "chunked":
        return this.chunked(mode);
    }
  }

  private chunked(mode: Extract<BodyMode, { kind: "chunked" }>): boolean {
    for (;;) {
      if (mode.stage === "size") {
        const eol = this.buf.indexOf(CRLF);
        if (eol < 0) {
          if (this.buf.length > 1024) throw new HttpProtocolError("malformed chunk size line");
          return false;
        }
        // chunk extensions (";name=value") are allowed and ignored
        const text = this.buf.subarray(0, eol).toString("latin1").split(";")[0].trim();
        if (!/^[0-9a-fA-F]{1,12}$/.test(text))
          throw new HttpProtocolError(`malformed chunk size: ${JSON.stringify(text.slice(0, 20))}`);
        this.buf = this.buf.subarray(eol + 2);
        mode.left = Number.parseInt(text, 16);
        mode.stage = mode.left === 0 ? "trailers" : "data";
      } else if (mode.stage === "data") {
        const take = Math.min(mode.left, this.buf.length);
        if (take) this.body.push(this.buf.subarray(0, take));
        this.buf = this.buf.subarray(take);
        mode.left -= take;
        if (mode.left > 0) return false;
        mode.stage = "data-crlf";
      } else if (mode.stage === "data-crlf") {
        if (this.buf.length < 2) return false;
        if (this.buf[0] !== 13 || this.buf[1] !== 10) throw new HttpProtocolError("malformed chunk end");
        this.buf = this.buf.subarray(2);
        mode.stage = "size";
      } else {
        // trailer fields, ignored, up to the empty line that ends the message
        const eol = this.buf.indexOf(CRLF);
        if (eol < 0) {
          if (this.buf.length > MAX_HEAD_BYTES) throw new HttpProtocolError("response trailers too large");
          return false;
        }
        this.buf = this.buf.subarray(eol + 2);
        if (eol === 0) return true;
      }
    }
  }
}

/** How the body of a final response is delimited (RFC 9112 section 6.3). */
function bodyMode(method: string, status: number, headers: Record<string, string>): BodyMode {
  if (method === "HEAD" || status === 204 || status === 304) return { kind: "none" };
  const te = headers["transfer-encoding"];
  if (te !== undefined) {
    const codings = te
      .toLowerCase()
      .split(",")
      .map((s) => s.trim());
    // chunked last: delimited by its chunks; any other coding: read until close
    return codings[codings.length - 1] === "chunked"
      ? { kind: "chunked", left: 0, stage: "size" }
      : { kind: "close" };
  }
  const cl = headers["content-length"];
  if (cl !== undefined) {
    const values = new Set(cl.split(",").map((s) => s.trim()));
    const [v] = values;
    if (values.size !== 1 || !/^\d{1,15}$/.test(v))
      throw new HttpProtocolError(`malformed content-length: ${JSON.stringify(cl.slice(0, 40))}`);
    const n = Number(v);
    return n === 0 ? { kind: "none" } : { kind: "length", left: n };
  }
  return { kind: "close" };
}

/** The request's bytes: request line, headers (host, content-length, connection: close), body. */
export function serializeRequest(u: URL, req: Http1Request): Buffer {
  const body = req.body === undefined ? undefined : Buffer.from(req.body, "utf8");
  const lines = [`${req.method} ${u.pathname}${u.search} HTTP/1.1`, `host: ${u.host}`];
  for (const [k, v] of Object.entries(req.headers)) {
    const name = k.toLowerCase();
    if (name === "host" || name === "content-length" || name === "connection") continue;
    // a CR or LF in a header would let a value write headers of its own
    if (/[\r\n]/.test(k) || /[\r\n]/.test(v)) throw new TypeError(`invalid header ${JSON.stringify(k)}`);
    lines.push(`${k}: ${v}`);
  }
  if (body !== undefined) lines.push(`content-length: ${body.length}`);
  lines.push("connection: close", "", "");
  const head = Buffer.from(lines.join("\r\n"), "latin1");
  return body === undefined ? head : Buffer.concat([head, body]);
}

export interface Http1Options {
  /** fails the request when nothing happened on the socket for this long */
  timeoutMs: number;
  /** https: the CAs to trust instead of Node's (tests; the commands use the defaults) */
  ca?: string | Buffer;
}

/** Where cli/bin/load.cjs leaves the NODE_EXTRA_CA_CERTS file the command's Node started without. */
export const DEFERRED_CA = Symbol.for("metaqueue.deferredExtraCaCerts");

/**
 * The CAs a TLS connection trusts when the shim kept NODE_EXTRA_CA_CERTS from Node's start
 * (scripts/build.mjs says why): Node's own roots and that file's, as Node would have trusted.
 * Undefined (Node's defaults) when it did not. A file that cannot be read is ignored with the
 * warning Node prints for it.
 */
export function deferredCa(roots: readonly string[]): string[] | undefined {
  const file = (process as unknown as Record<symbol, unknown>)[DEFERRED_CA];
  if (typeof file !== "string" || !file) return undefined;
  try {
    return [...roots, readFileSync(file, "utf8")];
  } catch (err) {
    process.emitWarning(`Ignoring extra certs from \`${file}\`, load failed: ${(err as Error).message}`);
    return undefined;
  }
}

/**
 * Sends one request and reads its whole answer. Rejects with the socket's error (ECONNREFUSED,
 * ECONNRESET, a TLS certificate error...), an HttpProtocolError, or a timeout error.
 */
export async function http1Request(
  url: string,
  req: Http1Request,
  opts: Http1Options,
): Promise<Http1Response> {
  const u = new URL(url);
  if (u.protocol !== "http:" && u.protocol !== "https:")
    throw new TypeError(`unsupported protocol ${u.protocol} in ${url}`);
  const https = u.protocol === "https:";
  // URL keeps an IPv6 literal's brackets ("[::1]"); the socket wants the address alone
  const host = u.hostname.replace(/^\[(.*)\]$/, "$1");
  const port = u.port ? Number(u.port) : https ? 443 : 80;
  const bytes = serializeRequest(u, req);
  let socket: Socket;
  if (https) {
    // only an https server pays for loading TLS; certificates are checked as node:https does
    // (rejectUnauthorized, the default CAs and NODE_EXTRA_CA_CERTS, the server's name)
    const tls = await import("node:tls");
    const ca = opts.ca ?? deferredCa(tls.rootCertificates);
    socket = tls.connect({
      host,
      port,
      servername: isIP(host) ? undefined : host,
      ALPNProtocols: ["http/1.1"],
      ...(ca === undefined ? {} : { ca }),
    });
  } else socket = netConnect({ host, port });
  return new Promise<Http1Response>((resolve, reject) => {
    const parser = new ResponseParser(req.method.toUpperCase());
    let settled = false;
    const finish = (err: Error | undefined, res?: Http1Response) => {
      if (settled) return;
      settled = true;
      socket.destroy();
      if (err) reject(err);
      else resolve(res as Http1Response);
    };
    socket.setTimeout(opts.timeoutMs, () =>
      finish(new Error(`timeout: no answer from ${u.host} in ${opts.timeoutMs} ms`)),
    );
    socket.on(https ? "secureConnect" : "connect", () => socket.write(bytes));
    socket.on("data", (chunk: Buffer) => {
      try {
        if (parser.push(chunk)) finish(undefined, parser.result());
      } catch (err) {
        finish(err as Error);
      }
    });
    socket.on("end", () => {
      try {
        finish(undefined, parser.end());
      } catch (err) {
        finish(err as Error);
      }
    });
    socket.on("error", (err) => finish(err));
    socket.on("close", () => finish(new HttpProtocolError("connection closed before a response")));
  });
}
