/**
 * Issue 10: "A captured OFFER re-sent 40 s later moved 3 jobs to a full peer". On the real local
 * stack: capture a real OFFER that derecho sends to casper (by wrapping the SQS client's send),
 * let it be handled (it moves casper's overflow), then put the same bytes on casper's inbox
 * again, once within the window and once after it. Neither copy moves a job; both are counted
 * by reason (replayed, stale).
 */
import { SendMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCredentialFile } from "../../shared/auth/credential-file.js";
import { ConflictError } from "../../shared/errors.js";
import { parseConfig } from "../../shared/config/site-config.js";
import { rejectedPeerMessages } from "../../shared/peers/inbox.js";
import { forgetSeenMessages } from "../../shared/peers/replay.js";
import { type Stack, startStack } from "./helpers.js";

/** the stale window of this test: long enough for the first replay, short enough to wait out */
const WINDOW_MS = 15_000;

const config = parseConfig({
  defaultSite: "casper",
  sites: [
    {
      name: "casper",
      server: "casper-pbs",
      queues: [{ name: "casper" }],
      nodes: [{ name: "c1", ncpus: 1, mem: "4gb" }],
    },
    {
      name: "derecho",
      server: "desched1",
      queues: [{ name: "main" }],
      nodes: [{ name: "d1", ncpus: 4, mem: "8gb" }],
      federation: { pull: [{ queue: "main", from: "casper@casper-pbs" }] },
    },
  ],
});

let stack: Stack;
/** derecho's OFFERs to casper: blocked, except the one let through when armed */
const offers: { armed: boolean; captured?: { body: string; sentAt: number; at: number }; blocked: number } = {
  armed: false,
  blocked: 0,
};
let casperInbox: string;
let realSend: SQSClient["send"];
let sqs: SQSClient;

function isDerechoOffer(cmd: unknown): cmd is SendMessageCommand {
  if (!(cmd instanceof SendMessageCommand) || cmd.input.QueueUrl !== casperInbox) return false;
  try {
    const env = JSON.parse(cmd.input.MessageBody ?? "");
    return env.from === "derecho" && JSON.parse(env.body).type === "OFFER";
  } catch {
    return false;
  }
}

beforeAll(async () => {
  stack = await startStack(undefined, config, {
    tickMs: 300,
    settings: { offerIntervalMs: 200, transferResendMs: 1000, peerMessageMaxAgeMs: WINDOW_MS },
  });
  const derecho = stack.mq.sites.find((s) => s.config.name === "derecho");
  if (!derecho) throw new Error("no derecho");
  casperInbox = derecho.ctx.peers?.get("casper")?.inboxUrl as string;
  sqs = derecho.sqs;
  realSend = sqs.send.bind(sqs) as SQSClient["send"];
  // The wire between the sites, as an attacker with access to the queue sees it. Only OFFERs
  // from derecho are held back, so no genuine offer moves a job while the replays are judged.
  sqs.send = ((cmd: unknown, ...rest: unknown[]) => {
    if (isDerechoOffer(cmd)) {
      if (!offers.armed || offers.captured) {
        offers.blocked++;
        return Promise.resolve({});
      }
      const body = cmd.input.MessageBody as string;
      offers.captured = { body, sentAt: JSON.parse(body).sentAt, at: Date.now() };
    }
    return (realSend as (...a: unknown[]) => Promise<unknown>)(cmd, ...rest);
  }) as SQSClient["send"];
}, 90_000);
afterAll(async () => {
  if (sqs && realSend) sqs.send = realSend;
  await stack?.mq.stop();
});

async function qsub(args: string[], body: string): Promise<string> {
  const r = await stack.cli("qsub", args, { input: body });
  expect(r.stderr).toBe("");
  return r.stdout.trim();
}

