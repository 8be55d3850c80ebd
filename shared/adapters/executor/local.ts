/**
 * The executor port, locally: one forked MOM process per virtual node. Jobs reach it through
 * the MOM push channel, as on AWS (shared/ports/channel.ts, shared/server/mom-channel.ts):
 * dispatch, kill and qsig are pushes on the MOM's WebSocket, and dispatch resolves once the
 * push was delivered to the MOM's connection. IPC is left for the process itself: handing the
 * forked MOM its name and key, retiring it (power-off) and reading its request counters.
 */
import { type ChildProcess, fork } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { momKey, newMomId } from "../../auth/mom-report.js";
import { RejectedError } from "../../errors.js";
import { sessionSocketPath } from "../../exec/session.js";
import type { Executor, JobRunSpec, KillReason, MomPush } from "../../ports/index.js";
import { type MomPusher, pushKill, pushSignal } from "../channel/push.js";

/**
 * The IPC protocol between this executor and the MOM it forks (infra/mom/local.ts): declared
 * here, with the side that starts the conversation, so the MOM entry imports it and not the
 * other way round (shared/ never imports an entry).
 */
export type MomRequest =
  | { type: "init"; momId: string; key: string }
  | { type: "counts"; reqId: number }
  /**
   * power-off: stop taking runs if it runs none (ok), else refuse (ok false, data = its runs).
   * One step in the MOM, so no run pushed meanwhile starts on a MOM about to be stopped: one
   * that comes after is refused back to the server (a signed refusal, reason "closing":
   * shared/exec/refusal.ts).
   */
  | { type: "retire"; reqId: number };
export type MomReply =
  | { type: "reply"; reqId: number; ok: boolean; error?: string; data?: unknown }
  | { type: "boot" }
  | { type: "ready"; momId: string };

type MomRequestBody = MomRequest extends infer T ? (T extends MomRequest ? Omit<T, "reqId"> : never) : never;

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../../..");

interface MomProc {
  node: string;
  child: ChildProcess;
  momId?: string;
  ready: Promise<void>;
}

export interface LocalExecutorOptions {
  /** nodes whose MOM starts with the executor: always-on nodes, and pool nodes recorded powered on */
  nodes: string[];
  env: Record<string, string>;
  /** the site's MOM secret: each MOM gets HMAC(secret, momId) as its key, over IPC */
  momSecret: string;
  /** where MOM logs go (inherit = the runtime's stderr) */
  log?: (line: string) => void;
  /** pushes to the MOMs' connections (the site's MOM gateway; env MOM_GATEWAY_URL tells the MOMs where it is) */
  pusher: MomPusher;
}

export class LocalExecutor implements Executor {
  private moms = new Map<string, MomProc>();
  private reqId = 0;
  private waiting = new Map<
    number,
    { resolve: (r: MomReply) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }
  >();
  private stopping = false;

  constructor(private opts: LocalExecutorOptions) {}

  async start(): Promise<void> {
    await Promise.all(this.opts.nodes.map((n) => this.startMom(n)));
  }

