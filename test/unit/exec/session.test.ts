/**
 * The MOM's session listener (qsub -I) on a real unix socket: only the holder of the one-time
 * key attaches; a wrong key is refused and the listener keeps waiting for the right one.
 */
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { newSessionKey, sessionKeyHash, sessionKeyMatches } from "../../../shared/auth/session-key.js";
import {
  listenForSession,
  parseHello,
  sessionCommand,
  sessionSocketPath,
} from "../../../shared/exec/session.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-sess-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Connect, send a hello line, return the first line answered. */
function hello(p: string, body: unknown): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect(p);
    let buf = "";
    s.on("error", reject);
    s.on("connect", () => s.write(`${JSON.stringify(body)}\n`));
    s.on("data", (b) => {
      buf += String(b);
      if (buf.includes("\n")) {
        resolve(buf.slice(0, buf.indexOf("\n")));
        s.destroy();
      }
    });
  });
}

describe("session key", () => {
  it("matches only its own key", () => {
    const k = newSessionKey();
    expect(sessionKeyMatches(k, sessionKeyHash(k))).toBe(true);
    expect(sessionKeyMatches(`${k}x`, sessionKeyHash(k))).toBe(false);
    expect(sessionKeyMatches(k, "not-a-hash")).toBe(false);
    expect(newSessionKey()).not.toBe(k);
  });
});

describe("listenForSession", () => {
  it("refuses a wrong key, keeps listening, then attaches the right one and removes the socket", async () => {
    const key = newSessionKey();
    const p = sessionSocketPath(dir, "7.casper", 1);
    const l = listenForSession({ socketPath: p, keyHash: sessionKeyHash(key) });
    for (let i = 0; i < 50 && !fs.existsSync(p); i++) await new Promise((r) => setTimeout(r, 10));
    expect(fs.statSync(p).mode & 0o777).toBe(0o600);
    expect(await hello(p, { key: "guess", tty: false })).toBe("ERR permission denied: wrong session key");
    expect(await hello(p, { nokey: 1 })).toBe("ERR malformed hello");
    expect(await hello(p, { key, tty: true, rows: 30, cols: 90, term: "xterm" })).toBe("OK");
    const s = await l.accepted;
    expect(s.hello).toEqual({ key, tty: true, rows: 30, cols: 90, term: "xterm" });
    expect(fs.existsSync(p)).toBe(false);
    s.socket.destroy();
  });

  it("close() before anyone attached rejects and removes the socket", async () => {
    const p = sessionSocketPath(dir, "8.casper", 2);
    const l = listenForSession({ socketPath: p, keyHash: sessionKeyHash("k") });
    for (let i = 0; i < 50 && !fs.existsSync(p); i++) await new Promise((r) => setTimeout(r, 10));
    l.close();
    await expect(l.accepted).rejects.toThrow("closed before qsub attached");
    expect(fs.existsSync(p)).toBe(false);
  });
});

describe("hello and command", () => {
  it("drops a TERM that is not a terminal name", () => {
    expect(parseHello('{"key":"k","tty":true,"term":"x; rm -rf /"}')).toEqual({ key: "k", tty: true });
    expect(parseHello("nope")).toBe("malformed hello");
  });
  it("runs the top shell directly without a tty, under script with one", () => {
    expect(sessionCommand({ shell: "/bin/bash", argv0: "-bash" }, { key: "", tty: false })).toEqual([
      "-bash",
      "/bin/bash",
    ]);
    const c = sessionCommand(
      { shell: "/bin/bash", argv0: "-bash" },
      { key: "", tty: true, rows: 5, cols: 7 },
    );
    expect(c.slice(2)).toEqual(["-qfec", expect.stringContaining("stty rows 5 cols 7"), "/dev/null"]);
    expect(c[1]).toMatch(/\/script$/);
  });
});
