/**
 * Issue 13: workflow tools drive a federation where jobs move, exactly as they drive PBS. Parsl's,
 * Cylc's and Nextflow's PBS drivers (ported in workflow-drivers.ts, from their sources) submit
 * to casper, which is kept busy by a pinned job, so derecho pulls their jobs and runs them. Each
 * driver polls at casper the way it does, with its own parser, and must see every job under the
 * ID qsub printed, never unknown or gone while it runs at derecho, completed with the right exit
 * status once it ends; its cancel command must kill a moved job. A job held or requeued at
 * derecho shows that state at casper (JOB_STATE).
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCredentialFile } from "../../shared/auth/credential-file.js";
import { parseConfig } from "../../shared/config/site-config.js";
import { type Stack, startStack } from "./helpers.js";
import { pullPairConfig } from "./runtime-process.js";
import { cylc, type Login, nextflow, parsl } from "./workflow-drivers.js";

let stack: Stack;
let login: Login;
let filler: string;

/** The jobs' run time: long enough for several polls while each runs at derecho. */
const RUN_S = 6;

beforeAll(async () => {
  const t0 = Date.now();
  // casper: one CPU, taken by the pinned filler; derecho: four, pulling casper's queue
  stack = await startStack(undefined, parseConfig(pullPairConfig(1, 4)), {
    tickMs: 300,
    settings: { transferResendMs: 1000, transferTimeoutMs: 8000, offerIntervalMs: 200, peerStaleMs: 3000 },
  });
  login = { conf: stack.conf, credential: stack.credential };
  console.log(`stack up in ${Date.now() - t0} ms`);
  const r = await stack.cli("qsub", ["-W", "pinned=true", "-l", "select=1:ncpus=1"], {
    input: "#!/bin/bash\nsleep 600\n",
  });
  expect(r.code).toBe(0);
  filler = r.stdout.trim();
  await stack.waitState(filler, ["R"], 120_000);
  console.log(`filler running after ${Date.now() - t0} ms`);
}, 300_000);

afterAll(async () => {
  if (filler) await stack?.cli("qdel", [filler]);
  await stack?.mq.stop();
}, 120_000);

/** The job's attributes as one site stores them (the origin's M record, or derecho's copy). */
async function rawAt(short: string, id: string): Promise<Record<string, unknown> | undefined> {
  const site = stack.mq.sites.find((s) => s.ctx.site.short === short);
  if (!site) throw new Error(`no site ${short}`);
  const r = await fetch(`${site.url}/v1/jobs/${encodeURIComponent(id)}?history=true`, {
    headers: { authorization: `Bearer ${readCredentialFile(stack.credential)}` },
  });
  if (r.status !== 200) return undefined;
  return ((await r.json()) as { job: { attributes: Record<string, unknown> } }).job.attributes;
}

/** A job operation at derecho itself, as derecho's admin would run it (not through the origin). */
async function atDerecho(id: string, action: "hold" | "release" | "rerun"): Promise<void> {
  const site = stack.mq.sites.find((s) => s.ctx.site.short === "derecho");
  const r = await fetch(`${site?.url}/v1/jobs/${encodeURIComponent(id)}/${action}`, {
    method: "POST",
    headers: {
      authorization: `Bearer ${readCredentialFile(stack.credential)}`,
      "content-type": "application/json",
    },
    body: "{}",
  });
  expect(r.status, `${action} ${id} at derecho: ${await r.clone().text()}`).toBe(200);
}

/** Whether the job runs (or ran) at derecho: its copy there, under the same ID. */
async function ranAtDerecho(id: string): Promise<boolean> {
  const a = await rawAt("derecho", id);
  return a?.origin_job === id;
}

