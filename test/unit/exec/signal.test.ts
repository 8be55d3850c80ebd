/**
 * qsig at the MOM: RunningJob.signal reaches the job's processes (its process group), so a
 * script that traps the signal runs its handler, and one that does not dies of it (256+N).
 */
import { describe, expect, it } from "vitest";
import { startJob } from "../../../shared/exec/index.js";
import { makeSpec, read, tempDir, waitFor } from "./helpers.js";

describe("RunningJob.signal", () => {
  it("a trapped signal runs the script's handler", async () => {
    const work = tempDir("mq-sig-");
    const spec = makeSpec(
      work,
      "trap 'echo got USR1; exit 9' USR1\necho ready\nwhile :; do sleep 0.1; done\n",
    );
    const job = startJob(spec, { tmpRoot: work });
    await waitFor(() => read(spec.stdoutPath).includes("ready"));
    job.signal("SIGUSR1");
    const r = await job.result;
    expect(r.exitStatus).toBe(9);
    expect(read(spec.stdoutPath)).toContain("got USR1");
  });

  it("an untrapped one ends the job as killed by that signal", async () => {
    const work = tempDir("mq-sig-");
    const spec = makeSpec(work, "echo ready\nsleep 30\n");
    const job = startJob(spec, { tmpRoot: work });
    await waitFor(() => read(spec.stdoutPath).includes("ready"));
    job.signal("SIGUSR2");
    expect((await job.result).exitStatus).toBe(256 + 12);
  });
});