async function until<T>(what: string, f: () => Promise<T | undefined> | T | undefined, ms = 30_000) {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

const casperMetrics = () => stack.mq.sites.find((s) => s.config.name === "casper")?.metrics.totals ?? {};
const rejected = (reason: string) => casperMetrics()[`PeerMessagesRejected|reason=${reason}`] ?? 0;
/** The job's state as casper stores it (qstat would follow a moved job to its peer). */
async function rawState(id: string): Promise<string> {
  const casper = stack.mq.sites.find((s) => s.config.name === "casper");
  const r = await fetch(`${casper?.url}/v1/jobs/${encodeURIComponent(id)}?history=true`, {
    headers: { authorization: `Bearer ${readCredentialFile(stack.credential)}` },
  });
  const body = (await r.json()) as { job: { attributes: Record<string, unknown> } };
  const a = body.job.attributes;
  // a moved job keeps its ID and shows the peer's live state: "M" here means it left casper
  return a.exec_site && a.exec_site !== "casper" ? "M" : String(a.job_state);
}
const states = (ids: string[]) => Promise.all(ids.map(rawState));

/** Put the captured bytes on casper's inbox as a new queue message; wait until it was judged. */
async function replay(reason: string, waiting: string[]): Promise<void> {
  const before = rejected(reason);
  const counted = rejectedPeerMessages[reason] ?? 0;
  await realSend(new SendMessageCommand({ QueueUrl: casperInbox, MessageBody: offers.captured?.body }));
  // either it is refused (counted), or it is taken and the waiting jobs start to move
  await until(`the replay judged (${reason})`, async () => {
    if (rejected(reason) > before) return true;
    return (await states(waiting)).some((s) => s !== "Q") || undefined;
  });
  expect(rejected(reason)).toBe(before + 1);
  expect(rejectedPeerMessages[reason]).toBe(counted + 1);
}

describe("replayed peer messages", () => {
  it("a captured OFFER re-sent within the window or after it moves no job, and both are counted", async () => {
    const fill = await qsub(
      ["-l", "select=1:ncpus=1", "-l", "walltime=00:05:00"],
      "#!/bin/bash\nsleep 300\n",
    );
    await stack.waitState(fill, ["R"]);
    const job = () => qsub(["-l", "select=1:ncpus=1", "-l", "walltime=00:05:00"], "#!/bin/bash\nsleep 1\n");
    const first = [await job(), await job()];
    // derecho's offers are held back: casper's overflow waits
    await until("an offer held back", () => offers.blocked > 0 || undefined);
    expect(await states(first)).toEqual(["Q", "Q"]);

    // One real OFFER goes through and is handled: it moves the overflow (so it is worth replaying).
    offers.armed = true;
    await until("the overflow moved", async () => (await states(first)).every((x) => x === "M") || undefined);
    const captured = offers.captured;
    if (!captured) throw new Error("no OFFER captured");

    // More overflow; derecho is offering nothing (held back). The copy is a new queue message
    // with the old signed ID, judged by the site table (the in-process record forgotten, as on
    // another Lambda instance or after a restart).
    const second = [await job(), await job()];
    expect(await states(second)).toEqual(["Q", "Q"]);
    forgetSeenMessages();
    await replay("replayed", second);
    expect(Date.now() - captured.sentAt).toBeLessThan(WINDOW_MS); // judged inside the window
    await new Promise((r) => setTimeout(r, 1000));
    expect(await states(second)).toEqual(["Q", "Q"]);

    // After the window the same bytes are stale (and the replay record may be gone by then).
    await until(
      "the window passed",
      () => Date.now() > captured.sentAt + WINDOW_MS + 500 || undefined,
      30_000,
    );
    forgetSeenMessages();
    await replay("stale", second);
    await new Promise((r) => setTimeout(r, 1000));
    expect(await states(second)).toEqual(["Q", "Q"]);
    for (const id of [fill, ...second]) await stack.cli("qdel", [id]);
  }, 120_000);

  it("the durable record on DynamoDB: the same delivery may claim again, another may not, until it expires", async () => {
    const store = stack.mq.sites.find((s) => s.config.name === "casper")?.ctx.store;
    if (!store) throw new Error("no casper store");
    const now = Date.now();
    const claim = (id: string, delivery: string, until: number) =>
      store.claimPeerMessage({ peer: "derecho", id, delivery, type: "OFFER", until }, now);
    const id = "a".repeat(32);
    await claim(id, "sqs-1", now + 60_000);
    // SQS redelivering the message whose handler was killed after the claim: taken again
    await claim(id, "sqs-1", now + 60_000);
    // another queue message with the same ID: a replay
    await expect(claim(id, "sqs-2", now + 60_000)).rejects.toBeInstanceOf(ConflictError);
    // a record past its end counts as gone even before TTL deletes it
    const old = "b".repeat(32);
    await claim(old, "sqs-3", now - 2_000);
    await claim(old, "sqs-4", now + 60_000);
  });
});
