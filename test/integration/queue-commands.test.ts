/**
 * qsub -W block=true, qsig, qselect, qorder, qrun and qdel -x as a user runs them: the real
 * binaries against the local stack (DynamoDB Local, the SQS emulator, child-process MOMs), with
 * casper and derecho pulling casper's overflow, so a blocking qsub whose job moves to the peer
 * is seen to come back with the job's exit status (the origin learns the end by JOB_END).
 */
import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../shared/config/site-config.js";
import { type Stack, startStack } from "./helpers.js";
import { pullPairConfig, QUICK_TRANSFERS } from "./runtime-process.js";

const run = promisify(execFile);
let stack: Stack;
/**
 * The commands this file adds are run from cli/bin: node_modules/.bin (what stack.cli runs)
 * lists the bin entries of the install, which the new ones join only at the next npm install.
 */
const NEW = new Set(["qselect", "qsig", "qorder", "qrun"]);
const cli = async (cmd: string, args: string[], input?: string) => {
  if (!NEW.has(cmd)) return stack.cli(cmd, args, input === undefined ? {} : { input });
  const env = {
    ...process.env,
    METAQUEUE_CONF: stack.conf,
    METAQUEUE_SERVER_URL: "",
    METAQUEUE_CREDENTIAL: stack.credential,
    METAQUEUE_TOKEN: "",
  };
  try {
    const r = await run(path.resolve("cli/bin", cmd), args, { cwd: stack.dir, env });
    return { code: 0, stdout: r.stdout, stderr: r.stderr };
  } catch (err) {
    const e = err as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof e.code === "number" ? e.code : 1, stdout: e.stdout ?? "", stderr: e.stderr ?? "" };
  }
};

beforeAll(async () => {
  stack = await startStack(undefined, parseConfig(pullPairConfig(1, 2)), {
    tickMs: 300,
    settings: { ...QUICK_TRANSFERS, peerStaleMs: 3000 },
  });
}, 90_000);
afterAll(async () => {
  await stack?.mq.stop();
});

/** casper's own listing (it does not follow a moved job): job ID -> attributes. */
async function atCasper(): Promise<Record<string, Record<string, unknown>>> {
  const r = await cli("qstat", ["-x", "-f", "-F", "json", "@casper-pbs"]);
  return JSON.parse(r.stdout).Jobs ?? {};
}

async function submit(args: string[], body: string): Promise<string> {
  const r = await cli("qsub", args, body);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

describe("on one site", () => {
  it("qsub -W block=true prints the ID, waits, and exits with the job's exit status", async () => {
    const r = await cli("qsub", ["-W", "block=true", "-W", "pinned=true"], "#!/bin/bash\nsleep 1\nexit 5\n");
    expect(r.stderr).toBe("");
    expect(r.stdout).toMatch(/^\d+\.casper\n$/);
    expect(r.code).toBe(5);
    expect(await stack.attr(r.stdout.trim(), "job_state")).toBe("F");
  }, 60_000);

  it("qsig delivers the signal to the job's processes", async () => {
    const id = await submit(
      ["-W", "pinned=true"],
      "#!/bin/bash\ntrap 'exit 9' USR1\nwhile :; do sleep 0.2; done\n",
    );
    await stack.waitState(id, ["R"]);
    // the launcher is up before the script sets its trap: give bash a moment
    await new Promise((r) => setTimeout(r, 1000));
    expect(await cli("qsig", ["-s", "USR1", id])).toMatchObject({ code: 0, stderr: "" });
    await stack.waitState(id, ["F"], 20_000);
    expect(await stack.attr(id, "Exit_status")).toBe("9");
    const bad = await cli("qsig", ["-s", "BOGUS", id]);
    expect(bad.stderr).toBe("qsig: Unknown/illegal signal name BOGUS\n");
    expect(bad.code).toBe(15013 & 0xff);
  }, 60_000);

  it("qdel -x removes a finished job's history", async () => {
    const id = await submit(["-h"], "true\n");
    expect((await cli("qdel", [id])).code).toBe(0);
    expect((await cli("qdel", [id])).stderr).toBe(`qdel: Job has finished ${id}\n`);
    expect(await cli("qdel", ["-x", id])).toMatchObject({ code: 0, stderr: "" });
    expect((await cli("qstat", ["-x", id])).stderr).toBe(`qstat: Unknown Job Id ${id}\n`);
  });
});

describe("with casper busy", () => {
  let filler = "";
  beforeAll(async () => {
    filler = await submit(["-W", "pinned=true", "-l", "walltime=00:05:00"], "#!/bin/bash\nsleep 300\n");
    await stack.waitState(filler, ["R"]);
  }, 60_000);
  afterAll(async () => {
    if (filler) await cli("qdel", [filler]);
  });

  it("qselect, qorder and qrun on jobs that wait", async () => {
    const a = await submit(["-W", "pinned=true", "-N", "qa"], "true\n");
    const b = await submit(["-W", "pinned=true", "-N", "qb"], "true\n");
    const sel = await cli("qselect", ["-s", "Q", "-N", "qb"]);
    expect(sel).toMatchObject({ code: 0, stdout: `${b}\n` });
    expect((await cli("qselect", ["-s", "QR"])).stdout.split("\n").filter(Boolean)).toEqual([filler, a, b]);
    expect(await cli("qorder", [a, b])).toMatchObject({ code: 0, stderr: "" });
    // the node is full: qrun bypasses policy, not the node's resources
    const full = await cli("qrun", [b]);
    expect(full.stderr).toMatch(
      new RegExp(`^qrun: Resource temporarily unavailable ${b.replace(".", "\\.")}`),
    );
    expect(full.code).toBe(15044 & 0xff);
    await cli("qdel", [a, b]);
  }, 60_000);

  it("qsub -W block=true of a job that moves to the peer comes back with its exit status", async () => {
    const r = await cli("qsub", ["-W", "block=true", "-l", "walltime=00:05:00"], "#!/bin/bash\nexit 3\n");
    expect(r.stderr).toBe("");
    expect(r.code).toBe(3);
    const id = r.stdout.trim();
    const home = (await atCasper())[id];
    // the origin lists a moved job under its own ID with the peer's final state
    expect(home.job_state).toBe("F");
    expect(home.exec_site).toBe("derecho");
  }, 90_000);
});
