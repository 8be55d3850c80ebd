/**
 * How a MOM opens a job's output files (run-job.ts openOutputs): regular files only, never
 * through a link, never blocking on a FIFO, /dev/null as "discard", and what it could not
 * deliver kept under undelivered/ with a comment and reported in the obituary.
 */
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as path from "node:path";
import { Worker } from "node:worker_threads";
import { afterAll, describe, expect, it } from "vitest";
import { openOutputFile, openOutputs, startJob } from "../../../shared/exec/index.js";
import { lookupOsUser } from "../../../shared/auth/os-user.js";
import { makeSpec, read, tempDir } from "./helpers.js";

const work = tempDir("outputs");
const tmpRoot = tempDir("outputs-moms");
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

const O_NONBLOCK = fs.constants.O_NONBLOCK;

/** The open flags of one of this process's fds (octal "flags:" line of /proc/self/fdinfo). */
function fdFlags(fd: number): number {
  const m = /^flags:\s+([0-7]+)/m.exec(fs.readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"));
  return m ? Number.parseInt(m[1], 8) : -1;
}

/**
 * If the code under test blocks in open() on `fifo` (an O_NONBLOCK regression), the whole test
 * worker would hang for good: a thread opens the other end after `ms` so the test fails on its
 * timing instead.
 */
function unblockLater(fifo: string, other: "r" | "w", ms: number): Worker {
  const flags = (other === "r" ? fs.constants.O_RDONLY : fs.constants.O_WRONLY) | O_NONBLOCK;
  return new Worker(
    `const fs = require("node:fs"); const { workerData: w } = require("node:worker_threads");
     Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, w.ms);
     try { const fd = fs.openSync(w.fifo, w.flags); setTimeout(() => fs.closeSync(fd), 2000); } catch {}`,
    { eval: true, workerData: { fifo, flags, ms } },
  );
}

const mkfifo = (p: string) => execFileSync("mkfifo", ["-m", "0666", p]);
const undelivered = (jobId: string, name: string) => path.join(tmpRoot, "undelivered", `${jobId}.1.${name}`);

describe("openOutputs", () => {
  it("opens a regular file, truncated, without O_NONBLOCK on the fd the job gets", () => {
    const spec = makeSpec(work, "", {});
    fs.writeFileSync(spec.stdoutPath, "old and longer content\n");
    const o = openOutputs(spec, tmpRoot);
    try {
      expect(o.comments).toEqual([]);
      expect(o.delivered).toEqual({ o: spec.stdoutPath, e: spec.stderrPath });
      expect(typeof o.stdout).toBe("number");
      expect(fs.fstatSync(o.stdout as number).size).toBe(0);
      expect(fdFlags(o.stdout as number) & O_NONBLOCK).toBe(0);
      expect(fdFlags(o.stderr as number) & O_NONBLOCK).toBe(0);
    } finally {
      for (const fd of o.fds) fs.closeSync(fd);
    }
  });

  it("refuses a FIFO with no reader at once (ENXIO) and keeps the output in undelivered/", async () => {
    const fifo = path.join(work, "noreader.fifo");
    mkfifo(fifo);
    const spec = makeSpec(work, "", { stdoutPath: fifo, stderrPath: null });
    const safety = unblockLater(fifo, "r", 3000);
    const t0 = Date.now();
    const o = openOutputs(spec, tmpRoot);
    const took = Date.now() - t0;
    await safety.terminate();
    for (const fd of o.fds) fs.closeSync(fd);
    expect(took).toBeLessThan(1000);
    const kept = undelivered(spec.jobId, "noreader.fifo");
    expect(o.comments).toEqual([
      `output could not be delivered to ${fifo} (a FIFO with no reader); kept at ${kept}`,
    ]);
    expect(o.delivered).toEqual({ o: kept, e: kept });
    expect(fs.statSync(kept).isFile()).toBe(true);
    expect(fs.statSync(kept).mode & 0o777).toBe(0o600);
    expect(fs.statSync(path.dirname(kept)).mode & 0o777).toBe(0o711);
  });

  it("refuses a FIFO that has a reader: nothing is written into it", () => {
    const fifo = path.join(work, "reader.fifo");
    mkfifo(fifo);
    const reader = fs.openSync(fifo, fs.constants.O_RDONLY | O_NONBLOCK);
    try {
      const spec = makeSpec(work, "", { stdoutPath: fifo, stderrPath: null });
      const o = openOutputs(spec, tmpRoot);
      for (const fd of o.fds) fs.closeSync(fd);
      expect(o.comments[0]).toMatch(/\(a FIFO\); kept at /);
      expect(o.delivered.o).toBe(undelivered(spec.jobId, "reader.fifo"));
    } finally {
      fs.closeSync(reader);
    }
  });

  it("never writes through a symbolic link, even to a file the user may write", () => {
    const target = path.join(work, "victim");
    fs.writeFileSync(target, "precious\n");
    const link = path.join(work, "link.o");
    fs.symlinkSync(target, link);
    const dangling = path.join(work, "dangling.e");
    fs.symlinkSync(path.join(work, "created-through-link"), dangling);
    const spec = makeSpec(work, "", { stdoutPath: link, stderrPath: dangling });
    const o = openOutputs(spec, tmpRoot);
    for (const fd of o.fds) fs.closeSync(fd);
    expect(read(target)).toBe("precious\n");
    expect(fs.existsSync(path.join(work, "created-through-link"))).toBe(false);
    expect(o.comments).toEqual([
      `output could not be delivered to ${link} (a symbolic link); kept at ${undelivered(spec.jobId, "link.o")}`,
      `output could not be delivered to ${dangling} (a symbolic link); kept at ${undelivered(spec.jobId, "dangling.e")}`,
    ]);
  });

  it("delivers into a directory named as the path, under PBS's default name (as PBS does)", () => {
    const dir = path.join(work, "adir");
    fs.mkdirSync(dir);
    const spec = makeSpec(work, "", { stdoutPath: dir, stderrPath: null });
    const o = openOutputs(spec, tmpRoot);
    for (const fd of o.fds) fs.closeSync(fd);
    expect(o.comments).toEqual([]);
    expect(o.delivered.o).toBe(path.join(dir, `${spec.name}.o${spec.seq}`));
    expect(fs.statSync(o.delivered.o as string).isFile()).toBe(true);
  });

  it("refuses a directory it is asked to open as a file", () => {
    const dir = path.join(work, "bdir");
    fs.mkdirSync(dir);
    expect(() => openOutputFile(dir)).toThrow();
  });

  it("treats /dev/null as discard: no fd, no comment, nothing delivered", () => {
    const spec = makeSpec(work, "", { stdoutPath: "/dev/null" });
    const o = openOutputs(spec, tmpRoot);
    for (const fd of o.fds) fs.closeSync(fd);
    expect(o.stdout).toBe("ignore");
    expect(o.comments).toEqual([]);
    expect(o.delivered).toEqual({ e: spec.stderrPath });
  });

  it("reports one file for both streams when they are joined", () => {
    const oe = makeSpec(work, "", { stderrPath: null });
    const eo = makeSpec(work, "", { joinEo: true });
    const a = openOutputs(oe, tmpRoot);
    const b = openOutputs(eo, tmpRoot);
    for (const fd of [...a.fds, ...b.fds]) fs.closeSync(fd);
    expect(a.delivered).toEqual({ o: oe.stdoutPath, e: oe.stdoutPath });
    expect(b.delivered).toEqual({ o: eo.stderrPath, e: eo.stderrPath });
  });
});

describe("startJob with outputs it cannot deliver", () => {
  it("a job whose -o is a FIFO finishes, its output kept and reported in the obituary", async () => {
    const fifo = path.join(work, "job.fifo");
    mkfifo(fifo);
    const spec = makeSpec(work, "echo to-fifo\necho err >&2\n", { stdoutPath: fifo });
    const safety = unblockLater(fifo, "r", 3000);
    const r = await startJob(spec, { tmpRoot }).result;
    await safety.terminate();
    expect(r.exitStatus).toBe(0);
    const kept = undelivered(spec.jobId, "job.fifo");
    expect(r.delivered).toEqual({ o: kept, e: spec.stderrPath });
    expect(r.comment).toBe(
      `output could not be delivered to ${fifo} (a FIFO with no reader); kept at ${kept}`,
    );
    expect(read(kept)).toBe("to-fifo\n");
    expect(read(spec.stderrPath as string)).toBe("err\n");
  });

  it("/dev/null output is discarded without a comment", async () => {
    const spec = makeSpec(work, "echo gone\n", { stdoutPath: "/dev/null", stderrPath: null });
    const r = await startJob(spec, { tmpRoot }).result;
    expect(r.exitStatus).toBe(0);
    expect(r.comment).toBeUndefined();
    expect(r.delivered).toEqual({});
  });

  it.runIf(process.getuid?.() === 0)(
    "a root MOM opens as the job's owner: a file only root may write is not written",
    async () => {
      const nobody = lookupOsUser("nobody");
      if (!nobody) return;
      const dir = tempDir("asowner");
      fs.chmodSync(dir, 0o777);
      // the job's user must reach its job directory (script, TMPDIR) under the MOM's root
      const momRoot = tempDir("asowner-mom");
      fs.chmodSync(momRoot, 0o755);
      const rootFile = path.join(dir, "root-only");
      fs.writeFileSync(rootFile, "root's\n", { mode: 0o600 });
      const spec = makeSpec(dir, "echo hi\n", {
        owner: "nobody@login1",
        stdoutPath: rootFile,
        stderrPath: null,
      });
      const r = await startJob(spec, { tmpRoot: momRoot, runAsOwner: true }).result;
      expect(r.exitStatus).toBe(0);
      expect(read(rootFile)).toBe("root's\n");
      const kept = path.join(momRoot, "undelivered", `${spec.jobId}.1.root-only`);
      expect(r.comment).toBe(
        `output could not be delivered to ${rootFile} (permission denied); kept at ${kept}`,
      );
      expect(fs.statSync(kept).uid).toBe(nobody.uid);
      expect(read(kept)).toBe("hi\n");
      fs.rmSync(dir, { recursive: true, force: true });
      fs.rmSync(momRoot, { recursive: true, force: true });
    },
  );
});
