/**
 * An OFFER hands over only queued jobs: the ready index it reads is eventually consistent, so a
 * job it lists may have started since. pinnedReason re-checks the full record: marking that one
 * T would be R -> T, which the state table forbids (the store would throw IllegalTransitionError
 * and fail the whole OFFER).
 */
import { describe, expect, it } from "vitest";
import { onOffer } from "../../../shared/peers/offers.js";
import type { JobRecord } from "../../../shared/server/job.js";
import { jobRecord } from "../../fixtures/job.js";
import { callCtx, makeFederation, Network, type Wire } from "./sim.js";

const offer = {
  type: "OFFER" as const,
  offerId: "o1",
  queue: "casper",
  into: "main",
  nodes: [{ ncpus: 64, mem: 2 ** 38, ngpus: 0 }],
  maxJobs: 1,
};

// needs 2 cores: casper's one node cannot run it, so it is one to hand over
const big = (): JobRecord =>
  jobRecord(1, {
    queue: "casper",
    rl: { ncpus: "2" },
    sel: [{ count: 1, ncpus: 2, mem: 0, ngpus: 0, mpiprocs: 1, other: {} }],
  });

async function setup(job: JobRecord) {
  const clock = { t: 1_000_000 };
  const [casper] = makeFederation(clock, new Network());
  await casper.store.createJob(job);
  const peer = casper.ctx.peers?.get("derecho");
  if (!peer) throw new Error("no peer");
  const out: Wire[] = [];
  return { casper, peer, out, ctx: callCtx(casper, out) };
}

describe("OFFER and the state table", () => {
  it("hands over a queued job (Q -> T)", async () => {
    const { casper, peer, out, ctx } = await setup(big());
    await onOffer(ctx, peer, offer);
    expect(casper.store.jobs.get("1")?.state).toBe("T");
    expect(out).toHaveLength(1);
  });

  it("leaves a job the ready index still lists as queued but that has started since", async () => {
    const queued = big();
    const { casper, peer, out, ctx } = await setup({ ...queued, state: "R", runCount: 1, ver: 1 });
    // the index as read a moment before the job started
    casper.store.queryReady = async () => [structuredClone(queued)];
    await onOffer(ctx, peer, offer);
    expect(casper.store.jobs.get("1")?.state).toBe("R");
    expect(out).toHaveLength(0);
  });
});
