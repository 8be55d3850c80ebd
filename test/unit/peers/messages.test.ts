import { describe, expect, it } from "vitest";
import { handlePeerMessage } from "../../../shared/peers/inbox.js";
import {
  type FreshnessWindow,
  openPeerMessage,
  PeerMessageError,
  sealPeerMessage,
} from "../../../shared/peers/messages.js";
import { forgetSeenMessages } from "../../../shared/peers/replay.js";
import { makeFederation, Network } from "./sim.js";

const secrets: Record<string, string> = { derecho: "s3cret" };
const body = {
  type: "DEPEND_REGISTER" as const,
  parentId: "1.derecho",
  childId: "2.casper",
  depType: "afterok",
};
const T0 = 1_700_000_000_000;
const win: FreshnessWindow = {
  now: T0,
  maxAgeMs: 600_000,
  commandMaxAgeMs: 600_000,
  maxFutureMs: 60_000,
};
const open = (raw: string, me = "casper", w = win) => openPeerMessage(raw, me, (p) => secrets[p], w);

async function reasonOf(fn: () => unknown): Promise<string> {
  try {
    await fn();
  } catch (err) {
    if (err instanceof PeerMessageError) return err.reason;
    throw err;
  }
  return "accepted";
}
function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof PeerMessageError) return err.reason;
    throw err;
  }
  return "accepted";
}

/** Re-sign nothing: change one field of a sealed envelope as an attacker on the queue would. */
function edit(raw: string, change: Record<string, unknown>): string {
  return JSON.stringify({ ...JSON.parse(raw), ...change });
}

describe("peer message signing", () => {
  it("accepts a message signed by a configured peer, with its signed ID and send time", () => {
    const raw = sealPeerMessage("derecho", "casper", "s3cret", body, T0, "ab".repeat(16));
    expect(open(raw)).toEqual({
      from: "derecho",
      body,
      id: "ab".repeat(16),
      sentAt: T0,
      validUntil: T0 + 600_000,
    });
    // every message gets a new 128-bit ID
    const a = JSON.parse(sealPeerMessage("derecho", "casper", "s3cret", body, T0));
    const b = JSON.parse(sealPeerMessage("derecho", "casper", "s3cret", body, T0));
    expect(a.id).toMatch(/^[0-9a-f]{32}$/);
    expect(a.id).not.toBe(b.id);
  });

  it("rejects unknown senders, wrong keys, tampering, misdelivery and junk", () => {
    const raw = sealPeerMessage("derecho", "casper", "s3cret", body, T0);
    expect(reason(() => open(sealPeerMessage("evil", "casper", "x", body, T0)))).toBe("unknown-peer");
    expect(reason(() => open(sealPeerMessage("derecho", "casper", "wrong", body, T0)))).toBe("bad-signature");
    const tampered = raw.replace("2.casper", "3.casper");
    expect(reason(() => open(tampered))).toBe("bad-signature");
    expect(reason(() => open(raw, "other"))).toBe("wrong-receiver");
    expect(reason(() => open("{not json"))).toBe("malformed");
    expect(reason(() => open(edit(raw, { more: 1 })))).toBe("malformed");
  });

  it("signs the send time and the ID: changing either breaks the signature", () => {
    const raw = sealPeerMessage("derecho", "casper", "s3cret", body, T0 - 500_000);
    expect(reason(() => open(raw))).toBe("accepted");
    // a captured message made to look recent, or made to look like another message
    expect(reason(() => open(edit(raw, { sentAt: T0 })))).toBe("bad-signature");
    expect(reason(() => open(edit(raw, { id: "0".repeat(32) })))).toBe("bad-signature");
  });

  it("refuses the old envelope (v1: sentAt and no ID unsigned)", () => {
    const raw = JSON.parse(sealPeerMessage("derecho", "casper", "s3cret", body, T0));
    const { id: _id, ...v1 } = raw;
    expect(reason(() => open(JSON.stringify({ ...v1, v: 1 })))).toBe("malformed");
  });

  it("refuses stale messages and messages from the future, by the window it is given", () => {
    const at = (sentAt: number, w = win) =>
      reason(() => open(sealPeerMessage("derecho", "casper", "s3cret", body, sentAt), "casper", w));
    expect(at(T0 - 600_000)).toBe("accepted"); // exactly at the edge
    expect(at(T0 - 600_001)).toBe("stale");
    expect(at(T0 + 60_000)).toBe("accepted"); // clock skew allowed
    expect(at(T0 + 60_001)).toBe("stale");
    // the window is a setting: a short one refuses what the long one took
    expect(at(T0 - 5_000, { ...win, maxAgeMs: 4_000, commandMaxAgeMs: 4_000 })).toBe("stale");
    expect(at(T0 - 5_000, { ...win, maxFutureMs: 0 })).toBe("accepted");
    expect(at(T0 + 1, { ...win, maxFutureMs: 0 })).toBe("stale");
  });

  it("gives messages nobody re-sends (DEPEND_*, JOB_OP) the command window, the rest the short one", () => {
    const w = { ...win, maxAgeMs: 1_000, commandMaxAgeMs: 3_600_000 };
    const old = T0 - 60_000;
    const seal = (b: Parameters<typeof sealPeerMessage>[3]) =>
      sealPeerMessage("derecho", "casper", "s3cret", b, old);
    expect(reason(() => open(seal(body), "casper", w))).toBe("accepted");
    expect(reason(() => open(seal({ type: "HEARTBEAT", state: "active" }), "casper", w))).toBe("stale");
    expect(
      reason(() =>
        open(
          seal({
            type: "OFFER",
            offerId: "o1",
            queue: "casper",
            into: "main",
            nodes: [{ ncpus: 1, mem: 0, ngpus: 0 }],
            maxJobs: 1,
          }),
          "casper",
          w,
        ),
      ),
    ).toBe("stale");
  });
});

