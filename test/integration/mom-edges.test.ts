/**
 * The push channel's edges (issue 12), on the local stack (DynamoDB Local, the SQS emulator,
 * child-process MOMs on the same channel as on AWS, the real CLI):
 *
 * - a MOM that refuses a pushed run (its node has no account for the job's user, a real check
 *   of the root MOM) answers with a signed refusal: the job is requeued with the MOM's reason
 *   (comment, tracejob), no R record, counted per node; refused again and again it is held
 *   (hold s, PBS's "job held, too many failed attempts to run"); the same refusal delivered
 *   again changes nothing;
 * - qsig and qdel of a run its MOM does not hold (claimed, never pushed: a run push lost): the
 *   MOM answers a signed `norun`, the job's trace says so, and for the qdel the sweeper's
 *   lost-run check ends the job as deleted.
 */
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ensureCredential } from "../../infra/local/credentials.js";
import { momKey, signReport } from "../../shared/auth/mom-report.js";
import { refusalObituary, RunRefusedError } from "../../shared/exec/refusal.js";
import { claim } from "../../shared/scheduler/cycle.js";
import { keyOfId } from "../../shared/server/mutate.js";
import type { LocalSite } from "../../infra/local/runtime.js";
import { type CliIdentity, type Stack, startStack } from "./helpers.js";

const asRoot = process.getuid?.() === 0;
const GHOST = "mqghost";
const MAX = 3;
let s: Stack;
let site: LocalSite;
let ghost: CliIdentity;

beforeAll(async () => {
  // the lost-run check waits 8 s: time for a MOM's norun to arrive first, even on a loaded machine
  s = await startStack(undefined, undefined, {
    tickMs: 300,
    settings: { maxRunRefusals: MAX, momStaleMs: 8000, dispatchGraceMs: 8000 },
  });
  site = s.mq.sites[0];
  // a user the API knows (a credential) but no node has an account for
  ghost = {
    credential: ensureCredential(s.mq.credentials, GHOST, { file: path.join(s.dir, "ghost-credential") })
      .file,
  };
}, 90_000);
afterAll(async () => {
  await s?.mq.stop();
});

