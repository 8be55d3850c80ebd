/**
 * Issue 12: a job finished through the site's handlers (an obituary) carries its TTL, and the
 * API (qstat -x -f) shows it for job_history_duration (OpenPBS's two weeks by default, or what
 * qmgr set), then answers as for an unknown job, although the store still holds the item.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { keyOfId } from "../../../shared/server/mutate.js";
import { type MemorySite, memorySite, startJob } from "../../fixtures/memory-site.js";

let s: MemorySite;
beforeEach(async () => {
  s = await memorySite();
});

const enc = encodeURIComponent;

describe("job history expires", () => {
  it("two weeks after its end by default: qstat -x shows the job until then, then not", async () => {
    const j = await startJob(s, "alice");
    s.clock.advance(60_000);
    await s.obit(j.id, { exitStatus: 0, walltime: 60 });
    await s.settle();
    const endS = Math.floor(s.clock.now() / 1000);
    const done = await s.job(j.id);
    expect(done.state).toBe("F");
    // stamped by the end's write (the events handler's, not the test's)
    expect(done.expiresAt).toBeGreaterThanOrEqual(endS - 1 + 14 * 86_400);
    expect(done.expiresAt).toBeLessThanOrEqual(endS + 14 * 86_400);
    const show = () => s.api("GET", `/v1/jobs/${enc(j.id)}`, { as: "alice", query: { history: "1" } });
    s.clock.advance(13 * 86_400_000);
    expect((await show()).status).toBe(200);
    s.clock.advance(86_400_000 + 1_000);
    expect((await show()).status).toBe(404);
    // still in the store: only the reads left it out (DynamoDB deletes within days)
    expect((await s.store.getJob(keyOfId(j.id, "casper")))?.state).toBe("F");
  });

  it("what qmgr set as job_history_duration, for jobs ending from then on", async () => {
    await s.setAttrs("server", (await s.store.getServerObjects()).find((o) => o.kind === "server")!.name, {
      job_history_duration: "01:00:00",
    });
    const j = await startJob(s, "alice");
    await s.obit(j.id, { exitStatus: 0 });
    await s.settle();
    const show = () => s.api("GET", `/v1/jobs/${enc(j.id)}`, { as: "alice", query: { history: "1" } });
    s.clock.advance(3_500_000);
    expect((await show()).status).toBe(200);
    s.clock.advance(200_000);
    expect((await show()).status).toBe(404);
  });
});
