/**
 * A peer's BACKLOG (its jobs wait) is answered with an OFFER of this site's room at once, through
 * the real inbox and scheduler handlers, even when the room was offered under offerIntervalMs
 * before. A cycle that leaves room offers it at most once per interval (every cycle would offer
 * it again, and a second offer of one room hands over nothing more), and the interval used to
 * hold back the BACKLOG's answer too: a job submitted at a full origin just after a job ended
 * here waited for this site's next tick (2 s locally, a minute on AWS) to be pulled
 * (bench/transfer.ts: the transfer latency's p99).
 */
import { describe, expect, it } from "vitest";
import { makeInboxHandler } from "../../../lambdas/handlers.js";
import { type PeerBody, sealPeerMessage } from "../../../shared/peers/messages.js";
import { PeerPacing } from "../../../shared/peers/pacing.js";
import { triggerCycles } from "../../../shared/server/messages.js";
import { DEFAULT_PARTITION } from "../../../shared/server/objects.js";
import { memorySite } from "../../fixtures/memory-site.js";

const DERECHO = {
  sites: [
    {
      name: "derecho",
      server: "desched1",
      queues: [{ name: "main" }],
      nodes: [{ name: "d1", ncpus: 16, mem: "64gb" }],
    },
  ],
};
const SECRET = "casper-derecho-secret";

async function derecho() {
  const site = await memorySite({ config: DERECHO, settings: { offerIntervalMs: 100 } });
  site.ctx.peers = new Map([
    [
      "casper",
      {
        server: "casper-pbs",
        short: "casper",
        inboxUrl: "casper-inbox",
        secret: SECRET,
        pull: [{ queue: "casper", into: "main" }],
      },
    ],
  ]);
  site.ctx.pacing = new PeerPacing();
  /** what derecho sent casper since the last look */
  const sent = () =>
    site.bus.take("casper-inbox").map((m) => JSON.parse(JSON.parse(m.body).body) as PeerBody);
  const cycle = async () => {
    await triggerCycles(site.ctx, [DEFAULT_PARTITION], "test");
    expect(await site.runScheduler()).toEqual([]);
  };
  const backlog = async () => {
    const body = sealPeerMessage(
      "casper",
      site.ctx.site.short,
      SECRET,
      { type: "BACKLOG", queues: ["casper"] },
      site.clock.now(),
    );
    const res = await makeInboxHandler(site.ctx)({
      Records: [{ messageId: `b${site.clock.now()}`, body } as never],
    });
    expect(res.batchItemFailures).toEqual([]);
    expect(await site.runScheduler()).toEqual([]);
  };
  return { site, sent, cycle, backlog };
}

describe("a peer's BACKLOG and the offer interval", () => {
  it("a cycle that leaves room offers it once per interval", async () => {
    const { site, sent, cycle } = await derecho();
    await cycle();
    expect(sent().map((b) => b.type)).toEqual(["OFFER"]);
    site.clock.advance(20);
    await cycle();
    expect(sent()).toEqual([]);
    site.clock.advance(100);
    await cycle();
    expect(sent().map((b) => b.type)).toEqual(["OFFER"]);
  });

  it("a BACKLOG 20 ms after an offer of the same room is answered with an OFFER now", async () => {
    const { site, sent, cycle, backlog } = await derecho();
    await cycle();
    expect(sent().map((b) => b.type)).toEqual(["OFFER"]);
    site.clock.advance(20);
    await backlog();
    const [offer, ...more] = sent();
    expect(more).toEqual([]);
    expect(offer).toMatchObject({ type: "OFFER", queue: "casper", into: "main", maxJobs: 16 });
  });

  it("a BACKLOG for a queue this site does not pull asks for nothing", async () => {
    const { site, sent, backlog } = await derecho();
    const casper = site.ctx.peers?.get("casper");
    if (casper) casper.pull = [];
    await backlog();
    expect(sent()).toEqual([]);
    expect(site.bus.take(site.ctx.queueUrls.sched)).toEqual([]);
  });
});
