import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { arrayParentId, parseLauncherReport, startJob } from "../../../shared/exec/index.js";
import { alive, makeSpec, read, tempDir, waitFor } from "./helpers.js";

const work = tempDir("work");
const tmpRoot = tempDir("moms");
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});

describe("startJob: whose job it is", () => {
  it.runIf(process.getuid?.() === 0)("a root MOM refuses a job whose owner has no account here", async () => {
    const work = tempDir("nouser");
    const tmp = tempDir("nouser-tmp");
    const r = await startJob(makeSpec(work, "echo never\n", { owner: "mq_nobody_here@login1" }), {
      tmpRoot: tmp,
      runAsOwner: true,
    }).result;
    expect(r.exitStatus).toBe(-1);
    expect(r.comment).toMatch(/user mq_nobody_here does not exist/);
    expect(fs.readdirSync(work)).toEqual([]);
  });
  it("refuses a working directory that is not a normalized absolute path", async () => {
    const tmp = tempDir("relwd-tmp");
    const r = await startJob(makeSpec("/tmp/../tmp", "echo never\n"), { tmpRoot: tmp }).result;
    expect(r.exitStatus).toBe(-1);
    expect(r.comment).toMatch(/normalized absolute/);
  });
});

describe.concurrent("startJob: environment and files", () => {
  it("exposes the PBS variables, the nodefile and a private TMPDIR that is removed after", async () => {
    const spec = makeSpec(
      work,
      [
        "echo $PBS_JOBID $NCPUS $OMP_NUM_THREADS $PBS_O_WORKDIR",
        "echo $PBS_JOBNAME $PBS_QUEUE $PBS_ENVIRONMENT $USER $LOGNAME $PBS_JOBDIR",
        "cat $PBS_NODEFILE",
        'echo "tmp=$TMPDIR"',
        'test -d "$TMPDIR" && echo tmpdir-exists',
        'stat -c %a "$TMPDIR"',
        "pwd",
      ].join("\n"),
    );
    const job = startJob(spec, { tmpRoot });
    expect(job.pid).toBeGreaterThan(0);
    const r = await job.result;
    expect(r.exitStatus).toBe(0);
    expect(r.jobId).toBe(spec.jobId);
    expect(r.runCount).toBe(1);
    expect(r.comment).toBeUndefined();
    const lines = read(spec.stdoutPath).trim().split("\n");
    expect(lines[0]).toBe(`${spec.jobId} 2 2 ${work}`);
    const me = os.userInfo().username;
    expect(lines[1]).toBe(`STDIN workq PBS_BATCH ${me} ${me} ${work}`);
    expect(lines.slice(2, 4)).toEqual(["node1", "node1"]);
    const tmp = lines[4].slice("tmp=".length);
    expect(tmp).toBe(path.join(tmpRoot, `${spec.jobId}.1`));
    expect(lines[5]).toBe("tmpdir-exists");
    expect(lines[6]).toBe("700");
    expect(lines[7]).toBe(work);
    expect(fs.existsSync(tmp)).toBe(false);
    expect(read(spec.stderrPath!)).toBe("");
  });

  it("passes spec.env but not the MOM's own environment", async () => {
    process.env.MQ_LEAK_CHECK = "leaked";
    const spec = makeSpec(
      work,
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion
      'echo "leak=${MQ_LEAK_CHECK:-none} mine=$MYVAR path=$PATH home=$HOME"\nenv | cut -d= -f1 | sort',
      { env: { MYVAR: "hello world" } },
    );
    const r = await startJob(spec, { tmpRoot }).result;
    delete process.env.MQ_LEAK_CHECK;
    expect(r.exitStatus).toBe(0);
    const out = read(spec.stdoutPath);
    expect(out.split("\n")[0]).toMatch(
      /^leak=none mine=hello world path=\/usr\/local\/bin:\/usr\/bin:\/bin home=\//,
    );
    const names = out.trim().split("\n").slice(1);
    expect(names).not.toContain("MQ_LEAK_CHECK");
    expect(names).toContain("MYVAR");
  });

  it("sets PBS_ARRAY_INDEX and PBS_ARRAY_ID for a subjob", async () => {
    const spec = makeSpec(work, "echo $PBS_ARRAY_INDEX $PBS_ARRAY_ID", {
      jobId: "77[4].casper",
      arrayIndex: "4",
    });
    const r = await startJob(spec, { tmpRoot }).result;
    expect(r.exitStatus).toBe(0);
    expect(read(spec.stdoutPath).trim()).toBe("4 77[].casper");
    expect(arrayParentId("123[4].casper")).toBe("123[].casper");
    expect(arrayParentId("123.casper")).toBeUndefined();
  });

  it("writes stdout and stderr to their files, overwriting", async () => {
    const spec = makeSpec(work, "echo out\necho err >&2");
    fs.writeFileSync(spec.stdoutPath, "old content that is longer\n");
    const r = await startJob(spec, { tmpRoot }).result;
    expect(r.exitStatus).toBe(0);
    expect(read(spec.stdoutPath)).toBe("out\n");
    expect(read(spec.stderrPath!)).toBe("err\n");
    expect(fs.statSync(spec.stdoutPath).mode & 0o777).toBe(0o644 & ~process.umask());
  });

  it("joins stderr into stdout (-j oe) and stdout into stderr (-j eo)", async () => {
    const oe = makeSpec(work, "echo out\necho err >&2\necho out2", { stderrPath: null });
    const eo = makeSpec(work, "echo out\necho err >&2", { joinEo: true });
    const [a, b] = await Promise.all([startJob(oe, { tmpRoot }).result, startJob(eo, { tmpRoot }).result]);
    expect(a.exitStatus).toBe(0);
    expect(read(oe.stdoutPath)).toBe("out\nerr\nout2\n");
    expect(b.exitStatus).toBe(0);
    expect(read(eo.stderrPath!)).toBe("out\nerr\n");
    expect(fs.existsSync(eo.stdoutPath)).toBe(false);
  });

  it("runs a #! script directly and a plain one with bash", async () => {
    const py = makeSpec(work, '#!/bin/sh\necho "sh:$0"\n');
    // biome-ignore lint/suspicious/noTemplateCurlyInString: shell parameter expansion
    const plain = makeSpec(work, 'echo "bash:${BASH_VERSION:+yes}"');
    const [a, b] = await Promise.all([startJob(py, { tmpRoot }).result, startJob(plain, { tmpRoot }).result]);
    expect(a.exitStatus).toBe(0);
    expect(read(py.stdoutPath)).toMatch(/^sh:\/.*\.SC\n$/);
    expect(b.exitStatus).toBe(0);
    expect(read(plain.stdoutPath)).toBe("bash:yes\n");
  });

  it("propagates the exit code, including 128+N from a command killed by a signal", async () => {
    const three = makeSpec(work, "exit 3");
    const segv = makeSpec(work, "sh -c 'kill -SEGV $$'\n");
    const [a, b] = await Promise.all([
      startJob(three, { tmpRoot }).result,
      startJob(segv, { tmpRoot }).result,
    ]);
    expect(a.exitStatus).toBe(3);
    expect(b.exitStatus).toBe(128 + 11);
    // the job's own shell reports its child's death, as under PBS; the launcher stays silent
    expect(read(segv.stderrPath!)).toMatch(/\.SC: line 1: +\d+ Segmentation fault/);
    expect(read(segv.stderrPath!)).not.toContain("launcher");
  });

  it("reports 256+N when the job is ended by a signal that is not ours", async () => {
    const term = makeSpec(work, "kill -TERM 0\nsleep 5");
    const kill = makeSpec(work, "kill -KILL 0\nsleep 5");
    const [a, b] = await Promise.all([
      startJob(term, { tmpRoot }).result,
      startJob(kill, { tmpRoot }).result,
    ]);
    expect(a.exitStatus).toBe(256 + 15);
    expect(a.killedFor).toBeUndefined();
    expect(a.comment).toBeUndefined();
    expect(b.exitStatus).toBe(256 + 9);
  });

  it("fails with -1 and a comment when the workdir does not exist", async () => {
    const missing = path.join(work, "nope");
    const spec = makeSpec(missing, "echo hi", {
      stdoutPath: path.join(work, "nope.o"),
      stderrPath: path.join(work, "nope.e"),
    });
    const job = startJob(spec, { tmpRoot });
    expect(job.pid).toBe(0);
    job.kill("qdel");
    const r = await job.result;
    expect(r.exitStatus).toBe(-1);
    expect(r.comment).toBe(`job failed: cannot chdir to ${missing}`);
  });

  it("keeps undeliverable output under tmpRoot/undelivered with a comment", async () => {
    const bad = path.join(work, "no-such-dir", "x.o1");
    const spec = makeSpec(work, "echo kept", { stdoutPath: bad, stderrPath: null });
    const r = await startJob(spec, { tmpRoot }).result;
    expect(r.exitStatus).toBe(0);
    const kept = path.join(tmpRoot, "undelivered", `${spec.jobId}.1.x.o1`);
    expect(r.comment).toBe(`output could not be delivered to ${bad} (no such directory); kept at ${kept}`);
    expect(r.delivered).toEqual({ o: kept, e: kept });
    expect(read(kept)).toBe("kept\n");
  });
});

