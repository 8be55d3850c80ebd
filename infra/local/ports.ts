import { connect, createServer } from "node:net";

/**
 * A TCP port that was free a moment ago: binds a server to port 0 on all interfaces, reads the
 * port the kernel chose, and closes it. Another process may grab it before the caller binds, so
 * callers that spawn a server should treat "address in use" as retryable.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once("error", reject);
    server.listen({ port: 0, host: "0.0.0.0", exclusive: true }, () => {
      const address = server.address();
      if (address === null || typeof address === "string") {
        server.close();
        reject(new Error("freePort: server has no TCP address"));
        return;
      }
      const { port } = address;
      server.close((err) => (err ? reject(err) : resolve(port)));
    });
  });
}

/** true if nothing listens on `port` (on any interface) right now */
export function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once("error", () => resolve(false));
    server.listen({ port, host: "0.0.0.0", exclusive: true }, () => {
      server.close(() => resolve(true));
    });
  });
}

/**
 * true if a server accepts on the Unix socket `path` now. A socket file nobody listens on (left
 * by a runtime that was SIGKILLed) may be replaced; one that answers belongs to a runtime that
 * still runs on the same data, whose clients would silently move to ours.
 */
export function socketInUse(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect({ path });
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
}