  private startMom(node: string): Promise<void> {
    // The bundled MOM starts in ~100 ms; the TypeScript source through tsx is the fallback.
    const bundled = path.join(root, "dist", "mom-local.js");
    const entry = fsExists(bundled) ? bundled : path.join(root, "infra", "mom", "local.ts");
    const child = fork(entry, [], {
      env: { ...process.env, ...this.opts.env, MOM_NODE: node },
      execArgv: entry.endsWith(".ts") ? ["--import", "tsx"] : [],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    let resolveReady!: () => void;
    let rejectReady!: (e: Error) => void;
    const proc: MomProc = {
      node,
      child,
      ready: new Promise((res, rej) => {
        resolveReady = res;
        rejectReady = rej;
      }),
    };
    this.moms.set(node, proc);
    // The executor names the MOM (so the key binds its node) and hands it the key over IPC.
    const momId = newMomId(node);
    child.on("message", (m: MomReply) => {
      if (m.type === "boot") {
        child.send({ type: "init", momId, key: momKey(this.opts.momSecret, momId) } satisfies MomRequest);
      } else if (m.type === "ready") {
        proc.momId = m.momId;
        resolveReady();
      } else {
        const w = this.waiting.get(m.reqId);
        if (w) {
          clearTimeout(w.timer);
          this.waiting.delete(m.reqId);
          w.resolve(m);
        }
      }
    });
    child.on("exit", (code) => {
      rejectReady(new Error(`MOM ${node} exited (${code})`));
      this.opts.pusher.forget(momId);
      if (this.stopping || this.moms.get(node) !== proc) return;
      this.opts.log?.(`MOM ${node} exited with ${code}; restarting`);
      // A MOM that dies is restarted, as systemd would restart pbs_mom; its boot message tells
      // the server what was lost.
      setTimeout(() => {
        // not if the node was powered off meanwhile (powerOff forgets its MOM)
        if (!this.stopping && this.moms.get(node) === proc)
          this.startMom(node).catch((e) => this.opts.log?.(String(e)));
      }, 500);
    });
    return proc.ready;
  }

  /** Start a MOM for every node that has none (nodes created with qmgr while running). */
  async ensureNodes(nodes: string[]): Promise<void> {
    const missing = nodes.filter((n) => !this.moms.has(n));
    if (missing.length && !this.stopping) await Promise.all(missing.map((n) => this.startMom(n)));
  }

  /**
   * Power a pool node on: fork its MOM (its hello marks the node up). Resolves once forked; a MOM
   * that never gets as far as its hello is the boot timeout's to find.
   */
  async powerOn(node: string): Promise<void> {
    if (this.stopping) throw new Error("the executor is stopping");
    if (this.moms.has(node)) return; // already running (a retried power-on): its hello will come
    this.startMom(node).catch((e) => this.opts.log?.(`power-on of ${node}: ${(e as Error).message}`));
  }

  /**
   * Power a node off: stop its MOM, only when it runs nothing (rejects otherwise). The MOM is
   * forgotten first, so its exit is not taken for a crash and restarted.
   */
  async powerOff(node: string): Promise<void> {
    const m = this.moms.get(node);
    if (!m) return;
    if (m.child.connected && m.momId) {
      const r = (await this.request(node, { type: "retire" })) as Extract<MomReply, { type: "reply" }>;
      const runs = (r.data ?? []) as unknown[];
      if (!r.ok) throw new Error(`MOM on ${node} still runs ${runs.length} job(s)`);
    }
    this.moms.delete(node);
    await stopChild(m.child);
  }

  momIdFor(execHost: string): string {
    const m = this.moms.get(execHost);
    if (!m?.momId) throw new Error(`no MOM on node ${execHost}`);
    return m.momId;
  }

  private request(node: string, req: MomRequestBody, timeoutMs = 10_000): Promise<MomReply> {
    const m = this.moms.get(node);
    if (!m?.child.connected) return Promise.reject(new Error(`MOM on ${node} is not running`));
    const reqId = ++this.reqId;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(reqId);
        reject(new Error(`MOM on ${node} did not answer in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(reqId, { resolve, reject, timer });
      m.child.send({ ...req, reqId } as MomRequest);
    });
  }

  private nodeOf(momId: string): string {
    return momId.replace(/:[^:]*$/, "");
  }

  async dispatch(spec: JobRunSpec): Promise<void> {
    const node = this.nodeOf(spec.momId);
    const m = this.moms.get(node);
    if (!m || m.momId !== spec.momId)
      throw new Error(`MOM ${spec.momId} is not running (node ${node} has ${m?.momId ?? "none"})`);
    await this.push(spec.momId, { type: "run", spec });
  }

  /** A push to a MOM: MomUnreachableError when it holds no live connection (shared/adapters/channel/push.ts). */
  private push(momId: string, msg: MomPush): Promise<void> {
    return this.opts.pusher.push(momId, msg);
  }

  async kill(job: { jobId: string; momId: string; runCount: number }, reason: KillReason): Promise<void> {
    const node = this.nodeOf(job.momId);
    if (this.moms.get(node)?.momId !== job.momId) return; // that MOM is gone: the server's sweeper finishes the job
    await pushKill(this.opts.pusher, job, reason);
  }

  async signal(
    job: { jobId: string; momId: string; runCount: number },
    signal: NodeJS.Signals,
  ): Promise<void> {
    const node = this.nodeOf(job.momId);
    if (this.moms.get(node)?.momId !== job.momId)
      throw new RejectedError(
        "MomRejected",
        `Request to MOM failed: the MOM of ${job.jobId} is not running`,
        409,
      );
    await pushSignal(this.opts.pusher, job, signal);
  }

  /**
   * qsub -I: the socket the MOM of a run listens on (shared/exec/session.ts), below the node's
   * MOM folder; the same path the MOM computes.
   */
  sessionAddress(job: { jobId: string; momId: string; runCount: number }): string {
    const tmp = this.opts.env.MOM_TMP;
    if (!tmp) throw new Error("local executor: no MOM_TMP, so no interactive sessions");
    return `unix:${sessionSocketPath(path.join(tmp, this.nodeOf(job.momId)), job.jobId, job.runCount)}`;
  }

  /** Request counters of every MOM process (for the benchmark). */
  async counts(): Promise<Record<string, number>> {
    const out: Record<string, number> = {};
    for (const node of this.moms.keys()) {
      try {
        const r = (await this.request(node, { type: "counts" })) as Extract<MomReply, { type: "reply" }>;
        for (const [k, v] of Object.entries((r.data ?? {}) as Record<string, number>))
          out[k] = (out[k] ?? 0) + v;
      } catch {
        /* a MOM restarting: its counts are lost */
      }
    }
    return out;
  }

  /** Kill a node's MOM abruptly (tests: a MOM that dies). */
  killMom(node: string, signal: NodeJS.Signals = "SIGKILL"): void {
    this.moms.get(node)?.child.kill(signal);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all([...this.moms.values()].map((m) => stopChild(m.child)));
  }
}

/** SIGTERM a MOM (a graceful stop: it kills its jobs), SIGKILL after 5 s. */
function stopChild(child: ChildProcess): Promise<void> {
  return new Promise<void>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve();
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      resolve();
    }, 5000);
    child.once("exit", () => {
      clearTimeout(t);
      resolve();
    });
    child.kill("SIGTERM");
  });
}

function fsExists(p: string): boolean {
  try {
    fs.accessSync(p);
    return true;
  } catch {
    return false;
  }
}
