/**
 * The layers, checked (.dependency-cruiser.cjs): no import cycle, the PBS vocabulary pure, the
 * domain and the ports free of adapters, shared/ free of entries. Runs the real
 * dependency-cruiser over the sources, as `npx depcruise` would.
 */
import { execFile } from "node:child_process";
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";

const root = path.resolve(import.meta.dirname, "../..");
const require = createRequire(import.meta.url);
const config = require(path.join(root, ".dependency-cruiser.cjs")) as {
  exceptions: { rule: string; from: string; to: string; why: string }[];
};
const SOURCES = ["shared", "lambdas", "infra", "cli/src", "web/src"];

interface Cruise {
  modules: { source: string; dependencies: { resolved: string; module: string }[] }[];
  summary: {
    violations: { rule: { name: string }; from: string; to: string; cycle?: { name: string }[] }[];
    totalCruised: number;
  };
}

async function cruise(): Promise<Cruise> {
  const bin = path.join(root, "node_modules/dependency-cruiser/bin/dependency-cruise.mjs");
  const { stdout } = await promisify(execFile)(
    process.execPath,
    [bin, "--config", ".dependency-cruiser.cjs", "--output-type", "json", ...SOURCES],
    { cwd: root, maxBuffer: 64 * 1024 * 1024 },
  ).catch((err: { stdout?: string }) => {
    // a violation makes depcruise exit non-zero; its JSON is still on stdout
    if (err.stdout) return { stdout: err.stdout };
    throw err;
  });
  return JSON.parse(stdout) as Cruise;
}

describe("layers", () => {
  it("no cycles, and every import points down (exceptions named in .dependency-cruiser.cjs)", async () => {
    const r = await cruise();
    expect(r.summary.totalCruised).toBeGreaterThan(150); // the sources were found at all
    const shown = r.summary.violations.map(
      (v) => `${v.rule.name}: ${v.from} → ${v.cycle ? v.cycle.map((c) => c.name).join(" → ") : v.to}`,
    );
    expect(shown).toEqual([]);
    // an exception whose import is gone must be deleted, so the list never hides a new one
    const stale = config.exceptions.filter((e) => {
      const m = r.modules.find((x) => x.source === e.from);
      return !m?.dependencies.some(
        (d) => new RegExp(e.to).test(d.resolved) || new RegExp(e.to).test(d.module),
      );
    });
    expect(stale.map((e) => `${e.rule}: ${e.from} → ${e.to}`)).toEqual([]);
  }, 120_000);

  it("the domain reads no environment (entries read it: shared/config/env.ts)", () => {
    const domain = ["server", "scheduler", "peers", "api", "accounting", "auth", "pbs", "ports"];
    const readers: string[] = [];
    for (const d of domain) {
      for (const f of fs.readdirSync(path.join(root, "shared", d), { recursive: true }) as string[]) {
        if (!f.endsWith(".ts")) continue;
        const text = fs.readFileSync(path.join(root, "shared", d, f), "utf8");
        if (/process\.env\b/.test(text)) readers.push(`shared/${d}/${f}`);
      }
    }
    expect(readers).toEqual([]);
  });
});
