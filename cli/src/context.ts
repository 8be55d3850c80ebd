/**
 * What every command gets: injected dependencies (so tests run commands without processes or
 * sockets), server resolution and PBS-style error printing.
 */
import { readFile } from "node:fs";
import { hostname } from "node:os";
import { MetaqueueError } from "../../shared/errors.js";
import { type Api, HttpApi } from "./api-client.js";
import { type ClientConfig, loadClientConfig, resolveServer, type ServerEntry } from "./config.js";

export interface Writer {
  write(text: string): unknown;
}

/** What qsub -W block=true waits with (block.ts); tests give their own. */
export interface BlockDeps {
  sleep: (ms: number) => Promise<void>;
  /** registers a handler for the interrupting signals; returns its removal */
  onSignal: (handler: (signal: number) => void) => () => void;
}

export interface Deps {
  api: Api;
  stdout: Writer;
  stderr: Writer;
  env: Record<string, string | undefined>;
  cwd: () => string;
  /** reads a whole file as UTF-8; rejects with an ENOENT error when missing */
  readFile: (path: string) => Promise<string>;
  /** reads all of standard input */
  stdin: () => Promise<string>;
  hostname?: () => string;
  /** epoch milliseconds */
  now?: () => number;
  /** the client configuration; when absent it is loaded from `env` (see config.ts) */
  config?: ClientConfig;
  /** qsub -W block=true's pauses and signals; the process's when absent (block.ts) */
  block?: BlockDeps;
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export const defaultDeps: Deps = {
  api: new HttpApi(),
  stdout: process.stdout,
  stderr: process.stderr,
  env: process.env,
  cwd: () => process.cwd(),
  // the callback API: node:fs/promises would load its own streams, readline and watchers (about
  // 1 ms of every command's start) for this one call
  readFile: (path) =>
    new Promise((resolve, reject) =>
      readFile(path, "utf8", (err, text) => (err ? reject(err) : resolve(text))),
    ),
  stdin: readStdin,
  hostname: () => hostname(),
  now: () => Date.now(),
};

export class Ctx {
  private config: ClientConfig | undefined;
  private loaded = false;
  /** exit code so far: the last failure's code, as PBS commands do */
  exitCode = 0;

  constructor(
    readonly cmd: string,
    readonly deps: Deps,
  ) {}

  get api(): Api {
    return this.deps.api;
  }

  out(text: string): void {
    if (text !== "") this.deps.stdout.write(text);
  }

  /** prints `cmd: message` on stderr */
  err(message: string): void {
    this.deps.stderr.write(`${this.cmd}: ${message}\n`);
  }

  /** prints an error and records its exit code */
  fail(error: unknown): number {
    const code = exitCodeOf(error);
    this.err(messageOf(error));
    this.exitCode = code;
    return code;
  }

  now(): number {
    return this.deps.now ? this.deps.now() : Date.now();
  }

  hostname(): string {
    return this.deps.hostname ? this.deps.hostname() : hostname();
  }

  /** the server for a name or short name (default server when undefined); throws ClientError */
  server(name?: string): ServerEntry {
    if (!this.loaded) {
      this.config = this.deps.config ?? loadClientConfig(this.deps.env);
      this.loaded = true;
    }
    return resolveServer(this.config, name);
  }

  /** every server the client knows (servers.json), default first */
  allServers(): ServerEntry[] {
    this.server();
    return this.config?.servers ?? [];
  }

  /** the server's name for display (-F json, -B); asks the server when only its URL is known */
  async serverName(target: ServerEntry): Promise<string> {
    if (!target.fromEnv) return target.name;
    return (await this.api.getServer(target)).name;
  }
}

export function messageOf(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

export function exitCodeOf(error: unknown): number {
  if (error instanceof MetaqueueError) return error.exitCode || 1;
  return 1;
}
