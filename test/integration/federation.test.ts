/**
 * Peer scheduling on the local stack with real parts: casper fills up, derecho pulls its overflow
 * (OFFER -> FORWARD -> ACCEPT -> COMMIT), runs it, and sends the end and the usage back. The
 * job keeps the ID qsub printed at both sites: the origin lists it under that ID with its live
 * state at the peer (and its server there); qdel at the origin reaches the job at the peer;
 * the receive policy and the acid mapper refuse what they must; accounting agrees at both ends.
 */
import fs from "node:fs";
import os from "node:os";
import { afterAll, afterEach, beforeAll, describe, expect, it, onTestFinished } from "vitest";
import type { LocalMetaqueue } from "../../infra/local/runtime.js";
import { readCredentialFile } from "../../shared/auth/credential-file.js";
import { parseConfig } from "../../shared/config/site-config.js";
import { type Stack, startStack } from "./helpers.js";

let stack: Stack;
let mq: LocalMetaqueue;
let dir: string;
let credential: string;

const config = parseConfig({
  defaultSite: "casper",
  sites: [
    {
      name: "casper",
      server: "casper-pbs",
      queues: [{ name: "casper", attributes: { "resources_max.walltime": "02:00:00" } }],
      nodes: [{ name: "c1", ncpus: 2, mem: "4gb" }],
    },
    {
      name: "gust",
      server: "gust-pbs",
      queues: [{ name: "gpu", attributes: { "resources_max.walltime": "01:00:00" } }],
      nodes: [{ name: "g1", ncpus: 1, mem: "4gb" }],
      federation: {
        pull: [{ queue: "gpu", from: "casper@casper-pbs" }],
        peers: { casper: { accounts: { NCAR0001: "GUST0001" } } },
      },
    },
    {
      name: "derecho",
      server: "desched1",
      queues: [{ name: "main", attributes: { "resources_max.walltime": "01:00:00" } }],
      nodes: [{ name: "d1", ncpus: 4, mem: "8gb" }],
      federation: {
        pull: [{ queue: "main", from: "casper@casper-pbs" }],
        peers: {
          casper: { accounts: { NCAR0001: "DERE0001" }, users: { "*": os.userInfo().username } },
        },
      },
    },
  ],
});

const cli = (cmd: string, args: string[], input?: string) =>
  stack.cli(cmd, args, input === undefined ? {} : { input });

/** The job's attributes as the origin stores them (no following). */
async function raw(id: string): Promise<Record<string, unknown>> {
  return rawAt(id.slice(id.indexOf(".") + 1), id);
}

