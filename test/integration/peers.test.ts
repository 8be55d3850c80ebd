/**
 * Two sites on one local stack: the seed 000 workflow (submit to the peer's queue, depend on
 * its job from here) and refusal of messages that do not come from a peer.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type LocalMetaqueue, startLocal } from "../../infra/local/runtime.js";
import { rejectedPeerMessages } from "../../shared/peers/inbox.js";
import { sealPeerMessage } from "../../shared/peers/messages.js";
import { twoSiteConfig } from "./helpers.js";

const run = promisify(execFile);
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-peers-"));
const conf = path.join(dir, "servers.json");
let mq: LocalMetaqueue;

const config = twoSiteConfig;

async function cli(cmd: string, args: string[], input?: string) {
  try {
    const p = run(path.resolve("node_modules/.bin", cmd), args, {
      cwd: dir,
      env: { ...process.env, METAQUEUE_CONF: conf, METAQUEUE_CREDENTIAL: path.join(dir, "credential") },
    });
    if (input !== undefined) p.child.stdin?.end(input);
    const r = await p;
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: e.code ?? 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
}

async function attrs(id: string): Promise<Record<string, unknown>> {
  const r = await cli("qstat", ["-x", "-f", "-F", "json", id]);
  return Object.values(JSON.parse(r.stdout).Jobs ?? {})[0] as Record<string, unknown>;
}

async function waitFinished(id: string, ms = 30_000): Promise<Record<string, unknown>> {
  const end = Date.now() + ms;
  for (;;) {
    const a = await attrs(id);
    if (a?.job_state === "F") return a;
    if (Date.now() > end) throw new Error(`${id} still ${a?.job_state}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  mq = await startLocal({
    config,
    dataDir: path.join(dir, "data"),
    confPath: conf,
    credentialPath: path.join(dir, "credential"),
    tickMs: 500,
    log: () => {},
  });
}, 90_000);
afterAll(async () => {
  await mq?.stop();
});

describe("peer sites", () => {
  it("runs the seed 000 workflow: submit at the peer, afterok across sites", async () => {
    // the model ends when the test says so (model.go), not after a sleep a loaded machine may outlast
    fs.writeFileSync(
      path.join(dir, "run_model.pbs"),
      '#!/bin/bash\n# jobs start in $HOME, as in PBS\ncd "$PBS_O_WORKDIR"\nwhile [ ! -e model.go ]; do sleep 0.1; done; touch model.done\n',
    );
    fs.writeFileSync(
      path.join(dir, "run_post.pbs"),
      '#!/bin/bash\ncd "$PBS_O_WORKDIR"\ntest -f model.done\n',
    );
    const jid = (await cli("qsub", ["-q", "main@desched1", "run_model.pbs"])).stdout.trim();
    expect(jid).toMatch(/^\d+\.derecho$/);
    const post = (
      await cli("qsub", ["-q", "casper@casper-pbs", "-W", `depend=afterok:${jid}`, "run_post.pbs"])
    ).stdout.trim();
    expect(post).toMatch(/^\d+\.casper$/);
    expect((await attrs(post)).job_state).toBe("H");
    fs.writeFileSync(path.join(dir, "model.go"), "");
    const p = await waitFinished(post);
    expect(p.Exit_status).toBe(0);
    const m = await attrs(jid);
    // the child started only after the parent ended (both times must be there to compare)
    expect(Date.parse(String(p.stime))).not.toBeNaN();
    expect(Date.parse(String(m.obittime))).not.toBeNaN();
    expect(Date.parse(String(p.stime))).toBeGreaterThanOrEqual(Date.parse(String(m.obittime)) - 1000);
    expect((await cli("qstat", ["@casper-pbs"])).code).toBe(0);
    expect((await cli("qstat", ["-x", "main@desched1"])).stdout).toContain(jid.split(".")[0]);
  });

  it("deletes a cross-site afterok dependent when the parent fails, and runs afternotok", async () => {
    const bad = (await cli("qsub", ["-q", "main@desched1"], "exit 4\n")).stdout.trim();
    const ok = (await cli("qsub", ["-W", `depend=afterok:${bad}`], "echo never\n")).stdout.trim();
    const notok = (await cli("qsub", ["-W", `depend=afternotok:${bad}`], "echo cleanup\n")).stdout.trim();
    const a = await waitFinished(ok);
    expect(a.Exit_status).toBeUndefined();
    expect(String(a.comment)).toMatch(/can never be satisfied/);
    expect((await waitFinished(notok)).Exit_status).toBe(0);
  });

  it("refuses a dependency on a job at a server that is not a peer", async () => {
    const r = await cli("qsub", ["-W", "depend=afterok:5.elsewhere"], "true\n");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/no peering/);
  });

  it("never acts on a message from an unknown sender or with a bad signature", async () => {
    const casper = mq.sites.find((s) => s.config.name === "casper");
    if (!casper) throw new Error("no casper");
    const target = (await cli("qsub", ["-h"], "true\n")).stdout.trim();
    // a forged release for a job held by a user hold and a made-up dependency
    const forged = {
      type: "DEPEND_RELEASE" as const,
      parentId: "1.derecho",
      childId: target,
      depType: "afterok",
      outcome: "unsatisfiable" as const,
    };
    const before = { ...rejectedPeerMessages };
    const inbox = casper.ctx.peers
      ?.get("derecho")
      ?.inboxUrl.replace("derecho-inbox", "casper-inbox") as string;
    await casper.sqs.send(
      new SendMessageCommand({
        QueueUrl: inbox,
        MessageBody: sealPeerMessage("mallory", "casper", "x", forged, Date.now()),
      }),
    );
    await casper.sqs.send(
      new SendMessageCommand({
        QueueUrl: inbox,
        MessageBody: sealPeerMessage("derecho", "casper", "wrong-secret", forged, Date.now()),
      }),
    );
    for (let i = 0; i < 50; i++) {
      if (
        (rejectedPeerMessages["unknown-peer"] ?? 0) > (before["unknown-peer"] ?? 0) &&
        (rejectedPeerMessages["bad-signature"] ?? 0) > (before["bad-signature"] ?? 0)
      )
        break;
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(rejectedPeerMessages["unknown-peer"]).toBeGreaterThan(before["unknown-peer"] ?? 0);
    expect(rejectedPeerMessages["bad-signature"]).toBeGreaterThan(before["bad-signature"] ?? 0);
    expect((await attrs(target)).job_state).toBe("H");
    await cli("qdel", [target]);
  });
});