describe("replayed peer messages", () => {
  function casperOf(settings: Partial<import("../../../shared/server/settings.js").SiteSettings> = {}) {
    const clock = { t: T0 };
    const sites = makeFederation(clock, new Network());
    const casper = sites[0];
    casper.ctx.settings = { ...casper.ctx.settings, ...settings };
    return { clock, casper };
  }
  const beat = (state: "active" | "down", at: number, id?: string) =>
    sealPeerMessage("derecho", "casper", "s3cret", { type: "HEARTBEAT", state }, at, id);

  it("takes a message once: the same queue message again is processed, another copy is refused", async () => {
    const { clock, casper } = casperOf();
    const raw = beat("active", clock.t);
    await handlePeerMessage(casper.ctx, raw, "sqs-1");
    expect(casper.store.peers.get("derecho")?.state).toBe("active");
    // SQS redelivers the same message (its handler crashed): processed again
    await handlePeerMessage(casper.ctx, raw, "sqs-1");
    // the peer goes down; a captured "active" beat re-sent within the window is refused
    clock.t += 30_000;
    await handlePeerMessage(casper.ctx, beat("down", clock.t), "sqs-2");
    expect(await reasonOf(() => handlePeerMessage(casper.ctx, raw, "sqs-3"))).toBe("replayed");
    expect(casper.store.peers.get("derecho")?.state).toBe("down");
    // and after the window it is stale
    clock.t += 600_000;
    expect(await reasonOf(() => handlePeerMessage(casper.ctx, raw, "sqs-4"))).toBe("stale");
  });

  it("refuses a replay of a durable type after a restart (a new process, an empty LRU)", async () => {
    const { clock, casper } = casperOf();
    const raw = beat("active", clock.t);
    await handlePeerMessage(casper.ctx, raw, "sqs-1");
    forgetSeenMessages();
    expect(await reasonOf(() => handlePeerMessage(casper.ctx, raw, "sqs-2"))).toBe("replayed");
    // the record names the delivery that took it, and lives until the message's window ends
    const claim = [...casper.store.claims.values()][0];
    expect(claim).toEqual({ delivery: "sqs-1", until: clock.t + 600_000 });
    // a redelivery of the first queue message is still processed after the restart
    forgetSeenMessages();
    expect(await reasonOf(() => handlePeerMessage(casper.ctx, raw, "sqs-1"))).toBe("accepted");
  });

  it("keeps no durable record for the outbox's messages, only the in-process one", async () => {
    const { clock, casper } = casperOf();
    const raw = sealPeerMessage(
      "derecho",
      "casper",
      "s3cret",
      { type: "JOB_END_ACK", transferId: "casper-1-abc", newId: "1.derecho" },
      clock.t,
    );
    await handlePeerMessage(casper.ctx, raw, "sqs-1");
    expect(await reasonOf(() => handlePeerMessage(casper.ctx, raw, "sqs-2"))).toBe("replayed");
    expect(casper.store.claims.size).toBe(0);
  });

  it("uses the window from the settings", async () => {
    const { clock, casper } = casperOf({ peerMessageMaxAgeMs: 2_000 });
    const raw = beat("active", clock.t);
    clock.t += 2_001;
    expect(await reasonOf(() => handlePeerMessage(casper.ctx, raw, "sqs-1"))).toBe("stale");
    const ahead = beat("active", clock.t + 61_000);
    expect(await reasonOf(() => handlePeerMessage(casper.ctx, ahead, "sqs-2"))).toBe("stale");
    casper.ctx.settings = { ...casper.ctx.settings, peerClockSkewMs: 120_000 };
    expect(await reasonOf(() => handlePeerMessage(casper.ctx, ahead, "sqs-3"))).toBe("accepted");
  });

  it("processes the redelivery of a message whose handler failed after the claim (crash safety)", async () => {
    const { clock, casper } = casperOf();
    const raw = beat("down", clock.t);
    const put = casper.store.putPeerSeen.bind(casper.store);
    casper.store.putPeerSeen = async () => {
      throw new Error("killed between the claim and the effect");
    };
    await expect(handlePeerMessage(casper.ctx, raw, "sqs-1")).rejects.toThrow(/killed/);
    expect(casper.store.claims.size).toBe(1); // claimed, effect not applied
    casper.store.putPeerSeen = put;
    forgetSeenMessages(); // the process was killed: its memory is gone
    // a replay racing the redelivery is refused; SQS's redelivery (same MessageId) is applied
    expect(await reasonOf(() => handlePeerMessage(casper.ctx, raw, "sqs-2"))).toBe("replayed");
    expect(await reasonOf(() => handlePeerMessage(casper.ctx, raw, "sqs-1"))).toBe("accepted");
    expect(casper.store.peers.get("derecho")?.state).toBe("down");
  });
});
