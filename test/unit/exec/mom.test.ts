import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { MetaqueueError } from "../../../shared/errors.js";
import { Mom, type MomHeartbeat, type MomReporter } from "../../../shared/exec/index.js";
import type { Obituary } from "../../../shared/ports/index.js";
import { alive, makeSpec, read, tempDir, waitFor } from "./helpers.js";

const work = tempDir("momwork");
const tmpRoot = tempDir("momtmp");
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

class FakeReporter implements MomReporter {
  obits: Obituary[] = [];
  attempts = 0;
  beats: MomHeartbeat[] = [];
  constructor(private failFirst = 0) {}
  async obituary(o: Obituary): Promise<void> {
    this.attempts += 1;
    if (this.attempts <= this.failFirst) throw new Error("events queue unavailable");
    this.obits.push(o);
  }
  async heartbeat(h: MomHeartbeat): Promise<void> {
    this.beats.push(h);
  }
}

describe.concurrent("Mom", () => {
  it("runs a job once despite duplicate dispatches and reports its obituary", async () => {
    const reporter = new FakeReporter();
    const mom = new Mom({ momId: "node1", reporter, tmpRoot });
    const spec = makeSpec(work, "echo run >> $PBS_O_WORKDIR/dup.count.$PBS_JOBID; exit 4");
    mom.run(spec);
    mom.run(spec);
    expect(mom.running()).toEqual([{ jobId: spec.jobId, runCount: 1 }]);
    await waitFor(() => reporter.obits.length === 1);
    mom.run(spec); // late duplicate of a finished run
    await new Promise((r) => setTimeout(r, 200));
    expect(reporter.obits).toHaveLength(1);
    const o = reporter.obits[0];
    expect(o).toMatchObject({ type: "obit", momId: "node1", jobId: spec.jobId, runCount: 1, exitStatus: 4 });
    expect(read(path.join(work, `dup.count.${spec.jobId}`))).toBe("run\n");
    expect(mom.running()).toEqual([]);
    await mom.shutdown();
  });

  it("refuses a spec for another MOM", () => {
    const mom = new Mom({ momId: "node1", reporter: new FakeReporter(), tmpRoot });
    const spec = makeSpec(work, "true", { momId: "node2" });
    expect(() => mom.run(spec)).toThrow(MetaqueueError);
  });

  it("retries the obituary until the reporter takes it", async () => {
    const reporter = new FakeReporter(2);
    const mom = new Mom({ momId: "node1", reporter, tmpRoot });
    const spec = makeSpec(work, "exit 0");
    mom.run(spec);
    await waitFor(() => reporter.obits.length === 1, 3000);
    expect(reporter.attempts).toBe(3);
    expect(reporter.obits[0].jobId).toBe(spec.jobId);
    await mom.shutdown();
  });

  it("beats heartbeats listing the running jobs, and kills on request", async () => {
    const reporter = new FakeReporter();
    const mom = new Mom({ momId: "node1", reporter, tmpRoot, heartbeatEveryMs: 100 });
    const spec = makeSpec(work, "sleep 30");
    mom.run(spec);
    mom.start();
    expect(reporter.beats).toHaveLength(1);
    // each beat carries the run's usage so far (the sweeper turns it into resources_used)
    expect(reporter.beats[0].jobs).toEqual([
      {
        jobId: spec.jobId,
        runCount: 1,
        used: { walltime: expect.any(Number), cput: expect.any(Number), mem: expect.any(Number) },
      },
    ]);
    await waitFor(() => reporter.beats.length >= 3);
    expect(mom.kill(spec.jobId, 2, "qdel")).toBe(false);
    expect(mom.kill(spec.jobId, 1, "qdel")).toBe(true);
    await waitFor(() => reporter.obits.length === 1);
    expect(reporter.obits[0]).toMatchObject({ exitStatus: 271, killedFor: "qdel" });
    const n = reporter.beats.length;
    await waitFor(() => reporter.beats.length > n);
    expect(reporter.beats.at(-1)!.jobs).toEqual([]);
    await mom.shutdown();
    const after = reporter.beats.length;
    await new Promise((r) => setTimeout(r, 250));
    expect(reporter.beats.length).toBe(after);
  });

  it("with no job it beats only every idleHeartbeatEveryMs; a job brings back heartbeatEveryMs", async () => {
    const reporter = new FakeReporter();
    const mom = new Mom({
      momId: "node1",
      reporter,
      tmpRoot,
      heartbeatEveryMs: 100,
      idleHeartbeatEveryMs: 60_000,
    });
    mom.start();
    expect(reporter.beats).toHaveLength(1);
    await new Promise((r) => setTimeout(r, 600));
    // idle: ~5 timer ticks, no beat
    expect(reporter.beats).toHaveLength(1);
    const spec = makeSpec(work, "sleep 30");
    mom.run(spec);
    await waitFor(() => reporter.beats.length >= 4);
    expect(reporter.beats.at(-1)!.jobs.map((j) => j.jobId)).toEqual([spec.jobId]);
    expect(mom.kill(spec.jobId, 1, "qdel")).toBe(true);
    await waitFor(() => reporter.obits.length === 1);
    await new Promise((r) => setTimeout(r, 300));
    const n = reporter.beats.length;
    await new Promise((r) => setTimeout(r, 500));
    expect(reporter.beats.length).toBe(n);
    await mom.shutdown();
  });

  it("shutdown kills every job and sends no obituary", async () => {
    const reporter = new FakeReporter();
    const mom = new Mom({ momId: "node1", reporter, tmpRoot });
    const pidFile = path.join(work, "shutdown.pid");
    const spec = makeSpec(work, `trap '' TERM\nsleep 30 & echo $! > ${pidFile}\nwait`, { killDelay: 60 });
    mom.run(spec);
    await waitFor(() => fs.existsSync(pidFile) && read(pidFile).trim() !== "");
    const sleeper = Number(read(pidFile));
    const t0 = Date.now();
    await mom.shutdown();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(alive(sleeper)).toBe(false);
    expect(mom.running()).toEqual([]);
    await new Promise((r) => setTimeout(r, 200));
    expect(reporter.obits).toEqual([]);
    expect(() => mom.run(makeSpec(work, "true"))).toThrow(MetaqueueError);
  });
});