describe.concurrent("startJob: limits, kills and usage", () => {
  it("kills a job over its walltime: -29 and a comment", async () => {
    const spec = makeSpec(work, "sleep 30", { walltime: 1, killDelay: 1 });
    const t0 = Date.now();
    const r = await startJob(spec, { tmpRoot }).result;
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(1000);
    expect(took).toBeLessThan(2500);
    expect(r.exitStatus).toBe(-29);
    expect(r.killedFor).toBe("walltime");
    expect(r.comment).toBe("job killed: walltime 2 exceeded limit 1");
    expect(r.resourcesUsed.walltime).toBe(1);
  });

  it("KILLs a job that ignores TERM after kill_delay", async () => {
    const spec = makeSpec(work, "trap '' TERM\necho ready\nwhile :; do sleep 0.05; done", { killDelay: 1 });
    const job = startJob(spec, { tmpRoot });
    await waitFor(() => fs.existsSync(spec.stdoutPath) && read(spec.stdoutPath).includes("ready"));
    const t0 = Date.now();
    job.kill("qdel");
    const r = await job.result;
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(900);
    expect(took).toBeLessThan(2000);
    expect(r.exitStatus).toBe(256 + 9);
    expect(r.killedFor).toBe("qdel");
  });

  it("qdel TERMs a running job: 271", async () => {
    const pidFile = path.join(work, "single.pid");
    const spec = makeSpec(work, `sleep 30 & echo $! > ${pidFile}; wait`);
    const job = startJob(spec, { tmpRoot });
    await waitFor(() => fs.existsSync(pidFile) && read(pidFile).trim() !== "");
    const sleeper = Number(read(pidFile));
    job.kill("qdel");
    const r = await job.result;
    expect(r.exitStatus).toBe(271);
    expect(r.killedFor).toBe("qdel");
    expect(r.comment).toBeUndefined();
    expect(alive(sleeper)).toBe(false);
  });

  it("qdel kills every process of the job's tree", async () => {
    const pidFile = path.join(work, "tree.pids");
    const spec = makeSpec(
      work,
      `sleep 30 & a=$!\nsh -c 'sleep 30 & echo $! > ${pidFile}.inner; wait' &\necho $a > ${pidFile}\nsleep 30\nwait`,
    );
    const job = startJob(spec, { tmpRoot });
    await waitFor(() => fs.existsSync(`${pidFile}.inner`) && read(`${pidFile}.inner`).trim() !== "");
    await waitFor(() => fs.existsSync(pidFile) && read(pidFile).trim() !== "");
    const pids = [Number(read(pidFile)), Number(read(`${pidFile}.inner`))];
    expect(pids.every(alive)).toBe(true);
    job.kill("qdel");
    const r = await job.result;
    expect(r.exitStatus).toBe(271);
    await waitFor(() => !pids.some(alive), 1000);
  });

  it("kills processes left behind when the script ends", async () => {
    const pidFile = path.join(work, "orphan.pid");
    const spec = makeSpec(work, `sleep 30 & echo $! > ${pidFile}\nexit 0`);
    const r = await startJob(spec, { tmpRoot }).result;
    expect(r.exitStatus).toBe(0);
    const pid = Number(read(pidFile));
    await waitFor(() => !alive(pid), 1000);
  });
});

