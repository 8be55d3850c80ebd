/**
 * How the MOM starts a job, as PBS does: the -S shell for its host, the job's umask, the
 * owner's home and a login shell (unless the site says workdir), and PBS's walltime line.
 */
import * as fs from "node:fs";
import * as os from "node:os";
import { afterAll, describe, expect, it } from "vitest";
import { startJob } from "../../../shared/exec/index.js";
import { makeSpec, read, tempDir } from "./helpers.js";

const work = tempDir("start-work");
const tmpRoot = tempDir("start-moms");
afterAll(() => {
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(tmpRoot, { recursive: true, force: true });
});
const python = ["/usr/bin/python3", "/bin/python3"].find((p) => fs.existsSync(p));

describe.concurrent("startJob: the top shell (-S)", () => {
  it.runIf(python !== undefined)("runs the script under this host's -S entry", async () => {
    const spec = makeSpec(work, 'import sys\nprint("python", sys.version_info[0])\n', {
      shellPaths: `${python}@node1,/bin/sh`,
    });
    const r = await startJob(spec, { tmpRoot }).result;
    expect(r.exitStatus).toBe(0);
    expect(read(spec.stdoutPath)).toBe("python 3\n");
  });

  it("takes the entry without a host on other hosts, even over the script's #! line", async () => {
    const spec = makeSpec(work, '#!/bin/bash\necho "shell=$(readlink /proc/$$/exe)"\n', {
      shellPaths: "/bin/false@othernode,/bin/sh",
    });
    const r = await startJob(spec, { tmpRoot }).result;
    expect(r.exitStatus).toBe(0);
    expect(read(spec.stdoutPath)).toBe(`shell=${fs.realpathSync("/bin/sh")}\n`);
  });

  it("fails the job when the shell does not exist on the node (never falls back to bash)", async () => {
    const spec = makeSpec(work, "echo ran\n", { shellPaths: "/no/such/shell" });
    const r = await startJob(spec, { tmpRoot }).result;
    expect(r.exitStatus).toBe(-1);
    expect(r.comment).toBe(
      "job failed: shell /no/such/shell (Shell_Path_List) does not exist or is not executable on node1",
    );
    expect(fs.existsSync(spec.stdoutPath)).toBe(false);
  });
});

describe.concurrent("startJob: umask", () => {
  it("gives the job and its output files PBS's default 077", async () => {
    const spec = makeSpec(work, 'umask\ntouch "$TMPDIR/f"; stat -c %a "$TMPDIR/f"\n');
    const r = await startJob(spec, { tmpRoot }).result;
    expect(r.exitStatus).toBe(0);
    expect(read(spec.stdoutPath)).toBe("0077\n600\n");
    expect(fs.statSync(spec.stdoutPath).mode & 0o777).toBe(0o600);
  });

  it("applies -W umask=022 to the job's processes and its output files", async () => {
    const spec = makeSpec(work, 'umask\ntouch "$TMPDIR/f"; stat -c %a "$TMPDIR/f"\n', { umask: 0o022 });
    const r = await startJob(spec, { tmpRoot }).result;
    expect(r.exitStatus).toBe(0);
    expect(read(spec.stdoutPath)).toBe("0022\n644\n");
    expect(fs.statSync(spec.stdoutPath).mode & 0o777).toBe(0o644);
  });
});

describe.concurrent("startJob: where and how the job starts", () => {
  // argv[0] of the shell itself (bash's $0 is the script's name when it runs a file)
  const probe =
    'echo "pwd=$PWD argv0=$(tr "\\0" "\\n" </proc/$$/cmdline | head -1) wd=$PBS_O_WORKDIR"\nshopt -q login_shell && echo login || echo nologin\n';

  it("home-login (PBS's way): the owner's home, a login shell, PBS_O_WORKDIR still set", async () => {
    const spec = makeSpec(work, probe, { start: "home-login" });
    const r = await startJob(spec, { tmpRoot }).result;
    expect(r.exitStatus).toBe(0);
    const home = os.userInfo().homedir;
    expect(read(spec.stdoutPath)).toBe(`pwd=${home} argv0=-bash wd=${work}\nlogin\n`);
  });

  it("home-login keeps a script's #! interpreter after the login shell has read the profiles", async () => {
    const spec = makeSpec(work, '#!/bin/sh\necho "argv0=$0"\n', { start: "home-login" });
    const r = await startJob(spec, { tmpRoot }).result;
    expect(r.exitStatus).toBe(0);
    expect(read(spec.stdoutPath)).toMatch(/^argv0=\/.*\.SC\n$/);
  });

  it("workdir (a site setting): the submit directory, no login shell", async () => {
    const spec = makeSpec(work, `#!/bin/bash\n${probe}`, { start: "workdir" });
    const r = await startJob(spec, { tmpRoot }).result;
    expect(r.exitStatus).toBe(0);
    expect(read(spec.stdoutPath)).toBe(`pwd=${work} argv0=/bin/bash wd=${work}\nnologin\n`);
  });
});

describe("startJob: walltime", () => {
  it("writes PBS's kill line into the error file", async () => {
    const spec = makeSpec(work, "echo started >&2\nsleep 30\n", { walltime: 1, killDelay: 1 });
    const r = await startJob(spec, { tmpRoot }).result;
    expect(r.exitStatus).toBe(-29);
    expect(read(spec.stderrPath as string)).toBe(
      "started\n=>> PBS: job killed: walltime 2 exceeded limit 1\n",
    );
  });

  it("into the output file when -j oe joined the streams", async () => {
    const spec = makeSpec(work, "echo out\nsleep 30\n", { walltime: 1, killDelay: 1, stderrPath: null });
    const r = await startJob(spec, { tmpRoot }).result;
    expect(r.exitStatus).toBe(-29);
    expect(read(spec.stdoutPath)).toBe("out\n=>> PBS: job killed: walltime 2 exceeded limit 1\n");
  });
});
