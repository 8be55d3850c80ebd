/**
 * Forged MOM reports, sent from job code: a job (root here, so it can reach the SQS emulator and
 * DynamoDB Local through their Unix sockets, which other users' jobs cannot: private-data.test.ts) sends an unsigned obituary for another running job, an unsigned hello for its
 * node, a report with a made-up signature, and overwrites the heartbeat items with beats that
 * omit every job. The victim keeps running and ends with its own exit status, nothing is
 * charged or requeued by the forgeries, and each refusal is counted by reason. Genuinely
 * signed but misdirected, stale and replayed reports (built here with the site secret) are
 * refused too.
 */
import fs from "node:fs";
import path from "node:path";
import { SendMessageCommand } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { momKey, signReport } from "../../shared/auth/mom-report.js";
import { type Stack, startStack } from "./helpers.js";

const asRoot = process.getuid?.() === 0;
let s: Stack;

beforeAll(async () => {
  s = await startStack();
});
afterAll(() => s?.mq.stop());

const FORGE = (root: string) => `
import { createRequire } from "node:module";
import fs from "node:fs";
const require = createRequire(${JSON.stringify(path.join(root, "package.json"))});
const { SQSClient, SendMessageCommand } = require("@aws-sdk/client-sqs");
const { DynamoDBClient } = require("@aws-sdk/client-dynamodb");
const { DynamoDBDocumentClient, ScanCommand, PutCommand } = require("@aws-sdk/lib-dynamodb");
const [sqsUrl, ddbUrl, queueUrl, table, victim, node, out] = process.argv.slice(2);
const { NodeHttpHandler } = require("@smithy/node-http-handler");
const http = require("node:http");
const net = require("node:net");
const credentials = { accessKeyId: "local", secretAccessKey: "local" };
// the data services listen only on Unix sockets (root's, in a 0700 folder): this job is root's
const via = (ep) => {
  if (!ep.startsWith("unix:")) return { endpoint: ep };
  const httpAgent = new http.Agent({ keepAlive: true });
  httpAgent.createConnection = () => net.connect({ path: ep.slice(5) });
  return { endpoint: "http://localhost", requestHandler: new NodeHttpHandler({ httpAgent }) };
};
const sqs = new SQSClient({ region: "us-east-1", credentials, ...via(sqsUrl) });
const doc = DynamoDBDocumentClient.from(new DynamoDBClient({ region: "us-east-1", credentials, ...via(ddbUrl) }));
const beats = (await doc.send(new ScanCommand({ TableName: table }))).Items.filter((i) => String(i.pk).startsWith("MOM#") && i.jobs);
const victimMom = beats.find((b) => b.jobs.some((j) => j.jobId === victim))?.momId ?? node + ":guess";
const used = { walltime: 99999, cput: 99999, mem: 1, ncpus: 1 };
const obit = { type: "obit", jobId: victim, runCount: 1, momId: victimMom, exitStatus: 0, startedAt: 1, endedAt: 2, resourcesUsed: used };
const send = (b) => sqs.send(new SendMessageCommand({ QueueUrl: queueUrl, MessageBody: JSON.stringify(b) }));
let sent = 0;
await send(obit); sent++;
await send({ type: "hello", momId: node + ":evil", node }); sent++;
await send({ type: "mom", v: 1, kind: "obit", momId: victimMom, sentAt: Date.now(), nonce: "x", body: obit, sig: "0".repeat(64) }); sent++;
// beats that omit every job, for 3 s (the real MOM rewrites its own every 500 ms)
let wrote = 0;
for (const until = Date.now() + 3000; Date.now() < until; ) {
  for (const b of beats) { await doc.send(new PutCommand({ TableName: table, Item: { ...b, jobs: [], at: Date.now(), sig: undefined, nonce: undefined } })); wrote++; }
  await new Promise((r) => setTimeout(r, 50));
}
fs.writeFileSync(out, "sent " + sent + " beats " + wrote + " victimMom " + victimMom + "\\n");
`;

