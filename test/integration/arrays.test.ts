/**
 * Array subjobs addressed as PBS users address them, on the real local stack with the real
 * CLI: `qstat -J`, `qstat -t`, `qstat '12[3]'`, ranges, `qdel '12[3]'` of a subjob that has
 * not started (it never runs: its output file never appears), qhold of a subjob refused as
 * PBS refuses it, and the array's and subjobs' attributes in `qstat -f`.
 */
import fs from "node:fs";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { pbsExitOf } from "../../shared/pbs/errno.js";
import { idsOf, type Stack, startStack } from "./helpers.js";

let s: Stack;

beforeAll(async () => {
  s = await startStack();
}, 90_000);

afterAll(async () => {
  await s?.mq.stop();
});

describe("array subjobs", () => {
  it("qstat -J/-t and subjob IDs; qdel of a queued subjob means it never runs", async () => {
    // held, so every subjob is still queued when it is addressed; each takes a node
    const sub = await s.cli("qsub", ["-h", "-J", "1-5", "-N", "arr", "-l", "select=1:ncpus=4"], {
      input: "echo sub $PBS_ARRAY_INDEX\n",
    });
    expect(sub.stderr).toBe("");
    const id = sub.stdout.trim();
    const seq = id.split("[")[0];
    const plain = await s.cli("qsub", ["-h", "-N", "plain"], { input: "true\n" });
    const plainId = plain.stdout.trim();

    // qstat lists the array, not its subjobs; -J the arrays only; -t the subjobs too
    expect(idsOf((await s.cli("qstat", [])).stdout)).toEqual([id, plainId]);
    expect(idsOf((await s.cli("qstat", ["-J"])).stdout)).toEqual([id]);
    const sj = (i: number) => `${seq}[${i}].casper`;
    expect(idsOf((await s.cli("qstat", ["-t"])).stdout)).toEqual([
      id,
      sj(1),
      sj(2),
      sj(3),
      sj(4),
      sj(5),
      plainId,
    ]);
    expect(idsOf((await s.cli("qstat", ["-t", `${seq}[]`])).stdout)).toEqual([
      id,
      sj(1),
      sj(2),
      sj(3),
      sj(4),
      sj(5),
    ]);
    expect(idsOf((await s.cli("qstat", [`${seq}[2-4]`])).stdout)).toEqual([sj(2), sj(3), sj(4)]);
    const one = await s.cli("qstat", [`${seq}[3]`]);
    expect(one.stderr).toBe("");
    expect(one.stdout).toMatch(
      new RegExp(`^${seq}\\[3\\]\\.casper\\s+arr\\s+\\S+\\s+0\\s+H\\s+casper\\s*$`, "m"),
    );

    // PBS holds and alters the array, never one subjob
    const hold = await s.cli("qhold", [`${seq}[2]`]);
    expect(hold.stderr).toBe(`qhold: Invalid request ${seq}[2].casper\n`);
    expect(hold.code).toBe(pbsExitOf("IVALREQ"));

    const del = await s.cli("qdel", [`${seq}[3]`]);
    expect(del).toMatchObject({ code: 0, stderr: "" });
    expect((await s.cli("qstat", [`${seq}[3]`])).stdout).toMatch(/\sX\s+casper\s*$/m);
    expect((await s.cli("qdel", [plainId])).code).toBe(0);

    expect((await s.cli("qrls", [id])).code).toBe(0);
    await s.waitState(id, ["F"], 60_000);
    for (const i of [1, 2, 4, 5])
      expect(fs.readFileSync(path.join(s.dir, `arr.o${seq}.${i}`), "utf8")).toBe(`sub ${i}\n`);
    // index 3 never ran: no output file
    expect(fs.existsSync(path.join(s.dir, `arr.o${seq}.3`))).toBe(false);

    const parent = (await s.cli("qstat", ["-x", "-f", id])).stdout;
    expect(parent).toContain("array = True");
    expect(parent).toContain("array_indices_submitted = 1-5");
    expect(parent).toContain("array_state_count = Queued:0 Running:0 Exiting:0 Expired:5");
    expect(parent).toContain("Exit_status = 0");
    const f = (await s.cli("qstat", ["-x", "-f", `${seq}[4]`])).stdout;
    expect(f).toContain(`array_id = ${seq}[].casper`);
    expect(f).toContain("array_index = 4");
    const x = await s.cli("qstat", ["-x", "-t", `${seq}[]`]);
    expect(x.stdout).toMatch(new RegExp(`^${seq}\\[3\\]\\.casper\\s.*\\sX\\s+casper\\s*$`, "m"));
  }, 90_000);
});
