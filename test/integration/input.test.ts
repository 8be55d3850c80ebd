/**
 * Issue 10, part 7, on the real local stack with the real CLI: bad input gets a clear PBS
 * error and stores nothing; a job near the limit stays manageable; the array ID qsub prints
 * works in every command; empty scripts and control characters are refused.
 */
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readCredentialFile } from "../../shared/auth/credential-file.js";
import { StoreError } from "../../shared/errors.js";
import type { JobRecord } from "../../shared/server/job.js";
import { script, type Stack, startStack } from "./helpers.js";

let s: Stack;

beforeAll(async () => {
  s = await startStack();
}, 120_000);

afterAll(async () => {
  await s?.mq.stop();
});

/** Every job the site has, active or finished (qstat -x), by ID. */
async function allJobs(): Promise<string[]> {
  const r = await s.cli("qstat", ["-x", "-F", "json"]);
  expect(r.code, r.stderr).toBe(0);
  return Object.keys(JSON.parse(r.stdout).Jobs ?? {}).sort();
}

/** `-v` options whose values add up to about `kb` KB (64 KB per variable at most, as the API allows). */
function bigVars(kb: number, prefix = "BIG"): string[] {
  const args: string[] = [];
  for (let i = 0, left = kb; left > 0; i++, left -= 60)
    args.push("-v", `${prefix}${i}=${"x".repeat(Math.min(60, left) * 1024)}`);
  return args;
}

