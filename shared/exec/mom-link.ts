/**
 * A MOM's end of the push channel (shared/ports/channel.ts): one outbound WebSocket to the
 * site's gateway, opened with a signed `connect` (its key, as for every report), kept open, and
 * opened again after any close, each time with a fresh signature (the gateway records the new
 * connection; pushes go there from then on). Pushed messages are handed to `onPush` in order.
 */
import WebSocket from "ws";
import { signReport } from "../auth/mom-report.js";
import { MOM_CONNECT_HEADER, type MomPush, type MomSays } from "../ports/channel.js";

export interface MomLinkOptions {
  /** the gateway: `wss://...` on AWS, `ws+unix:<socket>:/` locally */
  url: string;
  momId: string;
  key: string;
  onPush(msg: MomPush): void;
  log?: (line: string) => void;
  /** first wait before reconnecting (doubles to 5 s); default 100 */
  retryMs?: number;
}

const RETRY_MAX_MS = 5000;

export class MomLink {
  private ws?: WebSocket;
  private stopped = false;
  private retryMs: number;
  private opened?: () => void;
  /** connects made (a reconnect is one more) */
  connects = 0;
  /** asks waiting for their answer (ask) */
  private readonly asks = new Set<{ match: (m: MomPush) => boolean; answer: (m: MomPush) => void }>();

  constructor(private readonly opts: MomLinkOptions) {
    this.retryMs = opts.retryMs ?? 100;
  }

  /** Connect; resolves once the first connection is open (retrying until it is). */
  start(): Promise<void> {
    return new Promise((resolve) => {
      this.opened = resolve;
      this.connect();
    });
  }

  /** Send on the open connection; false when none is open (the caller reports another way). */
  send(msg: MomSays): boolean {
    const ws = this.ws;
    if (!ws || ws.readyState !== WebSocket.OPEN) return false;
    ws.send(JSON.stringify(msg));
    return true;
  }

  /**
   * Send `msg` and wait for the push `match` recognizes as its answer (the server answers a
   * `grant` request on the same connection); that push does not go to onPush. Rejects when no
   * connection is open or no answer came within `timeoutMs` (the caller tries again later).
   */
  ask(msg: MomSays, match: (m: MomPush) => boolean, timeoutMs = 10_000): Promise<MomPush> {
    return new Promise((resolve, reject) => {
      const entry = {
        match,
        answer: (m: MomPush) => {
          clearTimeout(timer);
          this.asks.delete(entry);
          resolve(m);
        },
      };
      const timer = setTimeout(() => {
        this.asks.delete(entry);
        reject(new Error(`mom link: no answer to a ${msg.type} in ${timeoutMs} ms`));
      }, timeoutMs);
      timer.unref();
      this.asks.add(entry);
      if (!this.send(msg)) {
        clearTimeout(timer);
        this.asks.delete(entry);
        reject(new Error(`mom link: no open connection for a ${msg.type}`));
      }
    });
  }

  /** Drop the connection as a network fault would (tests): the link reconnects. */
  drop(): void {
    this.ws?.terminate();
  }

  close(): void {
    this.stopped = true;
    this.ws?.close();
  }

  private connect(): void {
    if (this.stopped) return;
    const hello = signReport(this.opts.key, this.opts.momId, "connect", {});
    const ws = new WebSocket(this.opts.url, {
      headers: { [MOM_CONNECT_HEADER]: Buffer.from(JSON.stringify(hello)).toString("base64url") },
      perMessageDeflate: false,
    });
    this.ws = ws;
    ws.on("open", () => {
      this.connects++;
      this.retryMs = this.opts.retryMs ?? 100;
      this.opened?.();
      this.opened = undefined;
    });
    ws.on("message", (data) => {
      // a two-way route's empty answer to a report (API Gateway's $default): nothing to act on
      if (String(data) === "") return;
      let msg: MomPush;
      try {
        msg = JSON.parse(String(data)) as MomPush;
      } catch {
        this.opts.log?.(`mom link: a frame that is not JSON`);
        return;
      }
      for (const a of this.asks) if (a.match(msg)) return a.answer(msg);
      this.opts.onPush(msg);
    });
    ws.on("unexpected-response", (_req, res) => {
      this.opts.log?.(`mom link: the gateway refused the connect (${res.statusCode})`);
      ws.terminate();
    });
    ws.on("error", () => {}); // a close follows
    ws.on("close", () => {
      if (this.ws !== ws || this.stopped) return;
      const wait = this.retryMs;
      this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
      setTimeout(() => this.connect(), wait).unref();
    });
  }
}