const until = async (what: string, ok: () => Promise<boolean>, ms = 30_000) => {
  for (const end = Date.now() + ms; Date.now() < end; ) {
    if (await ok()) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out: ${what}`);
};
const job = (id: string) => site.ctx.store.getJob(keyOfId(id, site.ctx.site.short));
const trace = async (id: string) => (await s.cli("tracejob", [id])).stdout;
const today = () => new Date().toISOString().slice(0, 10);

describe.runIf(asRoot)("a MOM that refuses a pushed run", () => {
  it("requeues the job with the MOM's reason, holds it after maxRunRefusals, writes no R record", async () => {
    const sub = await s.cli("qsub", ["-l", "select=1:host=n1"], { input: "true\n", as: ghost });
    expect(sub.stderr).toBe("");
    const id = sub.stdout.trim();
    await s.waitState(id, ["H"], 60_000);
    expect(await s.attr(id, "comment")).toBe("job held, too many failed attempts to run");
    expect(await s.attr(id, "Hold_Types")).toBe("s");
    const j = await job(id);
    expect(j?.refusals).toBe(MAX);
    expect(j?.runCount).toBe(MAX);
    const tj = await trace(id);
    const why = `refused the run (user): user ${GHOST} does not exist on this host`;
    // one requeue per refused run, with the MOM's reason; never "by qrerun"
    expect(tj.split("\n").filter((l) => l.includes(`Job requeued: MOM n1:`) && l.includes(why))).toHaveLength(
      MAX,
    );
    expect(tj).toContain(`Job held after ${MAX} refused runs`);
    expect(tj).not.toContain("qrerun");
    // accounting: a start per run (S), no rerun (R) and no end (E): nothing ran
    const recs = (await site.ctx.store.listAcct(today())).filter((r) => r.jobId === id);
    expect(recs.filter((r) => r.type === "R")).toEqual([]);
    expect(recs.filter((r) => r.type === "E")).toEqual([]);
    // counted per node and reason
    const counted = Object.entries(site.metrics.totals)
      .filter(([k]) => k.startsWith("RunsRefused|") && k.includes("node=n1") && k.includes("reason=user"))
      .reduce((n, [, v]) => n + v, 0);
    expect(counted).toBe(MAX);

    // the last refusal delivered again (signed anew, on the events queue): the run is settled,
    // nothing changes
    const momId = site.executor.momIdFor("n1");
    const obit = refusalObituary(
      { jobId: id, runCount: MAX, ncpus: 1 } as Parameters<typeof refusalObituary>[0],
      momId,
      new RunRefusedError("user", `user ${GHOST} does not exist on this host`),
      Date.now(),
    );
    const before = await job(id);
    await site.ctx.bus.send(
      site.ctx.queueUrls.events,
      [
        {
          body: JSON.stringify({
            type: "mom",
            ...signReport(momKey(site.ctx.momSecret as string, momId), momId, "obit", obit),
          }),
        },
      ],
      "test refusal",
    );
    await new Promise((r) => setTimeout(r, 2000));
    const after = await job(id);
    expect(after?.refusals).toBe(MAX);
    expect(after?.state).toBe("H");
    expect(after?.hist.length).toBe(before?.hist.length);
  }, 90_000);
});

/**
 * Claim a queued job on n1 without pushing its run (as a run push lost on the way would leave
 * it): the job is R under n1's MOM, which does not hold it. Its queue is stopped meanwhile
 * (qmgr), so the scheduler does not start the job first.
 */
async function claimedNotPushed(body: string): Promise<string> {
  const started = (on: boolean) => s.cli("qmgr", ["-c", `set queue casper started = ${on}`]);
  expect((await started(false)).code).toBe(0);
  try {
    const r = await s.cli("qsub", ["-l", "select=1:host=n1"], { input: body });
    expect(r.stderr).toBe("");
    const id = r.stdout.trim();
    const cur = await job(id);
    if (!cur) throw new Error(`${id} not found`);
    const run = await claim(
      site.ctx,
      cur,
      { jobId: id, ver: cur.ver, alloc: [{ node: "n1", ncpus: 1, mem: 0, ngpus: 0 }] },
      Date.now(),
    );
    expect(run?.state).toBe("R");
    return id;
  } finally {
    expect((await started(true)).code).toBe(0);
  }
}

describe("qsig and qdel of a run the MOM does not hold", () => {
  it("qsig: the MOM answers norun, and tracejob shows the signal was not delivered", async () => {
    const id = await claimedNotPushed("true\n");
    const q = await s.cli("qsig", ["-s", "USR1", id]);
    // the push reached the MOM's connection: qsig cannot wait for its answer (see mom-norun.ts)
    expect(q).toMatchObject({ code: 0, stderr: "" });
    await until("norun recorded", async () =>
      (await trace(id)).includes("does not hold run 1: signal SIGUSR1 not delivered"),
    );
    expect(Object.keys(site.metrics.totals).some((k) => k.startsWith("MomNoSuchRun|"))).toBe(true);
    // the lost run is then found by the sweeper (its MOM's beats never list it) and requeued
    await until("requeued by the sweeper", async () =>
      /Job requeued: MOM n1:\S+ (does not know the job|went silent)/.test(await trace(id)),
    );
  }, 60_000);

  it("qdel: the MOM answers norun, and the sweeper's lost-run check ends the job as deleted", async () => {
    const id = await claimedNotPushed("sleep 100\n");
    expect(await s.cli("qdel", [id])).toMatchObject({ code: 0, stderr: "" });
    await until("norun recorded", async () =>
      (await trace(id)).includes("does not hold run 1: kill not delivered"),
    );
    await s.waitState(id, ["F"], 30_000);
    // the lost-run check judged it (an idle MOM beats seldom: "went silent" may come first)
    expect(await s.attr(id, "comment")).toMatch(
      /^Job deleted; its MOM was lost \(MOM n1:\S+ (does not know the job|went silent)/,
    );
    // ended once: one D record
    const recs = (await site.ctx.store.listAcct(today())).filter((r) => r.jobId === id);
    expect(recs.filter((r) => r.type === "D")).toHaveLength(1);
  }, 60_000);
});
