/**
 * The job item's packed cold fields (shared/adapters/dynamodb/job-pack.ts): a realistic finished
 * job is stored under 1 KB (1 WRU a write, not 2) and reads back whole; an item in the shape of
 * an earlier version (cold fields inline, no `z`) reads as it did and takes the packed shape at
 * its first write that changes a cold field; a write from a partial record (an index row) never
 * rebuilds `z` from what it lacks.
 */
import { describe, expect, it } from "vitest";
import { itemSize } from "../../../shared/adapters/dynamodb/item-size.js";
import {
  buildJobUpdate,
  jobItem,
  storedJobItem,
  stripItem,
} from "../../../shared/adapters/dynamodb/items.js";
import { COLD_FIELDS, PACKED, pack, unpack } from "../../../shared/adapters/dynamodb/job-pack.js";
import { siteTableDefinition } from "../../../shared/adapters/dynamodb/table.js";
import { StoreError } from "../../../shared/errors.js";
import type { JobRecord } from "../../../shared/server/job.js";
import { jobRecord } from "../../fixtures/job.js";

const dir = "/home/jdoe/runs/ensemble_b.e21.BHISTcmip6";
/** A finished job as qsub and a run leave it: PBS_O_* environment, three trace events. */
const finished: JobRecord = jobRecord(3, {
  state: "F",
  name: "wrf_postproc_ensemble_member",
  account: "UCSD0042",
  submitDir: dir,
  outPath: `${dir}/wrf_postproc_ensemble_member.o3`,
  errPath: `${dir}/wrf_postproc_ensemble_member.e3`,
  join: "oe",
  env: {
    PBS_O_HOME: "/home/jdoe",
    PBS_O_LANG: "en_US.UTF-8",
    PBS_O_LOGNAME: "jdoe",
    PBS_O_MAIL: "/var/spool/mail/jdoe",
    PBS_O_PATH:
      "/opt/conda/bin:/home/jdoe/bin:/usr/local/bin:/usr/bin:/usr/local/sbin:/usr/sbin:/opt/pbs/bin",
    PBS_O_SHELL: "/bin/bash",
    PBS_O_TZ: "America/Denver",
    PBS_O_SYSTEM: "Linux",
    PBS_O_HOST: "login1",
    PBS_O_WORKDIR: dir,
    PBS_O_QUEUE: "workq",
    ENSEMBLE_MEMBER: "07",
    CASE: "b.e21.BHISTcmip6.f09_g17",
  },
  extra: { Mail_Points: "n", umask: "022" },
  rl: {
    ncpus: "1",
    mem: "2gb",
    walltime: "00:10:00",
    select: "1:ncpus=1:mem=2gb",
    place: "free",
    nodect: "1",
  },
  alloc: [{ node: "b1", ncpus: 1, mem: 2147483648, ngpus: 0 }],
  used: { cput: 0, walltime: 0, mem: 6356992, ncpus: 1 },
  execHost: "b1/0",
  execVnode: "(b1:ncpus=1:mem=2097152kb)",
  momId: "b1:c0ac6cd4640a",
  comment: "Job run at Thu Dec 03 at 06:40 on (b1:ncpus=1:mem=2097152kb) and finished",
  delivered: { o: `${dir}/wrf_postproc_ensemble_member.o3`, e: `${dir}/wrf_postproc_ensemble_member.e3` },
  hist: [
    {
      time: 1796280016318,
      source: "S",
      message: `Job Queued at request of jdoe@login1, owner = jdoe@login1, job name = wrf_postproc_ensemble_member, queue = workq`,
    },
    { time: 1796280016833, source: "L", message: "Job run on (b1:ncpus=1:mem=2097152kb)" },
    {
      time: 1796280017815,
      source: "S",
      message:
        "Exit_status=0 resources_used.walltime=00:00:00 resources_used.cput=00:00:00 resources_used.mem=6208kb",
    },
  ],
  stime: 1796280016833,
  obittime: 1796280017815,
  exitStatus: 0,
  runCount: 1,
  ver: 2,
});
const { script: _s, ...whole } = finished;

