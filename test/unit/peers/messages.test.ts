import { describe, expect, it } from "vitest";
import { openPeerMessage, PeerMessageError, sealPeerMessage } from "../../../shared/peers/messages.js";

const secrets: Record<string, string> = { derecho: "s3cret" };
const body = {
  type: "DEPEND_REGISTER" as const,
  parentId: "1.derecho",
  childId: "2.casper",
  depType: "afterok",
};

function reason(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (err instanceof PeerMessageError) return err.reason;
    throw err;
  }
  return "accepted";
}

describe("peer message signing", () => {
  it("accepts a message signed by a configured peer", () => {
    const raw = sealPeerMessage("derecho", "casper", "s3cret", body, 1);
    expect(openPeerMessage(raw, "casper", (p) => secrets[p])).toEqual({ from: "derecho", body });
  });

  it("rejects unknown senders, wrong keys, tampering, misdelivery and junk", () => {
    const raw = sealPeerMessage("derecho", "casper", "s3cret", body, 1);
    expect(
      reason(() =>
        openPeerMessage(sealPeerMessage("evil", "casper", "x", body, 1), "casper", (p) => secrets[p]),
      ),
    ).toBe("unknown-peer");
    expect(
      reason(() =>
        openPeerMessage(sealPeerMessage("derecho", "casper", "wrong", body, 1), "casper", (p) => secrets[p]),
      ),
    ).toBe("bad-signature");
    const tampered = raw.replace("2.casper", "3.casper");
    expect(reason(() => openPeerMessage(tampered, "casper", (p) => secrets[p]))).toBe("bad-signature");
    expect(reason(() => openPeerMessage(raw, "other", (p) => secrets[p]))).toBe("wrong-receiver");
    expect(reason(() => openPeerMessage("{not json", "casper", (p) => secrets[p]))).toBe("malformed");
    const extra = JSON.stringify({ ...JSON.parse(raw), more: 1 });
    expect(reason(() => openPeerMessage(extra, "casper", (p) => secrets[p]))).toBe("malformed");
  });
});
