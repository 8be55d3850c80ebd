/**
 * A moved job keeps the ID its origin gave it (issue 13, point 1), over the in-memory federation
 * (sim.ts): the receiver stores it under that ID, apart from its own job of the same number;
 * operations there by that ID reach it, not the other; and the origin lists it under the ID with
 * the state it has where it runs, then its end.
 */
import { describe, expect, it } from "vitest";
import { jobView } from "../../../shared/api/render.js";
import { forwardJob } from "../../../shared/peers/origin.js";
import { reportEnd, reportState } from "../../../shared/peers/receiver.js";
import { holdJob, releaseJob } from "../../../shared/server/ops.js";
import type { JobRecord } from "../../../shared/server/job.js";
import { jobRecord } from "../../fixtures/job.js";
import { queuedJob } from "./schedule.js";
import { callCtx, deliver, makeFederation, Network, type SimSite } from "./sim.js";

async function settle(sites: SimSite[], net: Network): Promise<void> {
  for (let i = 0; i < 100 && net.inflight.length; i++)
    await deliver(sites, net, net.inflight.shift() as (typeof net.inflight)[number], false);
}

describe("a moved job keeps its ID", () => {
  it("is stored at the receiver under its origin's ID, apart from the receiver's own job 1", async () => {
    const clock = { t: 1_000_000 };
    const net = new Network();
    const sites = makeFederation(clock, net);
    const [casper, derecho] = sites;
    // derecho's own job 1, and casper's job 1, which moves to derecho
    await derecho.store.createJob(jobRecord(1, { queue: "main", owner: "alice@host" }, "derecho"));
    await casper.store.createJob(queuedJob(casper, 1, clock.t));
    const peer = casper.ctx.peers?.get("derecho");
    if (!peer) throw new Error("no peer");
    const job = await casper.store.getJob("1");
    if (!job) throw new Error("no job");
    expect(await forwardJob(callCtx(casper, net.inflight), job, peer, "main", "test")).toBe(true);
    await settle(sites, net);

    const own = await derecho.store.getJob("1");
    const copy = await derecho.store.getJob("1@casper");
    expect(own?.id).toBe("1.derecho");
    expect(copy).toMatchObject({ id: "1.casper", state: "Q", inbound: { originId: "1.casper" } });
    // the ID at the origin: moved, listed under it, queued at the peer until it reports more
    const home = await casper.store.getJob("1");
    expect(home?.state).toBe("M");
    expect(jobView(home as NonNullable<typeof home>, casper.ctx.site)).toMatchObject({
      id: "1.casper",
      attributes: { job_state: "Q", exec_site: "derecho" },
    });

    // an operation at derecho by the origin's ID reaches the copy, never derecho's own job 1
    await holdJob(callCtx(derecho, net.inflight), "1.casper", {
      user: "root",
      privileged: true,
      manager: true,
    });
    expect((await derecho.store.getJob("1@casper"))?.state).toBe("H");
    expect((await derecho.store.getJob("1"))?.state).toBe("Q");

    // it starts at derecho: the origin lists it running there, under its ID
    await releaseJob(callCtx(derecho, net.inflight), "1.casper", {
      user: "root",
      privileged: true,
      manager: true,
    });
    const queued = (await derecho.store.getJob("1@casper")) as NonNullable<typeof copy>;
    const running = await derecho.store.updateJob(queued, {
      ...queued,
      state: "R",
      stime: clock.t,
      execHost: "d1/0",
    });
    await reportState(callCtx(derecho, net.inflight), running);
    await settle(sites, net);
    const live = await casper.store.getJob("1");
    expect(jobView(live as NonNullable<typeof live>, casper.ctx.site).attributes).toMatchObject({
      job_state: "R",
      server: "desched1",
      exec_site: "derecho",
      exec_host: "d1/0",
    });

    // and its end comes back under the same ID: finished, with its exit status
    await derecho.store.updateJob(running, {
      ...running,
      state: "F",
      exitStatus: 0,
      obittime: clock.t + 5000,
      used: { walltime: 5, cput: 5, mem: 1024, ncpus: 2 },
    });
    await reportEnd(
      callCtx(derecho, net.inflight),
      (await derecho.store.getJob("1@casper")) as typeof running,
    );
    await settle(sites, net);
    const done = await casper.store.getJob("1");
    expect(jobView(done as NonNullable<typeof done>, casper.ctx.site).attributes).toMatchObject({
      job_state: "F",
      Exit_status: 0,
    });
  });

  it("a received job moving on carries its key in the transfer ID (a second hop), and never comes home", async () => {
    const clock = { t: 1_000_000 };
    const net = new Network();
    const sites = makeFederation(clock, net);
    const [casper, derecho] = sites;
    await casper.store.createJob(queuedJob(casper, 1, clock.t));
    const toDerecho = casper.ctx.peers?.get("derecho");
    const toCasper = derecho.ctx.peers?.get("casper");
    if (!toDerecho || !toCasper) throw new Error("no peers");
    await forwardJob(
      callCtx(casper, net.inflight),
      (await casper.store.getJob("1")) as JobRecord,
      toDerecho,
      "main",
      "test",
    );
    await settle(sites, net);
    const copy = (await derecho.store.getJob("1@casper")) as JobRecord;
    expect(copy.state).toBe("Q");
    // derecho passes it on (here: back to casper, which refuses it: its own record holds that ID);
    // the FORWARD is well formed and the REJECT finds the job again by its transfer ID
    expect(await forwardJob(callCtx(derecho, net.inflight), copy, toCasper, "casper", "test")).toBe(true);
    expect((await derecho.store.getJob("1@casper"))?.xfer?.id).toMatch(/^derecho-1:casper-/);
    await settle(sites, net);
    const back = await derecho.store.getJob("1@casper");
    expect(back).toMatchObject({ id: "1.casper", state: "Q", refusedBy: ["casper"] });
    expect(back?.comment).toMatch(/was submitted here/);
    expect((await casper.store.getJob("1"))?.state).toBe("M");
  });
});
