/**
 * DynamoDB Local's keeper, started by infra/local/dynamodb.ts as the first process of a private
 * network namespace (`unshare --net`, or `--user --map-root-user --net` when not root).
 *
 * DynamoDB Local (Jetty) can only listen on every interface of its namespace, with no
 * authentication: anyone who reaches its port may rewrite a job's owner. So it runs where no
 * one else has an interface: this process brings the namespace's loopback up, starts the JVM on
 * 127.0.0.1:<port> there, and forwards each connection accepted on a Unix socket (a file, so it
 * crosses namespaces; its folder is 0700) to it. Only processes that may open the socket, the
 * runtime user's, reach the database.
 *
 * Lifetime: the JVM stays in our process group (a SIGKILL of the runtime's group reaches it);
 * when the parent goes away without stopping us (our stdin pipe closes) or on SIGTERM, the JVM
 * is stopped too, so no database outlives its runtime.
 *
 * Talks to the parent on fd 3, one JSON object a line: `{java: pid}`, `{listening: true}`,
 * `{error: message}`. The JVM's own output goes to our stdout/stderr.
 */
import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";

export interface ForwarderArgs {
  /** the Unix socket to accept on (replaced if a stale one is there) */
  socketPath: string;
  /** the JVM's port on 127.0.0.1 */
  port: number;
  /** the `ip` command to bring `lo` up with first (in a fresh network namespace it is down); null outside one */
  ip: string | null;
  java: { command: string; args: string[]; cwd: string };
}

const STOP_GRACE_MS = 4_000;

function main(): void {
  const args = JSON.parse(process.argv[2] ?? "") as ForwarderArgs;
  // synchronous: the last report may come right before process.exit
  const report = (m: object) => {
    try {
      fs.writeSync(3, `${JSON.stringify(m)}\n`);
    } catch {
      // the parent is gone; stdin's EOF stops us
    }
  };
  // DynamoDB Local's .db file and anything else it writes: readable by the runtime user only
  process.umask(0o077);
  if (args.ip) execFileSync(args.ip, ["link", "set", "lo", "up"], { stdio: "inherit" });

  const java: ChildProcess = spawn(args.java.command, args.java.args, {
    cwd: args.java.cwd,
    stdio: ["ignore", "inherit", "inherit"],
  });
  java.once("error", (err) => {
    report({
      error: `could not start ${args.java.command}: ${err.message}`,
      code: (err as NodeJS.ErrnoException).code,
    });
    process.exit(1);
  });
  if (java.pid !== undefined) report({ java: java.pid });
  java.once("exit", (code, signal) => {
    // without the database there is nothing to forward to: go, and let the parent see it
    process.exit(code ?? (signal ? 1 : 0));
  });

  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) return;
    stopping = true;
    server.close();
    java.kill(signal);
    // never leave the JVM behind, even if it ignores SIGTERM
    setTimeout(() => java.kill("SIGKILL"), STOP_GRACE_MS).unref();
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => {}); // the runtime decides: Ctrl-C reaches the whole group
  // the parent holds the other end of stdin: EOF means it is gone (even by SIGKILL)
  process.stdin.on("end", () => stop("SIGKILL"));
  process.stdin.on("error", () => stop("SIGKILL"));
  process.stdin.resume();

  const server = net.createServer((client) => {
    const upstream = net.connect({ host: "127.0.0.1", port: args.port });
    // small request/response messages: Nagle would add latency to every one
    upstream.setNoDelay(true);
    client.pipe(upstream);
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on("error", close);
    upstream.on("error", close);
    client.on("close", close);
    upstream.on("close", close);
  });
  fs.rmSync(args.socketPath, { force: true });
  server.listen({ path: args.socketPath }, () => {
    fs.chmodSync(args.socketPath, 0o600);
    report({ listening: true });
  });
  server.on("error", (err) => {
    report({ error: `cannot listen on ${args.socketPath}: ${err.message}` });
    stop("SIGKILL");
  });
}

main();
