/**
 * A job with `-W stagein/stageout` names paths of its own site: its origin never offers it
 * (pinnedReason), and a receiver refuses one that arrives anyway (an older origin, a forged
 * pick), so no MOM copies files under names meant for another site's file systems.
 */
import { describe, expect, it } from "vitest";
import { forwardJob, pinnedReason } from "../../../shared/peers/origin.js";
import { queuedJob } from "./schedule.js";
import { callCtx, deliver, makeFederation, Network } from "./sim.js";

describe("a job with staging stays at its site", () => {
  it("is pinned at the origin, and refused by a receiver it is forwarded to all the same", async () => {
    const clock = { t: 1_000_000 };
    const net = new Network();
    const sites = makeFederation(clock, net);
    const [casper, derecho] = sites;
    const job = { ...queuedJob(casper, 1, clock.t), extra: { StageIn: "in@localhost:/data/in" } };
    expect(pinnedReason({ ...job, extra: { stagein: "in@localhost:/data/in" } }, false)).toMatch(
      /stages files/,
    );
    await casper.store.createJob(job);
    const peer = casper.ctx.peers?.get("derecho");
    if (!peer) throw new Error("no peer");
    expect(await forwardJob(callCtx(casper, net.inflight), job, peer, "main", "test")).toBe(true);
    for (let i = 0; i < 100 && net.inflight.length; i++)
      await deliver(sites, net, net.inflight.shift() as (typeof net.inflight)[number], false);
    expect(await derecho.store.getJob("1@casper")).toBeUndefined();
    const home = await casper.store.getJob("1");
    expect(home?.state).toBe("Q");
    expect(home?.comment).toMatch(/stages files \(stagein\/stageout\) on its own site/);
  });
});