async function api(method: string, p: string, body?: unknown): Promise<{ status: number; json: unknown }> {
  const token = readCredentialFile(s.credential) as string;
  const res = await fetch(`${s.mq.sites[0].url}${p}`, {
    method,
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: res.status, json: await res.json() };
}

describe("size limits", () => {
  it("a 420 KB -v is refused by qsub with a clear error and exit code, and no job is created", async () => {
    const before = await allJobs();
    const r = await s.cli("qsub", [...bigVars(420), "--", "/bin/true"]);
    expect(r.stderr).toMatch(
      /^qsub: Job too large: 42\d KB \(script 1 KB, variables 42\d KB\); the limit is 300 KB\n$/,
    );
    expect(r.code).toBe(166);
    expect(r.stdout).toBe("");
    expect(await allJobs()).toEqual(before);
  });

  it("the API answers 413 JSON with the PBS message", async () => {
    const vars: Record<string, string> = {};
    for (let i = 0; i < 7; i++) vars[`V${i}`] = "y".repeat(60 * 1024);
    const r = await api("POST", "/v1/jobs", {
      script: "true\n",
      submitDir: s.dir,
      options: { variables: vars },
    });
    expect(r.status).toBe(413);
    expect(r.json).toMatchObject({ error: { code: "JobTooLarge", exitCode: 166 } });
  });

  it("a job near the limit can still be held, released, altered and deleted", async () => {
    const r = await s.cli("qsub", ["-h", ...bigVars(270), "--", "/bin/sleep", "30"]);
    expect(r.code, r.stderr).toBe(0);
    const id = r.stdout.trim();
    for (const [cmd, args] of [
      ["qhold", ["-h", "o", id]],
      ["qrls", ["-h", "u", id]],
      ["qalter", ["-N", "still_fine", id]],
      ["qrls", ["-h", "o", id]],
      ["qdel", [id]],
    ] as [string, string[]][]) {
      const out = await s.cli(cmd, args);
      expect(out.code, `${cmd} ${args.join(" ")}: ${out.stderr}`).toBe(0);
    }
    expect(await s.waitState(id, ["F"])).toBe("F");
    // qalter that would take it over the limit is refused, with the same message style
    const r2 = await s.cli("qsub", ["-h", ...bigVars(270), "--", "/bin/true"]);
    const id2 = r2.stdout.trim();
    const alt = await s.cli("qalter", [...bigVars(60, "MORE"), id2]);
    expect(alt.stderr).toMatch(/^qalter: Job after qalter too large: /);
    expect(alt.code).toBe(166);
    expect((await s.cli("qdel", [id2])).code).toBe(0);
  }, 60_000);

  it("on DynamoDB Local, an update past 400 KB is a JobTooLarge StoreError (not a conflict) and the job stays deletable", async () => {
    const ctx = s.mq.sites[0].ctx;
    const r = await s.cli("qsub", ["-h", "--", "/bin/true"]);
    const id = r.stdout.trim();
    const key = id.split(".")[0];
    const cur = (await ctx.store.getJob(key)) as JobRecord;
    // random text: the job item's cold fields are stored deflated (job-pack.ts), so a repeated
    // character would shrink far below the limit
    const huge: JobRecord = { ...cur, env: { ...cur.env, HUGE: randomBytes(600 * 1024).toString("base64") } };
    const err = await ctx.store.updateJob(cur, huge).catch((e) => e);
    expect(err).toBeInstanceOf(StoreError);
    expect(err.code).toBe("JobTooLarge");
    expect(err.status).toBe(413);
    // the job was not changed, and qdel works at once (no "changing too fast")
    expect((await ctx.store.getJob(key))?.ver).toBe(cur.ver);
    const del = await s.cli("qdel", [id]);
    expect(del.code, del.stderr).toBe(0);
    expect(await s.attr(id, "job_state")).toBe("F");
  });
});

describe("array IDs in every command", () => {
  it("qhold, qrls, qalter, qmove, qstat and qdel take 750[].casper; qdel of a queued subjob deletes it", async () => {
    const sub = await s.cli("qsub", ["-h", "-J", "1-4", "--", "/bin/true"]);
    expect(sub.code, sub.stderr).toBe(0);
    const id = sub.stdout.trim();
    expect(id).toMatch(/^\d+\[\]\.casper$/);
    const seq = id.split("[")[0];
    for (const [cmd, args] of [
      ["qstat", [id]],
      ["qstat", [`${seq}[]`]],
      ["qhold", ["-h", "o", id]],
      ["qrls", ["-h", "u", `${seq}[]`]],
      ["qalter", ["-N", "arr", id]],
      ["qmove", ["casper", id]],
      ["qdel", [`${seq}[2].casper`]],
    ] as [string, string[]][]) {
      const out = await s.cli(cmd, args);
      expect(out.code, `${cmd} ${args.join(" ")}: ${out.stderr}`).toBe(0);
    }
    expect(await s.attr(id, "Job_Name")).toBe("arr");
    expect(await s.attr(id, "array_indices_remaining")).toBe("1,3-4");
    // a subjob that has not started shows as its array does (held here); a deleted one is X
    expect(await s.attr(`${seq}[3].casper`, "job_state")).toBe("H");
    expect(await s.attr(`${seq}[3].casper`, "array_id")).toBe(id);
    expect(await s.attr(`${seq}[2].casper`, "job_state")).toBe("X");
    // PBS holds the array, never one subjob (PBSE_IVALREQ)
    const hold = await s.cli("qhold", [`${seq}[3].casper`]);
    expect(hold.stderr).toBe(`qhold: Invalid request ${seq}[3].casper\n`);
    expect(hold.code).toBe(156);
    // released, the three remaining subjobs run and the array ends
    expect((await s.cli("qrls", ["-h", "o", id])).code).toBe(0);
    expect(await s.waitState(id, ["F"], 60_000)).toBe("F");
    // the three that ran and the one deleted before it started
    expect(await s.attr(id, "array_state_count")).toMatch(/Expired:4/);
    expect(await s.attr(`${seq}[2].casper`, "job_state")).toBe("X");
  }, 90_000);
});

describe("empty scripts and control characters", () => {
  it("an empty script, or one with nothing to run, is refused and nothing is stored", async () => {
    const before = await allJobs();
    const empty = await s.cli("qsub", [], { input: "" });
    expect(empty.stderr).toBe("qsub: script file is empty\n");
    expect(empty.code).toBe(156);
    const onlyDirectives = await s.cli("qsub", [
      script(s.dir, "nothing.pbs", "#!/bin/bash\n#PBS -N nothing\n\n"),
    ]);
    expect(onlyDirectives.stderr).toMatch(/^qsub: script has no commands to run/);
    expect(onlyDirectives.code).toBe(156);
    const api1 = await api("POST", "/v1/jobs", { script: "  \n", submitDir: s.dir });
    expect(api1.status).toBe(400);
    expect(await allJobs()).toEqual(before);
  });

  it("a job name with a newline is refused by qsub, by the API and from a script file name", async () => {
    const before = await allJobs();
    const forged = "a\n12/02/2026 05:00:00  S    Job deleted at request of root";
    const r = await s.cli("qsub", ["-N", forged, "--", "/bin/true"]);
    expect(r.stderr).toMatch(/^qsub: illegal -N value/);
    expect(r.code).toBe(2);
    const viaApi = await api("POST", "/v1/jobs", {
      script: "true\n",
      submitDir: s.dir,
      options: { name: forged },
    });
    expect(viaApi.status).toBe(400);
    expect(viaApi.json).toMatchObject({ error: { code: "BadValue" } });
    expect(JSON.stringify(viaApi.json)).toMatch(/contains a control character \(U\+000A at 2\)/);
    const file = path.join(s.dir, "x\n12 S forged.sh");
    fs.writeFileSync(file, "true\n");
    const byName = await s.cli("qsub", [file]);
    expect(byName.stderr).toMatch(
      /^qsub: illegal script file name: contains a control character \(U\+000A at 2\)/,
    );
    expect(byName.code).toBe(2);
    for (const options of [
      { account: "A\rB" },
      { attributes: { comment: "x\x1b[2Jy" } },
      { mailUsers: "u\tv" },
    ]) {
      const bad = await api("POST", "/v1/jobs", { script: "true\n", submitDir: s.dir, options });
      expect(bad.status, JSON.stringify(options)).toBe(400);
    }
    expect(await allJobs()).toEqual(before);
  });

  it("qalter and qmgr refuse control characters too, and tracejob shows one line per event", async () => {
    const r = await s.cli("qsub", ["-h", "-N", "clean", "--", "/bin/true"]);
    const id = r.stdout.trim();
    const alt = await api("PATCH", `/v1/jobs/${encodeURIComponent(id)}`, { options: { name: "x\ny" } });
    expect(alt.status).toBe(400);
    const mgr = await s.cli("qmgr", ["-c", 'set server comment = "a\x1b[31mb"']);
    expect(mgr.code).not.toBe(0);
    expect(mgr.stderr).toMatch(/control character/);
    const trace = await s.cli("tracejob", [id]);
    expect(trace.code, trace.stderr).toBe(0);
    const lines = trace.stdout.split("\n").filter((l) => /^\d\d\/\d\d\/\d{4} /.test(l));
    expect(lines.length).toBeGreaterThan(0);
    expect(trace.stdout).toMatch(/job name = clean,/);
    expect((await s.cli("qdel", [id])).code).toBe(0);
  });
});
