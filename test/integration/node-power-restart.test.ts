/**
 * A runtime SIGKILLed while a pool node is up and runs a job: on restart the node, recorded up,
 * gets its MOM again (never up with no MOM behind it), and that MOM adopts the job, which ends
 * once with its own status (never a MOM with its jobs forgotten).
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../shared/config/site-config.js";
import { runtimeProcess } from "./runtime-process.js";

const config = parseConfig({
  sites: [
    {
      name: "casper",
      server: "casper-pbs",
      queues: [{ name: "casper" }],
      nodePools: [{ name: "burst", kind: "process", idleOff: 600 }],
      nodes: [{ name: "p1", ncpus: 2, mem: "4gb", pool: "burst" }],
    },
  ],
});
const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-power-restart-"));
const runtime = runtimeProcess(dir, config);
const cli = runtime.cli;
afterAll(() => runtime.stop());

async function job(id: string): Promise<Record<string, unknown>> {
  return Object.values(JSON.parse(await cli("qstat", ["-x", "-f", "-F", "json", id])).Jobs)[0] as Record<
    string,
    unknown
  >;
}
async function nodeState(): Promise<string> {
  return String(JSON.parse(await cli("pbsnodes", ["-a", "-F", "json"])).nodes.p1.state);
}
async function waitFor(id: string, states: string[], ms = 60_000): Promise<Record<string, unknown>> {
  const end = Date.now() + ms;
  let j: Record<string, unknown> = {};
  while (Date.now() < end) {
    j = await job(id);
    if (states.includes(String(j.job_state))) return j;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${id} stuck in ${j.job_state}`);
}

describe("a runtime restart with a pool node up", () => {
  it("starts the node's MOM again, which adopts its job: it ends once", async () => {
    await runtime.start();
    expect(await nodeState()).toBe("sleep");
    const d = (
      await cli(
        "qsub",
        ["-l", "select=1:ncpus=2", "-N", "D"],
        'cd "$PBS_O_WORKDIR"; echo start >> D.log; sleep 8; echo end >> D.log\n',
      )
    ).trim();
    await waitFor(d, ["R"]);
    for (let i = 0; i < 40 && !fs.existsSync(path.join(dir, "D.log")); i++)
      await new Promise((r) => setTimeout(r, 100));
    expect(fs.readFileSync(path.join(dir, "D.log"), "utf8")).toBe("start\n");

    runtime.kill();
    await new Promise((r) => setTimeout(r, 1000));
    await runtime.start();
    // recorded up: its MOM was started with the runtime (not asleep, not waiting to be woken)
    expect(await nodeState()).toMatch(/^(job-busy|free)$/);
    const jd = await waitFor(d, ["F"]);
    expect(jd.Exit_status).toBe(0);
    expect(jd.run_count).toBe(1);
    expect(fs.readFileSync(path.join(dir, "D.log"), "utf8")).toBe("start\nend\n");
  }, 150_000);
});
