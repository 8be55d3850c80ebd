/**
 * A MOM starting on a node finds what earlier MOMs left in runs/ (pbs_mom -p): obituaries not
 * known to be delivered are sent again, runs that ended while no MOM watched are reported from
 * their status file, live runs are adopted (and end normally), vanished ones are reported killed.
 */
import { spawn } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Mom, type MomHeartbeat, type MomReporter } from "../../../shared/exec/index.js";
import { procStart, type RunRecord, runDirOf, writeRunRecord } from "../../../shared/exec/run-dir.js";
import type { Obituary } from "../../../shared/ports/index.js";
import { makeSpec, tempDir, waitFor } from "./helpers.js";

const work = tempDir("recwork");
afterAll(() => fs.rmSync(work, { recursive: true, force: true }));

class Reporter implements MomReporter {
  obits: Obituary[] = [];
  beats: MomHeartbeat[] = [];
  onObit?: (o: Obituary) => void;
  async obituary(o: Obituary): Promise<void> {
    this.onObit?.(o);
    this.obits.push(o);
  }
  async heartbeat(h: MomHeartbeat): Promise<void> {
    this.beats.push(h);
  }
}

function record(
  tmpRoot: string,
  jobId: string,
  over: Partial<RunRecord> = {},
): { dir: string; rec: RunRecord } {
  const dir = runDirOf(tmpRoot, jobId, 1);
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const rec: RunRecord = {
    jobId,
    runCount: 1,
    momId: "n1:old",
    pid: 0,
    startedAt: Date.now() - 5000,
    killDelay: 1,
    ncpus: 1,
    jobDir: path.join(tmpRoot, `${jobId}.1`),
    ...over,
  };
  writeRunRecord(dir, rec);
  return { dir, rec };
}

describe("Mom.recover", () => {
  it("re-sends, reports, adopts and reports killed what an earlier MOM left", async () => {
    const tmpRoot = tempDir("rectmp");
    // a: an obituary written (maybe delivered) before the crash
    const a = record(tmpRoot, "1.casper");
    const obitA: Obituary = {
      type: "obit",
      momId: "n1:old",
      jobId: "1.casper",
      runCount: 1,
      exitStatus: 4,
      startedAt: 1,
      endedAt: 2,
      resourcesUsed: { walltime: 1, cput: 0, mem: 0, ncpus: 1 },
    };
    fs.writeFileSync(path.join(a.dir, "obit.json"), JSON.stringify(obitA));
    fs.writeFileSync(path.join(a.dir, "sent"), "1");
    // b: ended while no MOM watched: the launcher wrote its status
    const b = record(tmpRoot, "2.casper");
    fs.writeFileSync(path.join(b.dir, "status"), "pid 1\n3 0\n0m0.001s 0m0.000s\n0m2.400s 0m0.000s\n");
    // c: still running: a launcher that writes its status at its end, like the real one
    const c = record(tmpRoot, "3.casper", { walltime: 60 });
    const fd = fs.openSync(path.join(c.dir, "status"), "w", 0o600);
    const child = spawn("/bin/bash", ["-c", 'echo "pid $$" >&3; sleep 1.5; echo "0 0" >&3; times >&3'], {
      detached: true,
      stdio: ["ignore", "ignore", "ignore", fd],
    });
    fs.closeSync(fd);
    child.unref();
    const pid = child.pid as number;
    writeRunRecord(c.dir, { ...c.rec, pid, pidStart: procStart(pid)?.start });
    // d: its launcher is gone without a status (killed while no MOM watched)
    record(tmpRoot, "4.casper", { pid: 999_999_999 });
    // e: the MOM died right after writing the record, before the launcher ran: never started,
    // so not reported (the server requeues it); and a directory without a record at all
    const e = record(tmpRoot, "5.casper");
    fs.writeFileSync(path.join(e.dir, "status"), "");
    fs.mkdirSync(runDirOf(tmpRoot, "6.casper", 1));

    const reporter = new Reporter();
    const mom = new Mom({ momId: "n1:new", reporter, tmpRoot, sampleEveryMs: 100 });
    const got = mom.recover();
    const ids = (l: { jobId: string }[]) => l.map((r) => r.jobId).sort();
    expect(ids(got.ended)).toEqual(["1.casper", "2.casper", "4.casper"]);
    expect(ids(got.running)).toEqual(["3.casper"]);
    expect(mom.running()).toEqual([{ jobId: "3.casper", runCount: 1 }]);
    expect(fs.existsSync(e.dir)).toBe(false);
    expect(fs.existsSync(runDirOf(tmpRoot, "6.casper", 1))).toBe(false);
    await waitFor(() => reporter.obits.length === 4, 10_000);
    const by = new Map(reporter.obits.map((o) => [o.jobId, o]));
    // every report comes from the new MOM (it signs them)
    expect(new Set(reporter.obits.map((o) => o.momId))).toEqual(new Set(["n1:new"]));
    expect(by.get("1.casper")?.exitStatus).toBe(4);
    expect(by.get("2.casper")).toMatchObject({ exitStatus: 3, resourcesUsed: { cput: 2 } });
    expect(by.get("3.casper")?.exitStatus).toBe(0);
    expect(by.get("4.casper")?.exitStatus).toBe(256 + 9);
    expect(by.get("4.casper")?.comment).toMatch(/without a status/);
    // each end is on disk before it was reported, and marked delivered after
    for (const j of ["1.casper", "2.casper", "3.casper", "4.casper"])
      expect(fs.existsSync(path.join(runDirOf(tmpRoot, j, 1), "sent"))).toBe(true);
    await mom.shutdown();
  });

  it("writes obit.json before sending, and prunes delivered ones only once settled", async () => {
    const tmpRoot = tempDir("rectmp2");
    const reporter = new Reporter();
    let settled = false;
    reporter.onObit = (o) => {
      // durable first: a crash from here on cannot lose the end
      expect(fs.existsSync(path.join(runDirOf(tmpRoot, o.jobId, o.runCount), "obit.json"))).toBe(true);
    };
    const r2: MomReporter = {
      obituary: (o) => reporter.obituary(o),
      heartbeat: (h) => reporter.heartbeat(h),
      settled: async () => settled,
    };
    const mom = new Mom({ momId: "node1", reporter: r2, tmpRoot, keepSentMs: 0 });
    const spec = makeSpec(work, "exit 2");
    mom.run(spec);
    await waitFor(() => reporter.obits.length === 1);
    const dir = runDirOf(tmpRoot, spec.jobId, 1);
    await waitFor(() => fs.existsSync(path.join(dir, "sent")));
    await new Promise((r) => setTimeout(r, 5));
    await mom.prune();
    expect(fs.existsSync(dir)).toBe(true);
    settled = true;
    await mom.prune();
    expect(fs.existsSync(dir)).toBe(false);
    await mom.shutdown();
  });
});