describe.skipIf(!asRoot)("forged MOM reports from job code", () => {
  it("are refused and counted; the victim runs on and ends with its own status", async () => {
    const site = s.mq.sites[0];
    const m = site.metrics.totals;
    const victim = (await s.cli("qsub", ["-N", "victim"], { input: "sleep 20; exit 3\n" })).stdout.trim();
    await s.waitState(victim, ["R"]);
    const node = String(await s.attr(victim, "exec_host")).split("/")[0];
    // wait for a beat that lists the victim, so the forger finds its MOM
    await new Promise((r) => setTimeout(r, 1200));

    const forge = path.join(s.dir, "forge.mjs");
    fs.writeFileSync(forge, FORGE(process.cwd()));
    const out = path.join(s.dir, "forge.out");
    const args = [
      s.mq.sqsEndpoint,
      s.mq.ddbEndpoint,
      site.ctx.queueUrls.events,
      `metaqueue-${site.config.name}`,
      victim,
      node,
      out,
    ].map((a) => JSON.stringify(a));
    const attacker = (
      await s.cli("qsub", ["-N", "attacker"], { input: `${process.execPath} ${forge} ${args.join(" ")}\n` })
    ).stdout.trim();
    await s.waitState(attacker, ["F"], 30_000);
    expect(await s.attr(attacker, "Exit_status")).toBe("0");
    const said = fs.readFileSync(out, "utf8");
    expect(said).toMatch(/^sent 3 beats [1-9]/); // the forger did reach the queue and the table
    expect(said).not.toMatch(/guess/);

    // Genuinely signed reports with the wrong scope, built here with the site's secret.
    const secret = fs.readFileSync(path.join(s.dir, "data", "mom-secret"), "utf8").trim();
    const other = node === "n1" ? "n2" : "n1";
    const send = (kind: "obit" | "hello", momId: string, body: unknown, at = Date.now()) =>
      site.sqs.send(
        new SendMessageCommand({
          QueueUrl: site.ctx.queueUrls.events,
          MessageBody: JSON.stringify({
            type: "mom",
            ...signReport(momKey(secret, momId), momId, kind, body, at),
          }),
        }),
      );
    const obit = (momId: string) => ({
      type: "obit",
      jobId: victim,
      runCount: 1,
      momId,
      exitStatus: 0,
      startedAt: 1,
      endedAt: 2,
      resourcesUsed: { walltime: 99999, cput: 1, mem: 1, ncpus: 1 },
    });
    // from n1's MOM about a job on n2
    await send("obit", `${other}:abc`, obit(`${other}:abc`));
    // from the right node, but signed 20 minutes ago
    await send("obit", `${node}:abc`, obit(`${node}:abc`), Date.now() - 20 * 60_000);
    // an older hello of the victim's node (a replay): must not mark its jobs lost
    await send("hello", `${node}:old`, { type: "hello", momId: `${node}:old`, node }, Date.now() - 60_000);

    for (let i = 0; i < 100 && !(m["MomReportsRefused|reason=replayed"] >= 1); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(await s.attr(victim, "job_state")).toBe("R");
    await s.waitState(victim, ["F"], 30_000);
    expect(await s.attr(victim, "Exit_status")).toBe("3");
    expect(await s.attr(victim, "run_count")).toBe("1");
    // charged what it used, not the forged 99999 s
    const full = JSON.parse((await s.cli("qstat", ["-x", "-f", "-F", "json", victim])).stdout).Jobs;
    const used = (Object.values(full)[0] as { resources_used: Record<string, string> }).resources_used;
    expect(used.walltime).toMatch(/^00:00:[0-5]\d$/);
    expect(m.JobsLost ?? 0).toBe(0);
    expect(m.JobsRequeued ?? 0).toBe(0);
    console.log(
      `mom forgery: refused ${JSON.stringify(Object.fromEntries(Object.entries(m).filter(([k]) => k.startsWith("MomReportsRefused"))))}`,
    );
    // unsigned obit, unsigned hello, made-up signature: 3 forged on the queue
    expect(m["MomReportsRefused|reason=forged"]).toBeGreaterThanOrEqual(3);
    expect(m["MomReportsRefused|reason=forged,kind=beat"]).toBeGreaterThanOrEqual(1);
    expect(m["MomReportsRefused|reason=misdirected"]).toBe(1);
    expect(m["MomReportsRefused|reason=stale"]).toBe(1);
    expect(m["MomReportsRefused|reason=replayed"]).toBe(1);
    // every forged one, and only those, reaches the alarm's metric (stale/misdirected/replayed do not)
    expect(m.MomForgeries).toBe(
      m["MomReportsRefused|reason=forged"] + m["MomReportsRefused|reason=forged,kind=beat"],
    );
  }, 120_000);
});