/**
 * A script that burns 1.2 s of CPU by its own clock (utime + stime in /proc/$$/stat, read with a
 * builtin: no child adds to it; the shell's name has no space, so the fields split plainly), however long a loaded machine takes to give it that much.
 */
const burn12 =
  "hz=$(getconf CLK_TCK); want=$((hz * 6 / 5))\n" +
  "while :; do\n" +
  "  read -r pid comm state ppid pgrp sid tty tpgid flags minflt cminflt majflt cmajflt utime stime rest < /proc/$$/stat\n" +
  "  [ $((utime + stime)) -ge $want ] && break\n" +
  "done\n";

// not concurrent: CPU burners must not share the CPUs with each other
describe("startJob: cput and mem", () => {
  it("measures the exact cput of a job burning 1.2 s of CPU, and its mem", async () => {
    const spec = makeSpec(work, `${burn12}exit 0`);
    const r = await startJob(spec, { tmpRoot }).result;
    expect(r.exitStatus).toBe(0);
    // 1.2 s (and a little of the shell's own) rounds to 1
    expect(r.resourcesUsed.cput).toBe(1);
    // one process cannot use more CPU than wall time; a loaded machine may stretch the wall time
    expect(r.resourcesUsed.walltime).toBeGreaterThanOrEqual(1);
    expect(r.resourcesUsed.mem).toBeGreaterThan(0);
    expect(Number.isInteger(r.resourcesUsed.mem)).toBe(true);
    expect(r.resourcesUsed.ncpus).toBe(2);
  });

  it("counts the CPU of a process the script left behind, sampled at the script's end", async () => {
    // the burner is no child the script waits for (`times` misses it), and no periodic sample
    // comes within the run: only the end's look at the group's leftovers sees its 1.2 s
    const burner = path.join(work, "burner.sh");
    const done = path.join(work, "burned");
    fs.writeFileSync(burner, `${burn12}touch ${done}\nsleep 30\n`);
    const spec = makeSpec(work, `bash ${burner} &\nuntil [ -e ${done} ]; do sleep 0.05; done\nexit 0`);
    const r = await startJob(spec, { tmpRoot, sampleEveryMs: 60_000 }).result;
    expect(r.exitStatus).toBe(0);
    expect(r.resourcesUsed.cput).toBeGreaterThanOrEqual(1);
  });

  it("falls back to /proc samples when the job is KILLed", async () => {
    // burn 1.2 s of CPU, then wait for the KILL: the samples have seen the CPU time by then
    const spec = makeSpec(work, `trap '' TERM\n${burn12}while :; do sleep 0.05; done`, {
      walltime: 3,
      killDelay: 0,
    });
    const r = await startJob(spec, { tmpRoot, sampleEveryMs: 100 }).result;
    expect(r.exitStatus).toBe(-29);
    expect(r.resourcesUsed.cput).toBeGreaterThanOrEqual(1);
    expect(r.resourcesUsed.mem).toBeGreaterThan(0);
  });
});

describe("parseLauncherReport", () => {
  it("reads status, signal and children's times", () => {
    expect(parseLauncherReport("143 15\n0m0.001s 0m0.002s\n1m2.500s 0m0,500s\n")).toEqual({
      status: 143,
      signal: 15,
      childCpu: 63,
    });
    expect(parseLauncherReport("")).toBeUndefined();
  });
});
