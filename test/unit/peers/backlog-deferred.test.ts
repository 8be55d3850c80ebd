/**
 * A BACKLOG held back by the offer interval goes with a delay instead of being dropped
 * (shared/peers/offers.ts sendBacklog). The case: a BACKLOG's answer pulls the jobs waiting when
 * it arrives; a job queued just after (two qsubs 50 ms apart, the first moved) left a cycle whose
 * BACKLOG the interval dropped, and that job waited for this site's next tick (a minute on AWS)
 * or the peer's next offer. One delayed BACKLOG a peer is in flight at a time, so the extra
 * messages are bounded.
 */
import { describe, expect, it } from "vitest";
import type { PeerBody } from "../../../shared/peers/messages.js";
import { sendBacklog } from "../../../shared/peers/offers.js";
import { PeerPacing } from "../../../shared/peers/pacing.js";
import { triggerCycles } from "../../../shared/server/messages.js";
import { releaseJob } from "../../../shared/server/ops.js";
import { DEFAULT_PARTITION } from "../../../shared/server/objects.js";
import { memorySite } from "../../fixtures/memory-site.js";

async function casper() {
  const site = await memorySite({ settings: { offerIntervalMs: 100 } });
  site.ctx.peers = new Map([
    ["derecho", { server: "desched1", short: "derecho", inboxUrl: "derecho-inbox", secret: "s", pull: [] }],
  ]);
  site.ctx.pacing = new PeerPacing();
  /** the BACKLOGs derecho's inbox hands out now: the queues each names */
  const received = () =>
    site.bus
      .take("derecho-inbox")
      .map((m) => JSON.parse(JSON.parse(m.body).body) as PeerBody)
      .map((b) => (b.type === "BACKLOG" ? b.queues : b.type));
  /** a scheduling cycle of the default partition, as a trigger starts one */
  const cycle = async () => {
    await triggerCycles(site.ctx, [DEFAULT_PARTITION], "test");
    await site.runScheduler();
  };
  return { site, received, cycle, held: () => site.bus.delayed("derecho-inbox") };
}

describe("a BACKLOG within the offer interval", () => {
  it("goes after the interval, with a delay, instead of being dropped", async () => {
    const { site, received, held } = await casper();
    await sendBacklog(site.ctx, ["workq"]);
    expect(received()).toEqual([["workq"]]);
    site.clock.advance(30);
    await sendBacklog(site.ctx, ["workq"]);
    expect(received()).toEqual([]);
    expect(held()).toBe(1);
    // SQS delays by whole seconds: the peer gets it 1 s later, not at this site's next tick
    site.clock.advance(999);
    expect(received()).toEqual([]);
    site.clock.advance(1);
    expect(received()).toEqual([["workq"]]);
  });

  it("keeps one delayed BACKLOG a peer in flight, naming every queue held back", async () => {
    const { site, received, held } = await casper();
    await sendBacklog(site.ctx, ["workq"]);
    received();
    site.clock.advance(10);
    await sendBacklog(site.ctx, ["workq"]);
    site.clock.advance(10);
    // the same queue again: the delayed one covers it
    await sendBacklog(site.ctx, ["workq"]);
    expect(held()).toBe(1);
    // a queue it does not name: one more, naming both
    site.clock.advance(10);
    await sendBacklog(site.ctx, ["big"]);
    expect(held()).toBe(2);
    site.clock.advance(1_000);
    expect(received()).toEqual([["workq"], ["workq", "big"]]);
    // past the interval: undelayed again
    await sendBacklog(site.ctx, ["workq"]);
    expect(received()).toEqual([["workq"]]);
    expect(held()).toBe(0);
  });

  it("is deferred by a cycle only for a job queued since the last BACKLOG went", async () => {
    const { site, received, held, cycle } = await casper();
    // both nodes taken: what comes next waits
    await site.submit("alice", "sleep 1000\n", { resources: { select: "2:ncpus=4" } });
    await cycle();
    await site.submit("alice", "true\n");
    await cycle();
    expect(received()).toEqual([["casper"]]);
    // 30 ms later, the same waiting job: its BACKLOG went, nothing is deferred
    site.clock.advance(30);
    await cycle();
    expect([received(), held()]).toEqual([[], 0]);
    // a job queued since: its cycle's BACKLOG is held back by the interval, and deferred
    await site.submit("alice", "true\n");
    await cycle();
    expect([received(), held()]).toEqual([[], 1]);
    site.clock.advance(1_000);
    expect(received()).toEqual([["casper"]]);
  });

  it("is deferred for a job released from a hold since the last BACKLOG, however old its qtime", async () => {
    const { site, received, held, cycle } = await casper();
    await site.submit("alice", "sleep 1000\n", { resources: { select: "2:ncpus=4" } });
    const old = await site.submit("alice", "true\n", { hold: true });
    await site.submit("alice", "true\n");
    await cycle();
    expect(received()).toEqual([["casper"]]);
    // the held job was queued before that BACKLOG went; released 30 ms after it, it is new to
    // the peers (eligible since: PBS's etime), and its cycle's BACKLOG is deferred, not dropped
    site.clock.advance(30);
    await releaseJob(site.ctx, old, site.actor("alice"));
    expect((await site.job(old)).etime).toBe(site.clock.now());
    await cycle();
    expect([received(), held()]).toEqual([[], 1]);
    site.clock.advance(1_000);
    expect(received()).toEqual([["casper"]]);
  });
});
