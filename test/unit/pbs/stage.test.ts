/** `-W stagein/stageout` lists (shared/pbs/stage.ts) and the MOM's copies (shared/exec/stage.ts). */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { stageCopies, runCopies } from "../../../shared/exec/stage.js";
import { checkJobStartOptions } from "../../../shared/pbs/job-start.js";
import { applyQsubOption } from "../../../shared/pbs/qsub-options.js";
import { isLocalStageHost, parseStageList, remoteStageHost } from "../../../shared/pbs/stage.js";
import { expectParseError } from "./helpers.js";

describe("parseStageList", () => {
  it("reads execution_path@host:storage_path lists; an @ in a file name stays in it", () => {
    expect(parseStageList("in.dat@localhost:/data/in.dat,d/x@vm:rel/x", "stagein")).toEqual([
      { local: "in.dat", host: "localhost", remote: "/data/in.dat" },
      { local: "d/x", host: "vm", remote: "rel/x" },
    ]);
    expect(parseStageList("a@b.txt@h1:/s/a@b.txt", "stageout")).toEqual([
      { local: "a@b.txt", host: "h1", remote: "/s/a@b.txt" },
    ]);
  });

  it.each([
    ["justapath", "is not execution_path@host:storage_path"],
    ["a@host", "is not execution_path@host:storage_path"],
    ["@host:/x", "is not execution_path@host:storage_path"],
    ["a@host:", "is not execution_path@host:storage_path"],
    ["a@-h:/x", 'bad host "-h"'],
    ["a@h:/x,", "empty entry"],
    ["a@h:/x\nb", "control characters"],
  ])("refuses %j", (text, why) => {
    expectParseError(() => parseStageList(text, "stagein"), `-W stagein=${text}`);
    expectParseError(() => parseStageList(text, "stagein"), why);
  });

  it("qsub stores the list under PBS's name; the server refuses a bad list sent as JSON", () => {
    expect(applyQsubOption({}, "W", "StageIn=a@localhost:/a").attributes).toEqual({
      stagein: "a@localhost:/a",
    });
    expectParseError(() => applyQsubOption({}, "W", "stageout=nohost"), "-W stageout=nohost");
    expectParseError(
      () => checkJobStartOptions({ attributes: { StageOut: "x" } }, undefined),
      "-W stageout=x",
    );
    expect(() =>
      checkJobStartOptions({ attributes: { stagein: "a@localhost:/a" } }, undefined),
    ).not.toThrow();
  });

  it("only this host (its names, localhost) is a local copy", () => {
    expect(isLocalStageHost("localhost", "node7.example.org")).toBe(true);
    expect(isLocalStageHost("NODE7", "node7.example.org")).toBe(true);
    expect(isLocalStageHost("node7.example.org", "node7")).toBe(true);
    expect(isLocalStageHost("node8", "node7.example.org")).toBe(false);
    const why = remoteStageHost(parseStageList("a@localhost:/a,b@fs1:/b", "stagein"), "stagein", "node7");
    expect(why).toMatch(/storage host fs1 is not this host \(node7\)/);
  });
});

describe("the MOM's copies", () => {
  it("resolve execution paths from the start directory and storage paths from home", () => {
    expect(stageCopies("a@localhost:/s/a,d/b@localhost:rel/b", "stagein", "/w", "/home/u")).toEqual([
      { from: "/s/a", to: "/w/a" },
      { from: "/home/u/rel/b", to: "/w/d/b" },
    ]);
    expect(stageCopies("/abs/o@localhost:o", "stageout", "/w", "/home/u")).toEqual([
      { from: "/abs/o", to: "/home/u/o" },
    ]);
  });

  it("copy files and directories; a failure removes what this stage-in created, and checks every source first", async () => {
    const d = fs.mkdtempSync(path.join(os.tmpdir(), "mq-stage-"));
    try {
      fs.writeFileSync(path.join(d, "f"), "F\n");
      fs.mkdirSync(path.join(d, "tree/sub"), { recursive: true });
      fs.writeFileSync(path.join(d, "tree/sub/leaf"), "L\n");
      const ok = await runCopies(
        [
          { from: path.join(d, "f"), to: path.join(d, "f2") },
          { from: path.join(d, "tree"), to: path.join(d, "tree2") },
          // the same file on both sides: nothing to do
          { from: path.join(d, "f"), to: path.join(d, "f") },
        ],
        undefined,
        { undo: true },
      );
      expect(ok).toBeUndefined();
      expect(fs.readFileSync(path.join(d, "tree2/sub/leaf"), "utf8")).toBe("L\n");
      // a missing source: found before anything is copied
      const missing = await runCopies(
        [
          { from: path.join(d, "f"), to: path.join(d, "g") },
          { from: path.join(d, "nope"), to: path.join(d, "h") },
        ],
        undefined,
        { undo: true },
      );
      expect(missing).toMatch(/nope: No such file or directory/);
      expect(fs.existsSync(path.join(d, "g"))).toBe(false);
      // a copy that fails half-way (destination directory missing): the first copy is undone
      const half = await runCopies(
        [
          { from: path.join(d, "f"), to: path.join(d, "g") },
          { from: path.join(d, "f"), to: path.join(d, "no-dir/h") },
        ],
        undefined,
        { undo: true },
      );
      expect(half).toMatch(/no-dir\/h/);
      expect(fs.existsSync(path.join(d, "g"))).toBe(false);
      // stage-out keeps what it copied (nothing to restore: the job's files stay)
      await runCopies(
        [
          { from: path.join(d, "f"), to: path.join(d, "k") },
          { from: path.join(d, "f"), to: path.join(d, "no-dir/h") },
        ],
        undefined,
        { undo: false },
      );
      expect(fs.existsSync(path.join(d, "k"))).toBe(true);
    } finally {
      fs.rmSync(d, { recursive: true, force: true });
    }
  });
});
