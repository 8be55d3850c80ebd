/**
 * `-W stagein/stageout` on the server (shared/server/staging.ts, job-end.ts, peers/origin.ts):
 * accepted for this host only, refused for an executor whose MOMs cannot reach the submit
 * host's files (ECS), handed to the MOM in the run spec, a failed stage-in holds the job (hold
 * s, PBS's STAGEFAIL) instead of ending it, once however often the obituary comes, and a job
 * with staging never leaves its site.
 */
import os from "node:os";
import { beforeEach, describe, expect, it } from "vitest";
import { pinnedReason } from "../../../shared/peers/origin.js";
import { type MemorySite, memorySite, startJob } from "../../fixtures/memory-site.js";

let s: MemorySite;
beforeEach(async () => {
  s = await memorySite();
});

const list = `in.dat@localhost:/data/in.dat,out@${os.hostname()}:/data/out`;

describe("stagein/stageout on the server", () => {
  it("reach the MOM in the run spec under PBS's names, whatever case the client used", async () => {
    const j = await startJob(s, "alice", "true\n", {
      attributes: { StageIn: list, stageout: "r@localhost:/d/r" },
    });
    expect(j.extra).toMatchObject({ stagein: list, stageout: "r@localhost:/d/r" });
    expect(j.extra?.StageIn).toBeUndefined();
    expect(s.executor.dispatched[0]).toMatchObject({ stagein: list, stageout: "r@localhost:/d/r" });
  });

  it("refuse another storage host, and any staging on an executor that cannot reach the files", async () => {
    await expect(
      s.submit("alice", "true\n", { attributes: { stagein: "a@elsewhere.example:/a" } }),
    ).rejects.toThrow(/storage host elsewhere.example is not this host/);
    (s.executor as { refusesStaging?: string }).refusesStaging = "jobs run in ECS tasks";
    await expect(s.submit("alice", "true\n", { attributes: { stageout: list } })).rejects.toThrow(
      /-W stageout: jobs run in ECS tasks/,
    );
  });

  it("a failed stage-in holds the job with the MOM's reason, once, and frees its node", async () => {
    const j = await startJob(s, "alice", "true\n", { attributes: { stagein: list } });
    const comment = "File stage in failed: /data/in.dat: No such file or directory";
    await s.obit(j.id, { exitStatus: -1, walltime: 0, comment, stageinFailed: true });
    await s.obit(j.id, { exitStatus: -1, walltime: 0, comment, stageinFailed: true });
    await s.settle();
    const held = await s.job(j.id);
    expect(held).toMatchObject({ state: "H", holds: "s", comment: `Job held: ${comment}` });
    expect(held.alloc).toBeUndefined();
    expect(held.exitStatus).toBeUndefined();
  });

  it("a job with staging stays at its site", async () => {
    const j = await startJob(s, "alice", "true\n", { attributes: { stagein: list } });
    expect(pinnedReason({ ...j, state: "Q" }, false)).toMatch(/stages files/);
  });
});
