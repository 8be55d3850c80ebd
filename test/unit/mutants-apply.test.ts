/**
 * The mutation checks (scripts/domain-mutants.sh, scripts/mutants.sh) patch a copy of the tree
 * and expect the tests to go red. A patch whose code moved no longer applies, and the check
 * reports NO-APPLY only when someone runs it: eleven had rotted unnoticed (2026-12-04). Here every
 * patch must still apply to the tree as it is, so a refactor carries its mutants along
 * (test/unit/mutants/MUTANTS.md). Whether each is still killed is the scripts' job (minutes).
 */
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");
const dirs = [
  "test/unit/mutants",
  "test/unit/mutants/equivalent",
  "test/unit/peers/mutants",
  "test/unit/peers/mutants/equivalent",
];
const patches = dirs.flatMap((d) =>
  fs.existsSync(path.join(root, d))
    ? fs
        .readdirSync(path.join(root, d))
        .filter((f) => f.endsWith(".patch"))
        .map((f) => `${d}/${f}`)
    : [],
);

describe("mutant patches", () => {
  it("there are some in each place", () => {
    for (const d of ["test/unit/mutants/", "test/unit/peers/mutants/"])
      expect(patches.filter((p) => p.startsWith(d)).length).toBeGreaterThan(5);
  });

  it.each(patches)("%s applies to the tree as it is", (p) => {
    // --check: nothing is written; the index is not needed (a clean clone or a working tree)
    const run = () =>
      execFileSync("git", ["apply", "--check", p], { cwd: root, encoding: "utf8", stdio: "pipe" });
    expect(run).not.toThrow();
  });
});