/** The item after `u` is applied to `item` (SET and REMOVE as DynamoDB applies them). */
function apply(item: Record<string, unknown>, u: ReturnType<typeof buildJobUpdate>): Record<string, unknown> {
  const names = u.ExpressionAttributeNames as Record<string, string>;
  const values = u.ExpressionAttributeValues as Record<string, unknown>;
  const [setPart, removePart] = (u.UpdateExpression as string).slice(4).split(" REMOVE ");
  const out = { ...item };
  for (const s of setPart.split(", ")) {
    const [n, v] = s.split(" = ");
    if (n === "#ver") out.ver = (out.ver as number) + 1;
    else out[names[n]] = values[v];
  }
  for (const n of removePart?.split(", ") ?? []) delete out[names[n]];
  return out;
}

describe("packed job item", () => {
  it("stores a realistic finished job under 1 KB and reads it back whole", () => {
    const { script: _x, ...raw } = jobItem(finished);
    expect(itemSize(raw)).toBeGreaterThan(1500);
    const stored = storedJobItem(finished);
    expect(itemSize(stored)).toBeLessThan(1024);
    for (const f of COLD_FIELDS) expect(stored).not.toHaveProperty(f);
    expect(stripItem(stored)).toEqual(whole);
  });

  it("packs only fields no index projects (a projected attribute must be on the item itself)", () => {
    for (const idx of siteTableDefinition.indexes)
      if (idx.projection !== "ALL") for (const f of COLD_FIELDS) expect(idx.projection).not.toContain(f);
  });

  it("reads an item of the earlier shape (inline) and converts it at its first cold write", () => {
    const { script: _x, ...old } = jobItem({ ...finished, state: "R", obittime: undefined });
    const before = stripItem(old);
    expect(before.env).toEqual(finished.env);
    const after: JobRecord = { ...before, comment: "ended", state: "F", hist: [...before.hist] };
    const next = apply(old, buildJobUpdate("t", before, after));
    for (const f of COLD_FIELDS) expect(next).not.toHaveProperty(f);
    expect(next[PACKED]).toBeInstanceOf(Uint8Array);
    expect(stripItem(next)).toMatchObject({
      comment: "ended",
      env: finished.env,
      name: finished.name,
      ver: 3,
    });
  });

  it("leaves `z` alone when no cold field changes", () => {
    const stored = storedJobItem(finished);
    const before = stripItem(stored);
    const u = buildJobUpdate("t", before, { ...before, used: { ...before.used, mem: 1 } } as JobRecord);
    expect(Object.values(u.ExpressionAttributeNames ?? {})).not.toContain(PACKED);
  });

  it("writes a cold field from a partial record inline, where it wins over `z`", () => {
    const stored = storedJobItem({ ...finished, state: "R" });
    // a run-index row: no trace, no environment
    const row = { ...stripItem(stored) } as Partial<JobRecord>;
    for (const f of COLD_FIELDS) delete row[f];
    const u = buildJobUpdate("t", row as JobRecord, { ...(row as JobRecord), comment: "lost" });
    expect(Object.values(u.ExpressionAttributeNames ?? {})).not.toContain(PACKED);
    const next = apply(stored, u);
    expect(stripItem(next)).toMatchObject({ comment: "lost", env: finished.env, hist: finished.hist });
    // and a later whole write folds it back into `z`
    const again = stripItem(next);
    const last = apply(next, buildJobUpdate("t", again, { ...again, name: "renamed" }));
    expect(last).not.toHaveProperty("comment");
    expect(stripItem(last)).toMatchObject({ comment: "lost", name: "renamed", env: finished.env });
  });

  it("refuses a format it does not know rather than read it as empty", () => {
    const z = pack(whole);
    z[0] = 9;
    expect(() => unpack(z)).toThrow(StoreError);
  });
});