/** The job's attributes at one site (a moved job has the same ID at its origin and where it runs). */
async function rawAt(short: string, id: string): Promise<Record<string, unknown>> {
  const site = mq.sites.find((s) => s.ctx.site.short === short);
  if (!site) throw new Error(`no site ${short}`);
  const r = await fetch(`${site.url}/v1/jobs/${encodeURIComponent(id)}?history=true`, {
    headers: { authorization: `Bearer ${readCredentialFile(credential)}` },
  });
  const body = (await r.json()) as { job: { attributes: Record<string, unknown> } };
  return body.job.attributes;
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 40_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try {
      const v = await f();
      if (v !== undefined && v !== false) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what} ${last ? String(last) : ""}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function qsub(args: string[], body = "#!/bin/bash\necho hello from $(hostname) $PBS_JOBID\n") {
  const r = await cli("qsub", args, body);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

beforeAll(async () => {
  stack = await startStack(undefined, config, {
    tickMs: 300,
    settings: { transferResendMs: 1000, transferTimeoutMs: 8000, offerIntervalMs: 200, peerStaleMs: 3000 },
  });
  ({ mq, dir, credential } = stack);
}, 90_000);
afterAll(async () => {
  await mq?.stop();
});

/** Every job casper holds that is not finished or gone elsewhere. */
async function unfinishedAtCasper(): Promise<string[]> {
  const r = await cli("qstat", ["-x", "-F", "json", "@casper-pbs"]);
  const jobs = (JSON.parse(r.stdout).Jobs ?? {}) as Record<
    string,
    { job_state?: string; exec_site?: string }
  >;
  return Object.keys(jobs).filter((id) => jobs[id].job_state !== "F" && jobs[id].exec_site === undefined);
}

/** The site a job moved to, once it has (the origin's record says where it runs). */
async function movedTo(id: string): Promise<string | undefined> {
  const a = await raw(id);
  return typeof a.exec_site === "string" && a.exec_site !== "casper" ? a.exec_site : undefined;
}

describe("pull when busy", () => {
  // Casper's two CPUs are taken by pinned sleepers for the whole group (pinned: a peer must not
  // take them), so each test's jobs overflow; no test relies on another's jobs.
  let fillers: string[] = [];
  beforeAll(async () => {
    await until("casper idle", async () => ((await unfinishedAtCasper()).length === 0 ? true : undefined));
    fillers = [];
    for (let i = 0; i < 2; i++)
      fillers.push(
        await qsub(
          ["-W", "pinned=true", "-l", "select=1:ncpus=1", "-l", "walltime=00:05:00"],
          "#!/bin/bash\nsleep 300\n",
        ),
      );
    await until("fillers running", async () => {
      for (const f of fillers) if ((await raw(f)).job_state !== "R") return undefined;
      return true;
    });
  }, 60_000);
  afterAll(async () => {
    if (fillers.length) await cli("qdel", fillers);
  });

  /**
   * Four overflow jobs charged to NCAR0001, run once for whichever test asks first: each moves
   * (keeping its ID, which the puller runs it under), finishes there, and its end comes back.
   */
  let overflow: Promise<Overflow> | undefined;
  interface Overflow {
    moved: string[];
    /** where each ran */
    sites: string[];
    peerEnds: Record<string, unknown>[];
    originEnds: Record<string, unknown>[];
  }
  const overflowed = () => {
    overflow ??= (async () => {
      const moved: string[] = [];
      for (let i = 0; i < 4; i++)
        moved.push(
          await qsub([
            "-A",
            "NCAR0001",
            "-l",
            "select=1:ncpus=1",
            "-l",
            "walltime=00:05:00",
            "-N",
            `over${i}`,
          ]),
        );
      const sites = await Promise.all(moved.map((id) => until(`${id} moved`, () => movedTo(id))));
      const peerEnds = await Promise.all(
        moved.map((id, i) =>
          until(`${id} finished at ${sites[i]}`, async () => {
            const x = await rawAt(sites[i], id);
            return x.job_state === "F" ? x : undefined;
          }),
        ),
      );
      const originEnds = await Promise.all(
        moved.map((id) =>
          until(`${id} end recorded`, async () => {
            const x = await raw(id);
            return x.Exit_status !== undefined ? x : undefined;
          }),
        ),
      );
      return { moved, sites, peerEnds, originEnds };
    })();
    return overflow;
  };

  it("fills casper, and derecho pulls the overflow and runs it", async () => {
    const { moved, sites, peerEnds, originEnds } = await overflowed();
    // both pullers may take some: the one-CPU gust at most one at a time
    expect(sites).toHaveLength(4);
    for (const n of sites) expect(n).toMatch(/^(derecho|gust)$/);
    for (const [i, n] of sites.entries()) {
      const a = peerEnds[i];
      expect(a.origin_job).toBe(moved[i]);
      expect(a.exec_site).toBe(n);
      expect(a.Account_Name).toBe(n === "gust" ? "GUST0001" : "DERE0001");
      expect(a.Exit_status).toBe(0);
    }
    // the end comes back: the origin's record shows it finished, with the exit status (qstat -x)
    for (const [i, a] of originEnds.entries()) {
      expect(a.job_state).toBe("F");
      expect(a.Exit_status).toBe(0);
      expect(a.exec_site).toBe(sites[i]);
    }
    // output landed where PBS puts it: the submit directory, named after the origin's job
    const outs = fs.readdirSync(dir).filter((f) => /^over\d\.o\d+$/.test(f));
    expect(outs.sort()).toEqual(moved.map((id, i) => `over${i}.o${id.split(".")[0]}`).sort());
  }, 90_000);

  it("qstat and tracejob know the job by its ID at both sites", async () => {
    const { moved, sites } = await overflowed();
    const peerServer = sites[0] === "gust" ? "gust-pbs" : "desched1";
    const r = await cli("qstat", ["-x", "-f", "-F", "json", moved[0]]);
    expect(r.code).toBe(0);
    const [[id, a]] = Object.entries(JSON.parse(r.stdout).Jobs) as [string, Record<string, unknown>][];
    expect(id).toBe(moved[0]);
    expect(a.server).toBe(peerServer);
    // the same ID at the site that ran it
    const atPeer = await rawAt(sites[0], moved[0]);
    expect(atPeer.origin_job).toBe(moved[0]);
    const t = await cli("tracejob", [moved[0]]);
    expect(t.stdout).toMatch(/moved to \w+@(desched1|gust-pbs)/);
    expect(t.stdout).toMatch(/received from casper-pbs/);
  }, 90_000);

  it("charges the usage to the project at its home site; both ends agree to the second", async () => {
    const { moved, sites } = await overflowed();
    const site = (n: string) => mq.sites.find((s) => s.ctx.site.short === n);
    // the charge is written with the end at each side, and overflowed() waited for both ends
    const home = await site("casper")?.ctx.store.getProject("NCAR0001");
    expect(home).toBeDefined();
    const report = await cli("metaqueue", ["accounting", "--project", "NCAR0001", "@casper"]);
    expect(report.code).toBe(0);
    for (const [peer, acct] of [
      ["derecho", "DERE0001"],
      ["gust", "GUST0001"],
    ]) {
      const there = await site(peer)?.ctx.store.getProject(acct);
      if (sites.includes(peer)) {
        // seconds may round to 0 for a short job: a number, equal at both ends, is what counts
        expect(home?.walltime[peer]).toBeTypeOf("number");
        expect(there?.walltime.for_casper).toBe(home?.walltime[peer]);
        expect(there?.coreSeconds.for_casper).toBe(home?.coreSeconds[peer]);
        // the report command shows the same numbers by site
        expect(report.stdout).toMatch(
          new RegExp(`NCAR0001\\s+casper\\s+${peer}\\s+-\\s+${home?.walltime[peer]}\\s`),
        );
      } else {
        // a peer that ran none of the jobs: charged nothing at either end
        expect(home?.walltime[peer]).toBeUndefined();
        expect(there?.walltime.for_casper).toBeUndefined();
      }
    }
    expect(home?.walltime.casper).toBeUndefined();
    // PBS accounting records at both ends: Q and M (and E with exec_site) at the origin; Q, S and E at the peer
    const day = new Date().toISOString().slice(0, 10);
    const recs = async (n: string) => (await site(n)?.ctx.store.listAcct(day)) ?? [];
    const [casperRecs, peerRecs] = [
      await recs("casper"),
      [...(await recs("derecho")), ...(await recs("gust"))],
    ];
    const first = moved[0];
    const types = casperRecs.filter((r) => r.jobId === first).map((r) => r.type);
    expect(types).toEqual(expect.arrayContaining(["Q", "M", "E"]));
    const e = casperRecs.find((r) => r.jobId === first && r.type === "E");
    expect(e?.data.exec_site).toBe(sites[0]);
    expect(e?.data.account).toBe("NCAR0001");
    // both sites' records name the job the same way
    expect(e?.data.exec_jobid).toBe(first);
    expect(peerRecs.filter((r) => r.jobId === first).map((r) => r.type)).toEqual(
      expect.arrayContaining(["Q", "S", "E"]),
    );
    expect(e?.data["resources_used.walltime"]).toMatch(/^\d+:\d\d:\d\d$/);
    expect(peerRecs.find((r) => r.jobId === first && r.type === "E")?.data["resources_used.walltime"]).toBe(
      e?.data["resources_used.walltime"],
    );
    // an allocation, once used up, refuses new work charged to the project with a clear error
    onTestFinished(async () => {
      await cli("qmgr", ["-c", "unset project NCAR0001 allocation"]);
    });
    expect((await cli("qmgr", ["-c", "set project NCAR0001 allocation = 0"])).code).toBe(0);
    const refused = await cli("qsub", ["-A", "NCAR0001"], "true\n");
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/allocation of project NCAR0001 at casper is exhausted/);
    expect((await cli("qmgr", ["-c", "unset project NCAR0001 allocation"])).code).toBe(0);
  }, 90_000);

  it("a moved job keeps the ID qsub printed for its whole life: qstat R at the origin, PBS_JOBID, output name, qdel", async () => {
    const ids = [
      await qsub(
        ["-N", "keep", "-l", "select=1:ncpus=1", "-l", "walltime=00:05:00"],
        "#!/bin/bash\necho PBS_JOBID=$PBS_JOBID\nsleep 120\n",
      ),
    ];
    const id = ids[0];
    const site = await until(`${id} moved`, () => movedTo(id));
    const server = site === "gust" ? "gust-pbs" : "desched1";
    // the origin lists it under its ID, running (not M), with the server it runs on
    const live = await until(`${id} shown running at the origin`, async () => {
      const r = await cli("qstat", ["-f", "-F", "json", id]);
      const jobs = JSON.parse(r.stdout).Jobs as Record<string, Record<string, unknown>>;
      return jobs?.[id]?.job_state === "R" ? jobs[id] : undefined;
    });
    expect(live.server).toBe(server);
    expect(live.exec_site).toBe(site);
    // and in the site's listing (qstat @casper-pbs, default layout)
    const listing = await cli("qstat", ["-w", "@casper-pbs"]);
    expect(listing.stdout).toMatch(new RegExp(`^${id.replace(".", "\\.")}\\s.*\\sR\\s`, "m"));
    // a tool's poll as Parsl's PBS provider does: qstat -f -F json <ids>, keys matched to qsub's IDs
    const poll = JSON.parse((await cli("qstat", ["-f", "-F", "json", ...ids])).stdout).Jobs;
    for (const j of ids) expect(poll[j]?.job_state).toBe("R");
    // the peer runs it under the same ID
    expect((await rawAt(site, id)).job_state).toBe("R");
    const out = `${dir}/keep.o${id.split(".")[0]}`;
    await until(`${out} written`, async () =>
      fs.existsSync(out) && fs.readFileSync(out, "utf8").includes("PBS_JOBID") ? true : undefined,
    );
    expect(fs.readFileSync(out, "utf8")).toContain(`PBS_JOBID=${id}\n`);
    // qdel by that ID at the origin kills it at the peer
    const d = await cli("qdel", [id]);
    expect(d.stderr).toBe("");
    expect(d.code).toBe(0);
    await until(`${id} deleted at ${site}`, async () =>
      (await rawAt(site, id)).job_state === "F" ? true : undefined,
    );
    const a = await until(`${id} end recorded`, async () => {
      const x = await raw(id);
      return x.obittime !== undefined ? x : undefined;
    });
    expect(String(a.comment)).toMatch(/deleted/);
  }, 60_000);

  it("a job the receiver's policy refuses stays home with the reason", async () => {
    // derecho's main allows 1 hour; this job asks for 90 minutes
    const id = await qsub(["-l", "select=1:ncpus=1", "-l", "walltime=01:30:00"]);
    onTestFinished(async () => {
      await cli("qdel", [id]);
    });
    // both pullers refuse it (their queues allow one hour), and then nobody offers it again
    const t = await until(`${id} rejected twice`, async () => {
      const x = await cli("tracejob", [id]);
      return (x.stdout.match(/rejected/g) ?? []).length >= 2 ? x.stdout : undefined;
    });
    expect(t).toMatch(/resources_max\.walltime/);
    await until(`${id} back in the queue`, async () =>
      (await raw(id)).job_state === "Q" ? true : undefined,
    );
  }, 60_000);

  it("an account with no mapping at the receiver is refused, not run under the wrong project", async () => {
    const id = await qsub(["-A", "OTHER99", "-l", "select=1:ncpus=1", "-l", "walltime=00:05:00"]);
    onTestFinished(async () => {
      await cli("qdel", [id]);
    });
    const t = await until(`${id} rejected twice`, async () => {
      const x = await cli("tracejob", [id]);
      return (x.stdout.match(/rejected/g) ?? []).length >= 2 ? x.stdout : undefined;
    });
    expect(t).toMatch(/account OTHER99 of casper has no mapping/);
    await until(`${id} back in the queue`, async () =>
      (await raw(id)).job_state === "Q" ? true : undefined,
    );
  }, 60_000);

  it("a pinned job never leaves", async () => {
    const id = await qsub(["-W", "pinned=true", "-l", "select=1:ncpus=1", "-l", "walltime=00:05:00"]);
    // an unpinned job submitted after it shows the pullers were at work meanwhile
    const control = await qsub(["-l", "select=1:ncpus=1", "-l", "walltime=00:05:00"]);
    onTestFinished(async () => {
      await cli("qdel", [id, control]);
    });
    await until(`${control} moved`, () => movedTo(control));
    const a = await raw(id);
    expect(a.job_state).toBe("Q");
    expect(a.exec_site).toBeUndefined();
  }, 60_000);
});

describe("site states and health", () => {
  // Each test sets the federation states it needs; whatever happens, the next starts from all active.
  afterEach(async () => {
    mq.sites.find((x) => x.ctx.site.short === "derecho")?.resume();
    for (const server of ["desched1", "gust-pbs", "casper-pbs"])
      expect((await cli("qmgr", ["-c", "set server federation_state = active", server])).code).toBe(0);
  });

  it("metaqueue peers shows each peer connected", async () => {
    const r = await until("peers connected", async () => {
      const x = await cli("metaqueue", ["peers", "-F", "json", "@casper"]);
      const s = JSON.parse(x.stdout).sites[0];
      return s.peers.every((p: { state: string }) => p.state === "connected") ? s : undefined;
    });
    expect(r.peers.map((p: { site: string }) => p.site).sort()).toEqual(["derecho", "gust"]);
  });

  it("a peer that stops answering shows as disconnected; its transfer times out, returns, and never lands", async () => {
    const derecho = mq.sites.find((x) => x.ctx.site.short === "derecho");
    // nobody else may take the job meanwhile: casper runs nothing, gust offers nothing
    expect((await cli("qmgr", ["-c", "set server federation_state = down", "casper-pbs"])).code).toBe(0);
    expect((await cli("qmgr", ["-c", "set server federation_state = draining", "gust-pbs"])).code).toBe(0);
    await derecho?.pause();
    const id = await qsub(["-N", "stranded", "-l", "select=1:ncpus=1"]);
    expect((await cli("qmove", ["main@desched1", id])).code).toBe(0);
    expect((await raw(id)).job_state).toBe("T");
    await until(
      "derecho disconnected",
      async () => {
        const x = await cli("metaqueue", ["peers", "-F", "json", "@casper"]);
        const d = JSON.parse(x.stdout).sites[0].peers.find((p: { site: string }) => p.site === "derecho");
        return d.state === "disconnected" ? true : undefined;
      },
      20_000,
    );
    // the deadline (8 s) and the clock margin (5 s) pass: back in the queue, with the reason
    const t = await until(
      `${id} back from transit`,
      async () => {
        const x = await cli("tracejob", [id]);
        return /timed out/.test(x.stdout) ? x.stdout : undefined;
      },
      30_000,
    );
    expect(t).toMatch(/Transfer to derecho timed out; job back in queue/);
    expect((await raw(id)).job_state).toBe("Q");
    // derecho comes back and reads its old FORWARD (and the ABORT): too late, that transfer
    // creates nothing. (Back and active, derecho may pull the job again by a new transfer.)
    derecho?.resume();
    await until("derecho connected", async () => {
      const x = await cli("metaqueue", ["peers", "-F", "json", "@casper"]);
      const d = JSON.parse(x.stdout).sites[0].peers.find((p: { site: string }) => p.site === "derecho");
      return d.state === "connected" ? true : undefined;
    });
    for (const server of ["gust-pbs", "casper-pbs"])
      expect((await cli("qmgr", ["-c", "set server federation_state = active", server])).code).toBe(0);
    const home = await until(`${id} ran`, async () => {
      const x = await raw(id);
      return x.Exit_status !== undefined ? x : undefined;
    });
    // exactly one place: a copy at derecho only if the origin's record points at it
    const there = JSON.parse((await cli("qstat", ["-x", "-f", "-F", "json", "@desched1"])).stdout).Jobs ?? {};
    const copies = Object.keys(there).filter(
      (cid) => (there[cid] as { origin_job?: string }).origin_job === id,
    );
    if (home.exec_site === "derecho") expect(copies).toEqual([id]);
    else expect(copies).toEqual([]);
  }, 90_000);

  it("a draining site takes no work from peers, and says so", async () => {
    // casper down (runs nothing), both peers draining (they offer nothing): the job stays until pushed
    expect((await cli("qmgr", ["-c", "set server federation_state = down", "casper-pbs"])).code).toBe(0);
    expect((await cli("qmgr", ["-c", "set server federation_state = draining", "gust-pbs"])).code).toBe(0);
    expect((await cli("qmgr", ["-c", "set server federation_state = draining", "desched1"])).code).toBe(0);
    await until("derecho shown draining", async () => {
      const x = await cli("metaqueue", ["peers", "-F", "json", "@casper"]);
      const d = JSON.parse(x.stdout).sites[0].peers.find((p: { site: string }) => p.site === "derecho");
      return d.state === "draining" ? true : undefined;
    });
    const id = await qsub(["-l", "select=1:ncpus=1"]);
    const mv = await cli("qmove", ["main@desched1", id]);
    // qmove to a peer is a push: accepted for transfer, refused by the receiver's state
    expect(mv.code).toBe(0);
    await until(`${id} refused`, async () => {
      const x = await cli("tracejob", [id]);
      return /rejected: site desched1 is draining/.test(x.stdout) ? true : undefined;
    });
    await until(`${id} back home`, async () => ((await raw(id)).job_state === "Q" ? true : undefined));
    for (const s of ["desched1", "gust-pbs", "casper-pbs"])
      expect((await cli("qmgr", ["-c", "set server federation_state = active", s])).code).toBe(0);
    // and once the sites are active again it runs (here or at a peer)
    await until(`${id} ran`, async () => ((await raw(id)).Exit_status !== undefined ? true : undefined));
  }, 60_000);

  it("a down site runs nothing; its peers pull the queue, dependencies on moved jobs still work", async () => {
    expect((await cli("qmgr", ["-c", "set server federation_state = down", "casper-pbs"])).code).toBe(0);
    const parent = await qsub(
      ["-N", "sim", "-l", "select=1:ncpus=1"],
      "#!/bin/bash\nsleep 1; echo simulated\n",
    );
    const child = await qsub(["-N", "post", "-W", `depend=afterok:${parent}`, "-l", "select=1:ncpus=1"]);
    // casper has room but is down: the parent leaves, runs at a peer, and its end releases the child
    const pa = await until(`${parent} ended at a peer`, async () => {
      const x = await raw(parent);
      return x.exec_site !== undefined && x.Exit_status !== undefined ? x : undefined;
    });
    expect(pa.Exit_status).toBe(0);
    const ch = await until(`${child} moved and ran`, async () => {
      const x = await raw(child);
      return x.exec_site !== undefined && x.Exit_status !== undefined ? x : undefined;
    });
    expect(ch.Exit_status).toBe(0);
    expect((await cli("qmgr", ["-c", "set server federation_state = active", "casper-pbs"])).code).toBe(0);
  }, 90_000);
});