/** What the last poll saw, for the message when a wait times out. */
let lastSeen = "";

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  lastSeen = "";
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}; last seen: ${lastSeen}`);
    await new Promise((r) => setTimeout(r, 300));
  }
}

/** A fresh directory for one driver's files (scripts, output, status files). */
function workDir(name: string): string {
  const d = path.join(stack.dir, name);
  fs.mkdirSync(d, { recursive: true });
  return d;
}

/**
 * How long after derecho starts a copy its origin may still say what it knew before: casper
 * hears ACCEPT and JOB_STATE over its inbox queue, after derecho's cycle has written R (the peer
 * transfer bench: p99 0.4 s on a loaded 2-core machine). A poll in that window may see the job as
 * it was before it ran there (in transit or queued: a tool's PENDING): not a job gone, and not
 * counted as a poll of a job running at the peer.
 */
const HEARD_MS = 1_500;
/** when the test first saw each job's copy running at derecho */
const firstRunning = new Map<string, number>();

/** Seen while derecho's copy of the job ran: the test's evidence that polls hit moved jobs. */
async function runningAtDerecho(id: string): Promise<boolean> {
  const running = (await rawAt("derecho", id))?.job_state === "R";
  if (running && !firstRunning.has(id)) firstRunning.set(id, Date.now());
  return running;
}

/** Running at derecho, and for long enough that casper has heard of it. */
async function heardRunningAtDerecho(id: string): Promise<boolean> {
  return (await runningAtDerecho(id)) && Date.now() - (firstRunning.get(id) ?? Date.now()) >= HEARD_MS;
}

/**
 * Run a driver's poll, and say which jobs ran at derecho for the whole of it: running there
 * before (long enough for casper to have heard) and after (a job runs once there: R, then F), so
 * what the poll said of them is what the origin says of a job running at its peer.
 */
async function whileRunningAtDerecho<T>(
  ids: string[],
  poll: () => Promise<T>,
): Promise<boolean[] & { result: T }> {
  const before = await Promise.all(ids.map(heardRunningAtDerecho));
  const result = await poll();
  const after = await Promise.all(ids.map(runningAtDerecho));
  return Object.assign(
    ids.map((_, i) => before[i] && after[i]),
    { result },
  );
}

describe("workflow drivers across a federation where jobs move", () => {
  it("Parsl: qsub's last line is the ID; qstat -x -f -F json keeps it R, then COMPLETED with its exit status; qdel cancels a moved job", async () => {
    const dir = workDir("parsl");
    const script = (name: string, body: string) => {
      // parsl/providers/pbspro/template.py, filled in
      const p = path.join(dir, `${name}.submit`);
      fs.writeFileSync(
        p,
        `#!/bin/bash\n\n#PBS -S /bin/bash\n#PBS -N ${name}\n#PBS -m n\n#PBS -l walltime=00:05:00\n#PBS -l select=1:ncpus=1\n#PBS -o ${p}.stdout\n#PBS -e ${p}.stderr\n\n\nexport JOBNAME="${name}"\n\n${body}\n`,
      );
      return p;
    };
    const ok = await parsl.submit(login, dir, script("parsl.ok", `sleep ${RUN_S}\nexit 0`), "casper");
    const bad = await parsl.submit(login, dir, script("parsl.bad", `sleep ${RUN_S}\nexit 3`), "casper");
    const cancel = await parsl.submit(login, dir, script("parsl.cancel", "sleep 300"), "casper");
    const ids = [ok, bad, cancel];
    for (const id of ids) expect(id).toMatch(/^\d+\.casper$/);
    const done = new Map<string, number | undefined>();
    let polledWhileMoved = 0;
    let cancelled = false;
    await until(
      "Parsl sees every job completed",
      async () => {
        const moved = await whileRunningAtDerecho(ids, () => parsl.status(login, dir, ids));
        const st = moved.result;
        expect(st, "qstat -x -f -F json failed").toBeDefined();
        lastSeen = JSON.stringify([...(st ?? [])]);
        for (const [i, id] of ids.entries()) {
          const s = st?.get(id);
          // only the IDs asked for come back (an unexpected key throws in the port, as in Parsl)
          expect(s, `${id} in the poll`).toBeDefined();
          expect(s?.state, `${id} state`).not.toBe("UNKNOWN");
          if (moved[i]) {
            polledWhileMoved++;
            expect(s?.state, `${id} while it runs at derecho`).toBe("RUNNING");
          }
          if (s?.state === "COMPLETED" && !done.has(id)) done.set(id, s.exitStatus);
        }
        if (moved[2] && !cancelled) cancelled = await parsl.cancel(login, dir, [cancel]);
        return done.size === ids.length ? true : undefined;
      },
      240_000,
    );
    expect(cancelled).toBe(true);
    for (const id of ids) expect(await ranAtDerecho(id), `${id} ran at derecho`).toBe(true);
    expect(polledWhileMoved).toBeGreaterThan(0);
    expect(done.get(ok)).toBe(0);
    expect(done.get(bad)).toBe(3);
    // killed: PBS's exit status of a job deleted while it ran (a signal: above 256 here or negative)
    expect(done.get(cancel)).not.toBe(0);
    expect(fs.readFileSync(path.join(dir, "parsl.ok.submit.stdout"), "utf8")).toBe("");
  }, 300_000);

  it("Cylc: the number qsub printed is polled with qstat <ids>; in the runner while it runs at derecho; qdel kills a moved job", async () => {
    const dir = workDir("cylc");
    // A job file as Cylc writes it (format_directives), and the status file its job.sh keeps:
    // CYLC_JOB_EXIT is what Cylc reads once the job has left the runner.
    const jobFile = (name: string, body: string) => {
      const d = path.join(dir, name);
      fs.mkdirSync(d, { recursive: true });
      const job = path.join(d, "job");
      fs.writeFileSync(
        job,
        `#!/bin/bash -l\n# DIRECTIVES:\n#PBS -N ${name}.1.wf\n#PBS -o ${job}.out\n#PBS -e ${job}.err\n#PBS -l walltime=120\n#PBS -l select=1:ncpus=1\n` +
          `echo CYLC_JOB_INIT_TIME=now >> ${job}.status\n${body}\nrc=$?\n` +
          `if [ $rc -eq 0 ]; then echo CYLC_JOB_EXIT=SUCCEEDED >> ${job}.status; else echo CYLC_JOB_EXIT=ERR >> ${job}.status; fi\nexit $rc\n`,
      );
      fs.writeFileSync(`${job}.status`, "CYLC_JOB_RUNNER_NAME=pbs\n");
      return job;
    };
    const files = [
      jobFile("ok", `sleep ${RUN_S}; true`),
      jobFile("bad", `sleep ${RUN_S}; false`),
      jobFile("kill", "sleep 300"),
    ];
    const ids = await Promise.all(files.map((f) => cylc.submit(login, dir, f)));
    for (const id of ids) expect(id).toMatch(/^\d+$/);
    const full = ids.map((n) => `${n}.casper`);
    const exited = new Set<string>();
    let polledWhileMoved = 0;
    let killed = false;
    await until(
      "Cylc sees every job leave the runner",
      async () => {
        const moved = await whileRunningAtDerecho(full, () =>
          cylc.poll(
            login,
            dir,
            ids.filter((id) => !exited.has(id)),
          ),
        );
        const polled = moved.result;
        for (const [i, id] of ids.entries()) {
          if (exited.has(id)) continue;
          const s = polled.get(id);
          const status = fs.readFileSync(`${files[i]}.status`, "utf8");
          if (moved[i]) {
            polledWhileMoved++;
            expect(s, `${id} while it runs at derecho`).toBe("in-runner");
          }
          if (s === "exited") {
            // Cylc trusts the status file then: a job gone from the runner without its exit
            // written there is a failed submission (this is what a wrong "gone" would cause)
            if (i !== 2)
              expect(status, `${id} left the runner before its job.sh ended`).toMatch(/CYLC_JOB_EXIT=/);
            exited.add(id);
          }
        }
        if (moved[2] && !killed) killed = await cylc.kill(login, dir, ids[2]);
        return exited.size === ids.length ? true : undefined;
      },
      240_000,
    );
    expect(killed).toBe(true);
    for (const id of full) expect(await ranAtDerecho(id), `${id} ran at derecho`).toBe(true);
    expect(polledWhileMoved).toBeGreaterThan(0);
    expect(fs.readFileSync(`${files[0]}.status`, "utf8")).toMatch(/CYLC_JOB_EXIT=SUCCEEDED/);
    expect(fs.readFileSync(`${files[1]}.status`, "utf8")).toMatch(/CYLC_JOB_EXIT=ERR/);
    expect(fs.readFileSync(`${files[2]}.status`, "utf8")).not.toMatch(/CYLC_JOB_EXIT=SUCCEEDED/);
    // and the origin's record agrees (qstat -x: what an operator would look at)
    expect(await stack.attr(full[0], "Exit_status")).toBe("0");
    expect(await stack.attr(full[1], "Exit_status")).toBe("1");
  }, 300_000);

  it("Nextflow: qsub's one line is the ID; qstat -f <queue> keeps the task active while it runs at derecho; .exitcode gives the status; qdel kills a moved task", async () => {
    const dir = workDir("nextflow");
    // a task's work dir and its .command.run (PbsProExecutor.getDirectives; the wrapper writes
    // .exitcode, which Nextflow reads once the job is no longer active)
    const task = (name: string, cmd: string) => {
      const wd = path.join(dir, name);
      fs.mkdirSync(wd, { recursive: true });
      fs.writeFileSync(
        path.join(wd, ".command.run"),
        `#!/bin/bash\n#PBS -N nf-${name}\n#PBS -o ${path.join(wd, ".command.log")}\n#PBS -j oe\n#PBS -q casper\n#PBS -l select=1:ncpus=1\n#PBS -l walltime=00:05:00\nNXF_CHDIR=${wd}\n` +
          `cd ${wd}\ntouch .command.begin\n( ${cmd} ); ec=$?\necho $ec > ${path.join(wd, ".exitcode")}\nexit $ec\n`,
      );
      return wd;
    };
    const tasks = [
      task("ok", `sleep ${RUN_S}`),
      task("bad", `sleep ${RUN_S}; exit 7`),
      task("kill", "sleep 300"),
    ];
    const ids: string[] = [];
    for (const [i, wd] of tasks.entries())
      ids.push(await nextflow.submit(login, wd, `nf-${["ok", "bad", "kill"][i]}`, ".command.run"));
    for (const id of ids) expect(id).toMatch(/^\d+\.casper$/);
    const exitcode = (wd: string) => {
      const f = path.join(wd, ".exitcode");
      return fs.existsSync(f) ? Number(fs.readFileSync(f, "utf8").trim()) : undefined;
    };
    // GridTaskHandler's states: SUBMITTED until started (.command.begin, or listed and not
    // PENDING, or .exitcode), then RUNNING until .exitcode is read; while RUNNING without it,
    // checkActiveStatus must say active, or after exitReadTimeout (default 270 s) the task
    // fails with "Failed to get exit status". The longest such gap is measured.
    const started = new Set<string>();
    const inactiveSince = new Map<string, number>();
    let worstGapMs = 0;
    const gapSeen = new Set<string>();
    const finished = new Map<string, number | undefined>();
    let polledWhileMoved = 0;
    let killed = false;
    await until(
      "Nextflow sees every task complete",
      async () => {
        const moved = await whileRunningAtDerecho(ids, () => nextflow.queueStatus(login, dir, "casper"));
        const status = moved.result;
        expect(status, "qstat -f casper failed").toBeDefined();
        lastSeen = JSON.stringify([...(status ?? [])]);
        for (const [i, id] of ids.entries()) {
          if (finished.has(id)) continue;
          if (moved[i]) {
            polledWhileMoved++;
            expect(status?.get(id), `${id} while it runs at derecho`).toBe("RUNNING");
          }
          const wd = tasks[i];
          if (!started.has(id)) {
            const begun = fs.existsSync(path.join(wd, ".command.begin"));
            if (begun || nextflow.isStartedInQueue(status, id) || exitcode(wd) !== undefined) started.add(id);
            else continue;
          }
          const exit = exitcode(wd);
          if (exit !== undefined) {
            finished.set(id, exit);
            continue;
          }
          if (nextflow.isActive(status, id)) inactiveSince.delete(id);
          else {
            const since = inactiveSince.get(id) ?? Date.now();
            inactiveSince.set(id, since);
            worstGapMs = Math.max(worstGapMs, Date.now() - since);
            gapSeen.add(
              `${status?.get(id) ?? "absent"} (derecho: ${(await rawAt("derecho", id))?.job_state})`,
            );
            // the killed task has no .exitcode: inactive is its end (Nextflow asked for it)
            if (i === 2 && killed) finished.set(id, undefined);
          }
        }
        if (moved[2] && !killed) killed = await nextflow.kill(login, dir, ids[2]);
        return finished.size === ids.length ? true : undefined;
      },
      240_000,
    );
    console.log(
      `Nextflow: longest time a started task was inactive without .exitcode: ${worstGapMs} ms (seen then at casper: ${[...gapSeen].join(", ")})`,
    );
    expect(worstGapMs, "a started task inactive without .exitcode").toBeLessThan(270_000);
    expect(killed).toBe(true);
    for (const id of ids) expect(await ranAtDerecho(id), `${id} ran at derecho`).toBe(true);
    expect(polledWhileMoved).toBeGreaterThan(0);
    expect(finished.get(ids[0])).toBe(0);
    expect(finished.get(ids[1])).toBe(7);
    expect(finished.get(ids[2])).toBeUndefined();
  }, 300_000);

  it("a moved job requeued or held at derecho shows that state at casper, then finishes there", async () => {
    // long on its first run (time to requeue it), short on its second
    const marker = path.join(stack.dir, "requeue.ran");
    const r = await stack.cli("qsub", ["-r", "y", "-l", "select=1:ncpus=1", "-N", "requeue"], {
      input: `#!/bin/bash\nif [ -e ${marker} ]; then sleep 2; else touch ${marker}; sleep 300; fi\n`,
    });
    expect(r.code).toBe(0);
    const id = r.stdout.trim();
    const origin = async () => (await rawAt("casper", id))?.job_state;
    await until(`${id} running at derecho`, async () => ((await runningAtDerecho(id)) ? true : undefined));
    await until(`${id} R at casper`, async () => ((await origin()) === "R" ? true : undefined));
    // derecho's node offline, so that the requeued copy stays queued there
    expect((await stack.cli("pbsnodes", ["-s", "desched1", "-o", "d1"])).code).toBe(0);
    try {
      await atDerecho(id, "rerun");
      await until(`${id} Q at casper after qrerun at derecho`, async () =>
        (await origin()) === "Q" ? true : undefined,
      );
      await atDerecho(id, "hold");
      await until(`${id} H at casper after qhold at derecho`, async () =>
        (await origin()) === "H" ? true : undefined,
      );
      await atDerecho(id, "release");
      await until(`${id} Q at casper after qrls at derecho`, async () =>
        (await origin()) === "Q" ? true : undefined,
      );
    } finally {
      expect((await stack.cli("pbsnodes", ["-s", "desched1", "-r", "d1"])).code).toBe(0);
    }
    await until(`${id} F at casper`, async () => ((await origin()) === "F" ? true : undefined));
    expect((await rawAt("casper", id))?.Exit_status).toBe(0);
  }, 120_000);
});
