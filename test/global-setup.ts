/**
 * Tests drive the bundled CLI and MOM (cli/dist, dist/): rebuild them first so a test never runs
 * yesterday's bundle (esbuild takes well under a second).
 */
import { execFileSync } from "node:child_process";

export default function setup(): void {
  execFileSync(process.execPath, ["scripts/build.mjs"], { stdio: "inherit" });
}
