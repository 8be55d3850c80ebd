/**
 * qsub -W block=true, qselect, qsig, qorder, qrun and qdel -x / -W force as a user runs them:
 * the real commands (cli/src) over the real HTTP client, whose transport hands each request to
 * the in-memory site's API handler (routes, domain, store), so what is printed and the exit
 * codes are checked against real server answers, without processes.
 */
import { beforeEach, describe, expect, it } from "vitest";
import { HttpApi, type Transport } from "../../../cli/src/api-client.js";
import type { BlockDeps } from "../../../cli/src/block.js";
import { main } from "../../../cli/src/main.js";
import { type MemorySite, memorySite, startJob, tokenOf } from "../../fixtures/memory-site.js";

let s: MemorySite;
beforeEach(async () => {
  s = await memorySite();
});

/** Requests go to the memory site's API as the user whose token they carry. */
function transport(site: MemorySite, hooks: { down?: () => boolean } = {}): Transport {
  return async (url, req) => {
    if (hooks.down?.()) throw new Error("ECONNREFUSED");
    const u = new URL(url);
    const token = req.headers.authorization?.replace(/^Bearer /, "");
    const user = ["alice", "bob", "root"].find((n) => tokenOf(n) === token);
    const query = Object.fromEntries(u.searchParams.entries());
    const r = await site.api(req.method, decodeURIComponent(u.pathname), {
      ...(user ? { as: user } : {}),
      ...(req.body !== undefined ? { body: req.body } : {}),
      ...(Object.keys(query).length ? { query } : {}),
    });
    return { status: r.status, text: r.body === undefined ? "" : JSON.stringify(r.body) };
  };
}

interface Run {
  code: number;
  out: string;
  err: string;
}

async function run(
  cmd: string,
  argv: string[],
  opts: { as?: string; block?: BlockDeps; down?: () => boolean } = {},
): Promise<Run> {
  let out = "";
  let err = "";
  const user = opts.as ?? "alice";
  const code = await main(cmd, argv, {
    api: new HttpApi(transport(s, { down: opts.down }), () => tokenOf(user)),
    stdout: { write: (t: string) => (out += t) },
    stderr: { write: (t: string) => (err += t) },
    env: { HOME: `/home/${user}`, PATH: "/usr/bin" },
    cwd: () => `/home/${user}`,
    readFile: async () => "true\n",
    stdin: async () => "true\n",
    hostname: () => "login1",
    config: {
      default: "casper-pbs",
      servers: [{ name: "casper-pbs", short: "casper", url: "http://casper" }],
    },
    ...(opts.block ? { block: opts.block } : {}),
  });
  return { code, out, err };
}

/**
 * Block deps whose every pause lets the site move on by `step` (e.g. run its cycle, then end
 * the job); `interruptAfter`: pauses before a Ctrl-C arrives.
 */
function blockDeps(
  step: (pause: number) => Promise<void>,
  interruptAfter?: number,
): BlockDeps & { pauses: number[] } {
  const pauses: number[] = [];
  let signal: ((n: number) => void) | undefined;
  return {
    pauses,
    onSignal: (h) => {
      signal = h;
      return () => {
        signal = undefined;
      };
    },
    sleep: async (ms) => {
      pauses.push(ms);
      if (interruptAfter !== undefined && pauses.length >= interruptAfter) signal?.(2);
      await step(ms);
    },
  };
}

describe("qsub -W block=true", () => {
  it("waits for the job's end and exits with its exit status", async () => {
    let n = 0;
    const deps = blockDeps(async () => {
      n++;
      if (n === 1) await s.settle(); // it starts
      if (n === 3) {
        await s.obit("1.casper", { exitStatus: 7 });
        await s.settle();
      }
    });
    const r = await run("qsub", ["-W", "block=true", "job.sh"], { block: deps });
    expect(r).toEqual({ code: 7, out: "1.casper\n", err: "" });
    // polled with a growing pause
    expect(deps.pauses).toEqual([250, 500, 1000]);
  });

  it("survives the server being unreachable for a while", async () => {
    let down = false;
    let n = 0;
    const deps = blockDeps(async () => {
      n++;
      if (n === 1) {
        down = true;
        await s.settle();
      }
      if (n === 3) {
        down = false;
        await s.obit("1.casper", { exitStatus: 0 });
        await s.settle();
      }
    });
    const r = await run("qsub", ["-W", "block=true", "job.sh"], { block: deps, down: () => down });
    expect(r.code).toBe(0);
  });

  it("a job deleted before it ran: PBS's message and exit 3", async () => {
    const deps = blockDeps(async () => {
      await run("qdel", ["1"], { as: "alice" });
    });
    const r = await run("qsub", ["-h", "-W", "block=true", "job.sh"], { block: deps });
    expect(r.code).toBe(3);
    expect(r.err).toBe("qsub: 1.casper Job deleted at request of alice\n");
  });

  it("Ctrl-C deletes the job, as PBS's qsub does, and exits 2", async () => {
    const deps = blockDeps(async () => {}, 1);
    const r = await run("qsub", ["-h", "-W", "block=true", "job.sh"], { block: deps });
    expect(r.code).toBe(2);
    expect(r.err).toBe("qsub: wait for job 1.casper interrupted by signal 2\n");
    expect(r.out).toBe("1.casper\nJob 1.casper is being deleted\n");
    expect((await s.job("1")).state).toBe("F");
  });

  it("without block, qsub returns at once", async () => {
    const deps = blockDeps(async () => {});
    const r = await run("qsub", ["job.sh"], { block: deps });
    expect(r.code).toBe(0);
    expect(deps.pauses).toEqual([]);
  });
});

