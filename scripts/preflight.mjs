#!/usr/bin/env node
/**
 * What `npm start` needs before anything imports a dependency, so that on a fresh clone the
 * start command alone brings up a metaqueue: the npm dependencies (installed when missing) and
 * Java 17 for DynamoDB Local (installed with apt-get as root; otherwise the exact command is
 * printed). Node built-ins only: it runs before node_modules exists. `.ci/run` uses its Java
 * step too.
 *
 *   node scripts/preflight.mjs [deps] [java]      (both when none is named)
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

export const JAVA_PACKAGE = "openjdk-17-jre-headless";

/**
 * The runtime dependencies of `dir`'s package.json that have no folder in its node_modules, and
 * the PBS commands (cli/package.json's bin) whose node_modules/.bin link leads nowhere: a
 * checkout updated past a change of the commands' files (cli/bin/qsub.js became cli/bin/qsub)
 * keeps links to the old ones until npm installs again.
 */
export function missingDependencies(dir) {
  const pkg = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
  const deps = Object.keys(pkg.dependencies ?? {}).filter(
    (name) => !existsSync(join(dir, "node_modules", name, "package.json")),
  );
  const cliPkg = join(dir, "cli", "package.json");
  const bins = existsSync(cliPkg) ? Object.keys(JSON.parse(readFileSync(cliPkg, "utf8")).bin ?? {}) : [];
  // existsSync follows the link: false for a link whose target is gone
  return [
    ...deps,
    ...bins.filter((b) => !existsSync(join(dir, "node_modules", ".bin", b))).map((b) => `.bin/${b}`),
  ];
}

/**
 * What to do about Java: nothing when it runs, install it as root where apt-get is, else say
 * how. `{ action: "ok" | "install" | "advise", text? }`.
 */
export function javaStep({ hasJava, isRoot, hasApt }) {
  if (hasJava) return { action: "ok" };
  if (isRoot && hasApt) return { action: "install" };
  const how = hasApt
    ? `sudo apt-get install -y ${JAVA_PACKAGE}`
    : "install a Java 17 (or later) runtime with your system's package manager, e.g. sudo dnf install -y java-17-openjdk-headless";
  return {
    action: "advise",
    text: `metaqueue: Java is missing; DynamoDB Local needs Java 17 or later. Install it with\n  ${how}\nthen run npm start again.`,
  };
}

function runs(cmd, args) {
  const r = spawnSync(cmd, args, { stdio: "ignore" });
  return !r.error && r.status === 0;
}

function sh(cmd, args, env = process.env) {
  const r = spawnSync(cmd, args, { stdio: "inherit", cwd: root, env });
  if (r.error || r.status !== 0) {
    console.error(`metaqueue: ${cmd} ${args.join(" ")} failed${r.error ? `: ${r.error.message}` : ""}`);
    process.exit(r.status || 1);
  }
}

function ensureDeps() {
  const missing = missingDependencies(root);
  if (missing.length === 0) return;
  const lock = existsSync(join(root, "package-lock.json"));
  console.log(
    `metaqueue: installing the npm dependencies (missing: ${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", ..." : ""})`,
  );
  // npm ci installs exactly what package-lock.json names (its prepare script builds the bundles)
  sh("npm", lock ? ["ci", "--no-audit", "--no-fund"] : ["install", "--no-audit", "--no-fund"]);
}

function ensureJava() {
  const step = javaStep({
    hasJava: runs("java", ["-version"]),
    isRoot: process.getuid?.() === 0,
    hasApt: runs("apt-get", ["--version"]),
  });
  if (step.action === "ok") return;
  if (step.action === "advise") {
    console.error(step.text);
    process.exit(1);
  }
  console.log(`metaqueue: installing Java 17 for DynamoDB Local (apt-get install ${JAVA_PACKAGE})`);
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  sh("apt-get", ["update", "-qq"], env);
  sh("apt-get", ["install", "-y", "-qq", JAVA_PACKAGE], env);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const steps = process.argv.slice(2);
  const all = steps.length === 0;
  for (const s of steps) {
    if (s !== "deps" && s !== "java") {
      console.error(`usage: node scripts/preflight.mjs [deps] [java]`);
      process.exit(2);
    }
  }
  if (all || steps.includes("deps")) ensureDeps();
  if (all || steps.includes("java")) ensureJava();
}
