/**
 * One site end to end on the real local stack: the real CLI binaries, DynamoDB Local, the SQS
 * emulator and child-process MOMs running real bash scripts.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import { type Stack, script, startStack } from "./helpers.js";

let s: Stack;

beforeAll(async () => {
  s = await startStack();
}, 90_000);

afterAll(async () => {
  await s?.mq.stop();
});

async function jobCount(): Promise<number> {
  const r = await s.cli("qstat", ["-x", "-F", "json"]);
  return Object.keys(JSON.parse(r.stdout).Jobs ?? {}).length;
}

describe("one site, end to end", () => {
  it("runs a script with the PBS environment and records it like PBS", async () => {
    const f = script(
      s.dir,
      "hello.pbs",
      '#!/bin/bash\n#PBS -N hello\n#PBS -l select=1:ncpus=2:mem=100mb\n#PBS -l walltime=00:01:00\n#PBS -v GREETING=hi\necho "$GREETING from $PBS_JOBID in $PBS_O_WORKDIR q=$PBS_QUEUE n=$NCPUS"\ncat $PBS_NODEFILE\necho oops >&2\n',
    );
    const r = await s.cli("qsub", [f]);
    expect(r.stderr).toBe("");
    const id = r.stdout.trim();
    expect(id).toMatch(/^\d+\.casper$/);
    await s.waitState(id, ["F"]);
    const seq = id.split(".")[0];
    const out = fs.readFileSync(path.join(s.dir, `hello.o${seq}`), "utf8");
    expect(out).toContain(`hi from ${id} in ${s.dir} q=casper n=2`);
    expect(out).toMatch(/^n[12]$/m);
    expect(fs.readFileSync(path.join(s.dir, `hello.e${seq}`), "utf8")).toBe("oops\n");
    const full = (await s.cli("qstat", ["-x", "-f", id])).stdout;
    expect(full).toContain("Exit_status = 0");
    expect(full).toContain("job_state = F");
    expect(full).toMatch(/exec_host = n[12]\/0\*2/);
    expect(full).toMatch(/resources_used.walltime = 00:00:0\d/);
    const m = s.mq.sites[0].metrics.totals;
    expect(m.JobsSubmitted).toBeGreaterThan(0);
    expect(m.JobsStarted).toBeGreaterThan(0);
    expect(m.JobsFinished).toBeGreaterThan(0);
    expect(m["CycleDuration|partition=default"]).toBeGreaterThan(0);
    const trace = (await s.cli("tracejob", [id])).stdout;
    expect(trace).toContain("Job Queued");
    expect(trace).toContain("Exit_status=0");
  });

  it("takes a script on stdin, joins output with -j oe, and prints only the job id", async () => {
    const r = await s.cli("qsub", ["-j", "oe", "-N", "joined"], { input: "echo out; echo err >&2\n" });
    const id = r.stdout.trim();
    expect(r.stdout).toBe(`${id}\n`);
    await s.waitState(id, ["F"]);
    const out = fs.readFileSync(path.join(s.dir, `joined.o${id.split(".")[0]}`), "utf8");
    expect(out).toContain("out");
    expect(out).toContain("err");
  });

  it("refuses bad input with a PBS message, a non-zero exit, and creates nothing", async () => {
    const before = await jobCount();
    const cases: [string[], string | undefined, RegExp][] = [
      [["-q", "nosuch"], "echo hi\n", /Unknown queue/],
      [["-l", "select=1:ncpus=two"], "echo hi\n", /ncpus/],
      [
        ["-l", "walltime=02:00:00"],
        "echo hi\n",
        /^qsub: Job violates queue and\/or server resource limits: walltime/,
      ],
      [[], "#PBS -l walltime=banana\necho hi\n", /line 1/],
      [["-l", "select=1:ncpus=64"], "echo hi\n", /never run/i],
      [[], `#!/bin/bash\n# ${"x".repeat(1024 * 1024)}\necho hi\n`, /limit/],
    ];
    for (const [args, input, msg] of cases) {
      const r = await s.cli("qsub", args, { input });
      expect(r.code, `qsub ${args.join(" ")}`).not.toBe(0);
      expect(r.stdout).toBe("");
      expect(r.stderr).toMatch(/^qsub: /);
      expect(r.stderr).toMatch(msg);
    }
    expect(await jobCount()).toBe(before);
  });

  it("releases a dependency chain: afterok, afternotok and afterany of a failing job", async () => {
    // the parent ends when the test says so, not after a sleep a loaded machine may outlast
    const gate = path.join(s.dir, "parent.go");
    const fail = (
      await s.cli("qsub", ["-N", "parent"], {
        input: `while [ ! -e ${gate} ]; do sleep 0.1; done; exit 3\n`,
      })
    ).stdout.trim();
    const ok = (await s.cli("qsub", ["-W", `depend=afterok:${fail}`], { input: "echo ok\n" })).stdout.trim();
    const notok = (
      await s.cli("qsub", ["-W", `depend=afternotok:${fail}`], { input: "echo notok\n" })
    ).stdout.trim();
    const any = (
      await s.cli("qsub", ["-W", `depend=afterany:${fail}`], { input: "echo any\n" })
    ).stdout.trim();
    for (const child of [ok, notok, any]) expect(await s.attr(child, "job_state")).toBe("H");
    fs.writeFileSync(gate, "");
    await s.waitState(fail, ["F"]);
    expect(await s.attr(fail, "Exit_status")).toBe("3");
    await s.waitState(notok, ["F"]);
    await s.waitState(any, ["F"]);
    await s.waitState(ok, ["F"]);
    expect(await s.attr(notok, "Exit_status")).toBe("0");
    expect(await s.attr(any, "Exit_status")).toBe("0");
    expect(await s.attr(ok, "Exit_status")).toBeUndefined();
    expect(await s.attr(ok, "comment")).toMatch(/can never be satisfied/);
  });

  it("qdel of a running job kills its whole process tree", async () => {
    const pidFile = path.join(s.dir, "victim.pid");
    const id = (await s.cli("qsub", [], { input: `sleep 60 & echo $! > ${pidFile}; wait\n` })).stdout.trim();
    await s.waitState(id, ["R"]);
    for (let i = 0; i < 50 && !fs.existsSync(pidFile); i++) await new Promise((r) => setTimeout(r, 100));
    expect(fs.existsSync(pidFile), "the job wrote its child's pid").toBe(true);
    const pid = Number(fs.readFileSync(pidFile, "utf8"));
    const r = await s.cli("qdel", [id]);
    expect(r.code).toBe(0);
    await s.waitState(id, ["F"]);
    expect(await s.attr(id, "Exit_status")).toBe("271");
    let alive = true;
    try {
      process.kill(pid, 0);
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      alive = !/\) Z /.test(stat);
    } catch {
      alive = false;
    }
    expect(alive).toBe(false);
  });

  it("enforces walltime", async () => {
    const id = (await s.cli("qsub", ["-l", "walltime=1"], { input: "sleep 30\n" })).stdout.trim();
    await s.waitState(id, ["F"], 20_000);
    expect(await s.attr(id, "Exit_status")).toBe("-29");
    expect(await s.attr(id, "comment")).toMatch(/walltime/);
  });

  it("holds and releases", async () => {
    const id = (await s.cli("qsub", ["-h"], { input: "echo held\n" })).stdout.trim();
    expect(await s.attr(id, "job_state")).toBe("H");
    await new Promise((r) => setTimeout(r, 1000));
    expect(await s.attr(id, "job_state")).toBe("H");
    expect((await s.cli("qrls", [id])).code).toBe(0);
    await s.waitState(id, ["F"]);
    expect(await s.attr(id, "Exit_status")).toBe("0");
  });

  it("runs an array of 10 subjobs", async () => {
    const id = (
      await s.cli("qsub", ["-J", "1-10", "-N", "arr"], { input: "echo sub $PBS_ARRAY_INDEX\n" })
    ).stdout.trim();
    expect(id).toMatch(/^\d+\[\]\.casper$/);
    await s.waitState(id, ["F"], 40_000);
    const seq = id.split("[")[0];
    for (let i = 1; i <= 10; i++) {
      expect(fs.readFileSync(path.join(s.dir, `arr.o${seq}.${i}`), "utf8")).toBe(`sub ${i}\n`);
    }
    expect(await s.attr(id, "Exit_status")).toBe("0");
  });

  it("creates a queue with qmgr and runs a job in it", async () => {
    const mk = await s.cli("qmgr", [
      "-c",
      "create queue fast queue_type=execution,priority=10,enabled=true,started=true",
    ]);
    expect(mk.stderr).toBe("");
    const list = await s.cli("qmgr", ["-c", "list queue fast"]);
    expect(list.stdout).toContain("priority = 10");
    const id = (await s.cli("qsub", ["-q", "fast"], { input: "echo fast\n" })).stdout.trim();
    await s.waitState(id, ["F"]);
    expect(await s.attr(id, "queue")).toBe("fast");
    const q = await s.cli("qstat", ["-Q"]);
    expect(q.stdout).toMatch(/^fast\s/m);
  });

  it("a job whose MOM dies keeps running, is adopted by the restarted MOM and ends once", async () => {
    const id = (await s.cli("qsub", [], { input: "sleep 3; echo done\n" })).stdout.trim();
    await s.waitState(id, ["R"]);
    const host = String(await s.attr(id, "exec_host")).split("/")[0];
    s.mq.sites[0].executor.killMom(host);
    await s.waitState(id, ["F"], 40_000);
    expect(await s.attr(id, "Exit_status")).toBe("0");
    expect(Number(await s.attr(id, "run_count"))).toBe(1);
  });
});

describe("operators' commands", () => {
  it("qalter, qmove and qrerun change jobs the PBS way", async () => {
    const held = (await s.cli("qsub", ["-h", "-N", "before"], { input: "echo $PBS_QUEUE\n" })).stdout.trim();
    expect((await s.cli("qalter", ["-N", "after", "-l", "walltime=00:02:00", "-p", "5", held])).code).toBe(0);
    expect(await s.attr(held, "Job_Name")).toBe("after");
    expect(await s.attr(held, "Priority")).toBe("5");
    const fast = await s.cli("qmgr", [
      "-c",
      "create queue other queue_type=execution,enabled=true,started=true",
    ]);
    expect(fast.code).toBe(0);
    expect((await s.cli("qmove", ["other", held])).code).toBe(0);
    expect(await s.attr(held, "queue")).toBe("other");
    await s.cli("qrls", [held]);
    await s.waitState(held, ["F"]);
    // PBS fixes Output_Path at submission: a renamed job still writes before.o<seq>
    const seq = held.split(".")[0];
    expect(fs.readFileSync(path.join(s.dir, `before.o${seq}`), "utf8")).toBe("other\n");

    const counter = path.join(s.dir, "rerun.count");
    const id = (await s.cli("qsub", [], { input: `echo x >> ${counter}; sleep 30\n` })).stdout.trim();
    await s.waitState(id, ["R"]);
    for (let i = 0; i < 50 && !fs.existsSync(counter); i++) await new Promise((r) => setTimeout(r, 100));
    expect((await s.cli("qrerun", [id])).code).toBe(0);
    for (let i = 0; i < 100 && fs.readFileSync(counter, "utf8").split("\n").length < 3; i++) {
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(fs.readFileSync(counter, "utf8")).toBe("x\nx\n");
    expect(await s.attr(id, "run_count")).toBe("2");
    await s.cli("qdel", [id]);
    await s.waitState(id, ["F"]);
    const alterRunning = await s.cli("qalter", ["-N", "late", id]);
    expect(alterRunning.code).not.toBe(0);
  });

  it("keeps jobs off an offline node and shows it in pbsnodes", async () => {
    onTestFinished(async () => {
      await s.cli("pbsnodes", ["-r", "n2"]);
    });
    expect((await s.cli("pbsnodes", ["-o", "n2"])).code).toBe(0);
    const nodes = (await s.cli("pbsnodes", ["-a"])).stdout;
    expect(nodes).toMatch(/n2\n(\s+.*\n)*?\s+state = offline/);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++)
      ids.push((await s.cli("qsub", ["-l", "select=1:ncpus=1"], { input: "sleep 0.2\n" })).stdout.trim());
    for (const id of ids) {
      await s.waitState(id, ["F"]);
      expect(await s.attr(id, "exec_host")).toMatch(/^n1\//);
    }
    expect((await s.cli("pbsnodes", ["-r", "n2"])).code).toBe(0);
    expect((await s.cli("pbsnodes", ["-a"])).stdout).not.toContain("offline");
  });

  it("schedules a second partition with its own sched (PP-337)", async () => {
    const cmds = [
      "create node p2n1 resources_available.ncpus=2,resources_available.mem=2gb,partition=p2",
      "create queue q2 queue_type=execution,enabled=true,started=true,partition=p2",
      "create sched s2 partition=p2,job_accumulation_time=1",
    ];
    for (const c of cmds) expect((await s.cli("qmgr", ["-c", c])).stderr).toBe("");
    expect((await s.cli("qmgr", ["-c", "list sched s2"])).stdout).toContain("partition = p2");
    // the tick starts a MOM for the new node, as an admin would start pbs_mom there
    const id = (
      await s.cli("qsub", ["-q", "q2", "-l", "select=1:ncpus=2"], { input: "echo p2\n" })
    ).stdout.trim();
    await s.waitState(id, ["F"]);
    expect(await s.attr(id, "exec_host")).toBe("p2n1/0*2");
    expect(await s.attr(id, "Exit_status")).toBe("0");
    const big = await s.cli("qsub", ["-q", "q2", "-l", "select=1:ncpus=4"], { input: "true\n" });
    expect(big.stderr).toMatch(/never run/);
  });

  it("lists jobs by user and by queue, and the queue and server tables", async () => {
    // its own job: the listing must not depend on what earlier tests left
    const anyId = (await s.cli("qsub", ["-h"], { input: "true\n" })).stdout.trim();
    expect(anyId).toMatch(/^\d+\.casper$/);
    onTestFinished(async () => {
      await s.cli("qdel", [anyId]);
    });
    const user = String(await s.attr(anyId, "Job_Owner")).split("@")[0];
    expect(user).toBe(os.userInfo().username);
    expect((await s.cli("qstat", ["-x", "-u", user])).stdout).toContain(anyId.split(".")[0]);
    expect((await s.cli("qstat", ["-x", "-u", "nobody-here"])).stdout).not.toContain(anyId.split(".")[0]);
    expect((await s.cli("qstat", ["-Q"])).stdout).toMatch(/^casper\s/m);
    expect((await s.cli("qstat", ["-B"])).stdout).toMatch(/^casper-pbs\s/m);
    expect((await s.cli("qstat", ["-x", "casper"])).code).toBe(0);
    const unknown = await s.cli("qstat", ["99999"]);
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toMatch(/Unknown Job Id 99999/);
  });

  it("supports before-type dependencies", async () => {
    const later = (await s.cli("qsub", ["-h", "-N", "later"], { input: "echo later\n" })).stdout.trim();
    const first = (
      await s.cli("qsub", ["-W", `depend=beforeok:${later}`], { input: "sleep 0.5\n" })
    ).stdout.trim();
    await s.cli("qrls", [later]);
    expect(await s.attr(later, "job_state")).toBe("H");
    await s.waitState(first, ["F"]);
    await s.waitState(later, ["F"]);
    expect(await s.attr(later, "Exit_status")).toBe("0");
  });
});