describe("qselect", () => {
  it("prints the IDs of the jobs that match, one a line", async () => {
    await s.submit("alice", "true\n", { name: "a1", hold: true });
    await s.submit("bob", "true\n", { name: "b1", resources: { ncpus: "2" } });
    await s.submit("alice", "true\n", { name: "a2", resources: { ncpus: "3" } });
    expect((await run("qselect", [])).out).toBe("1.casper\n2.casper\n3.casper\n");
    expect((await run("qselect", ["-u", "alice"])).out).toBe("1.casper\n3.casper\n");
    expect((await run("qselect", ["-s", "H"])).out).toBe("1.casper\n");
    expect((await run("qselect", ["-N", "b1"])).out).toBe("2.casper\n");
    expect((await run("qselect", ["-l", "ncpus.gt.1"])).out).toBe("2.casper\n3.casper\n");
    expect((await run("qselect", ["-l", "ncpus.ge.3", "-u", "alice"])).out).toBe("3.casper\n");
    expect((await run("qselect", ["-q", "casper", "-h", "u"])).out).toBe("1.casper\n");
    await run("qdel", ["2"], { as: "bob" });
    expect((await run("qselect", [])).out).toBe("1.casper\n3.casper\n");
    expect((await run("qselect", ["-x", "-s", "F"])).out).toBe("2.casper\n");
  });

  it("refuses what it does not know, with a usage line", async () => {
    const r = await run("qselect", ["-l", "ncpus>4"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("illegal -l value: ncpus>4");
    expect((await run("qselect", ["-Z"])).code).toBe(2);
    expect((await run("qselect", ["-s", "QZ"])).code).toBe(2);
  });
});

describe("qsig, qorder, qrun", () => {
  it("qsig sends the signal; an unknown one exits with PBS's code", async () => {
    const j = await startJob(s, "alice");
    expect(await run("qsig", ["-s", "USR1", j.id])).toEqual({ code: 0, out: "", err: "" });
    expect(s.executor.signals.map((x) => x.signal)).toEqual(["SIGUSR1"]);
    const bad = await run("qsig", ["-s", "NOPE", j.id]);
    expect(bad.err).toBe("qsig: Unknown/illegal signal name NOPE\n");
    expect(bad.code).toBe(15013 & 0xff);
  });

  it("qorder swaps two queued jobs; qrun needs a manager", async () => {
    await s.setAttrs("queue", "casper", { started: false });
    await s.submit("alice", "true\n");
    s.clock.advance(1000);
    await s.submit("alice", "true\n");
    expect((await run("qorder", ["1", "2"])).code).toBe(0);
    const denied = await run("qrun", ["1"]);
    expect(denied.code).toBe(15007 & 0xff);
    expect(denied.err).toBe("qrun: Unauthorized Request  1.casper\n");
    expect((await run("qrun", ["-H", "n2", "2"], { as: "root" })).code).toBe(0);
    expect((await s.job("2")).execHost).toMatch(/^n2\//);
  });
});

describe("qdel -x and -W force", () => {
  it("-x removes a finished job's history; without it PBS's 'Job has finished'", async () => {
    await s.submit("alice", "true\n");
    await run("qdel", ["1"]);
    const again = await run("qdel", ["1"]);
    expect(again.err).toBe("qdel: Job has finished 1.casper\n");
    expect(again.code).toBe(15139 & 0xff);
    expect((await run("qdel", ["-x", "1"], { as: "bob" })).code).toBe(15007 & 0xff);
    expect((await run("qdel", ["-x", "1"])).code).toBe(0);
    const gone = await run("qstat", ["-x", "1"]);
    expect(gone.err).toBe("qstat: Unknown Job Id 1.casper\n");
  });

  it("-W force by a manager ends a running job at once, without its MOM's word", async () => {
    const j = await startJob(s, "alice");
    expect((await run("qdel", ["-W", "force", j.id], { as: "root" })).code).toBe(0);
    expect(await s.job(j.id)).toMatchObject({ state: "F" });
    // by its owner, with a MOM that answers, it is a plain delete: the obituary ends it
    const k = await startJob(s, "alice");
    await run("qdel", ["-W", "force", k.id]);
    expect(await s.job(k.id)).toMatchObject({ state: "R", delReq: true });
    expect((await run("qdel", ["-W", "bogus", k.id])).code).toBe(2);
  });
});
