/**
 * Jobs start as PBS starts them, through the real qsub on the local stack: -S, -W umask, -a
 * (and qalter -a), the owner's home and a login shell, PBS's walltime line in the .e file,
 * resources_used growing while a job runs, and what is refused rather than ignored.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type Stack, script, startStack } from "./helpers.js";

let s: Stack;
beforeAll(async () => {
  // resources_used rewritten every second of walltime, so a short job shows it grow
  // PBS's start (the owner's home, a login shell), which the other stacks leave out (helpers.ts)
  s = await startStack(undefined, undefined, { settings: { usedUpdateMs: 1000, jobStart: "home-login" } });
}, 120_000);
afterAll(async () => {
  await s?.mq.stop();
});

async function submit(args: string[]): Promise<string> {
  const r = await s.cli("qsub", args);
  expect(r.stderr).toBe("");
  expect(r.code).toBe(0);
  return r.stdout.trim();
}

/** The job's output file, `<name>.o<seq>` in the submit directory. */
const outFile = (name: string, id: string, kind: "o" | "e" = "o") =>
  path.join(s.dir, `${name}.${kind}${id.split(".")[0]}`);

async function fullJob(id: string): Promise<Record<string, unknown>> {
  const r = await s.cli("qstat", ["-x", "-f", "-F", "json", id]);
  expect(r.code).toBe(0);
  return Object.values(JSON.parse(r.stdout).Jobs)[0] as Record<string, unknown>;
}

/** `[[CC]YY]MMDDhhmm.SS` for qsub -a, `ms` from now, in local time as qsub reads it. */
function execTime(ms: number): { text: string; at: number } {
  const d = new Date(Math.ceil((Date.now() + ms) / 1000) * 1000);
  const p = (n: number) => String(n).padStart(2, "0");
  const text = `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}${p(d.getHours())}${p(d.getMinutes())}.${p(d.getSeconds())}`;
  return { text, at: d.getTime() };
}

describe("the top shell and the start directory", () => {
  const python = ["/usr/bin/python3", "/bin/python3"].find((p) => fs.existsSync(p));

  it.runIf(python !== undefined)("-S runs the script under that shell", async () => {
    const sc = script(s.dir, "py.job", 'import sys\nprint("python", sys.version_info[0])\n');
    const id = await submit(["-N", "py", "-S", `${python}@n9,${python}`, sc]);
    expect(await s.waitState(id, ["F"])).toBe("F");
    expect((await fullJob(id)).Shell_Path_List).toBe(`${python}@n9,${python}`);
    expect(fs.readFileSync(outFile("py", id), "utf8")).toBe("python 3\n");
  });

  it("a -S shell missing on the node ends the job with the reason, never bash", async () => {
    const sc = script(s.dir, "nosh.job", "echo ran\n");
    const id = await submit(["-N", "nosh", "-S", "/no/such/shell", sc]);
    expect(await s.waitState(id, ["F"])).toBe("F");
    const j = await fullJob(id);
    expect(j.Exit_status).toBe(-1);
    expect(String(j.comment)).toContain(
      "shell /no/such/shell (Shell_Path_List) does not exist or is not executable",
    );
    expect(fs.existsSync(outFile("nosh", id))).toBe(false);
  });

  it("starts in the owner's home with a login shell, PBS_O_WORKDIR set, umask 077 by default", async () => {
    const sc = script(
      s.dir,
      "where.job",
      'echo "pwd=$PWD"\necho "wd=$PBS_O_WORKDIR"\nshopt -q login_shell && echo login\ntr "\\0" "\\n" </proc/$$/cmdline | head -1\numask\n',
    );
    const id = await submit(["-N", "where", sc]);
    expect(await s.waitState(id, ["F"])).toBe("F");
    const out = outFile("where", id);
    expect(fs.readFileSync(out, "utf8")).toBe(
      `pwd=${os.userInfo().homedir}\nwd=${s.dir}\nlogin\n-bash\n0077\n`,
    );
    expect(fs.statSync(out).mode & 0o777).toBe(0o600);
  });

  it("-W umask=027 reaches the job and its output files", async () => {
    const sc = script(s.dir, "um.job", "umask\n");
    const id = await submit(["-N", "um", "-W", "umask=027", sc]);
    expect(await s.waitState(id, ["F"])).toBe("F");
    expect((await fullJob(id)).umask).toBe(27);
    expect(fs.readFileSync(outFile("um", id), "utf8")).toBe("0027\n");
    expect(fs.statSync(outFile("um", id)).mode & 0o777).toBe(0o640);
  });
});

describe("qsub -a", () => {
  it("waits in W until its Execution_Time and never starts before it", async () => {
    const t = execTime(4000);
    const sc = script(s.dir, "later.job", "date +%s%3N\n");
    const id = await submit(["-N", "later", "-a", t.text, sc]);
    const j = await fullJob(id);
    expect(j.job_state).toBe("W");
    expect(j.Execution_Time).toBeDefined();
    const st = await s.cli("qstat", [id]);
    expect(st.stdout).toMatch(new RegExp(`^${id.split(".")[0]}\\S*\\s+later\\s+\\S+\\s+\\S+\\s+W\\s`, "m"));
    expect(await s.waitState(id, ["F"], 30_000)).toBe("F");
    const started = Number(fs.readFileSync(outFile("later", id), "utf8").trim());
    expect(started).toBeGreaterThanOrEqual(t.at);
  });

  it("qalter -a moves the time: a job a day away runs once brought forward", async () => {
    const sc = script(s.dir, "moved.job", "true\n");
    const id = await submit(["-N", "moved", "-a", execTime(24 * 3600_000).text, sc]);
    expect(await s.waitState(id, ["W"])).toBe("W");
    await new Promise((r) => setTimeout(r, 1500));
    expect(await s.attr(id, "job_state")).toBe("W");
    const r = await s.cli("qalter", ["-a", execTime(1000).text, id]);
    expect(r.stderr).toBe("");
    expect(await s.waitState(id, ["F"], 30_000)).toBe("F");
  });
});

describe("while it runs and when it is killed", () => {
  it("resources_used.walltime grows while the job runs", async () => {
    const sc = script(s.dir, "grow.job", "sleep 8\n");
    const id = await submit(["-N", "grow", sc]);
    await s.waitState(id, ["R"]);
    const wall = async () => {
      const j = await fullJob(id);
      return { state: j.job_state, wall: (j.resources_used as Record<string, string> | undefined)?.walltime };
    };
    const end = Date.now() + 15_000;
    let seen = { state: "R" as unknown, wall: undefined as string | undefined };
    while (Date.now() < end) {
      seen = await wall();
      if (seen.state === "R" && seen.wall !== undefined && seen.wall >= "00:00:03") break;
      await new Promise((r) => setTimeout(r, 300));
    }
    expect(seen.state).toBe("R");
    expect(seen.wall! >= "00:00:03").toBe(true);
    await s.cli("qdel", [id]);
  });

  it("a walltime kill writes PBS's line into the .e file", async () => {
    const sc = script(s.dir, "long.job", "echo begun >&2\nsleep 30\n");
    const id = await submit(["-N", "long", "-l", "walltime=00:00:02", sc]);
    expect(await s.waitState(id, ["F"], 30_000)).toBe("F");
    expect(fs.readFileSync(outFile("long", id, "e"), "utf8")).toMatch(
      /^begun\n=>> PBS: job killed: walltime \d+ exceeded limit 2\n$/,
    );
    expect((await fullJob(id)).Exit_status).toBe(-29);
  });
});

describe("refused rather than stored and ignored", () => {
  it.each([
    [["-W", "sandbox=PRIVATE"], "-W sandbox is not supported by metaqueue"],
    // staging is done between paths of this host only (stage.test.ts): another host is refused
    [["-W", "stagein=/tmp/x@host:/tmp/y"], "-W stagein: storage host host is not this host"],
    [["-W", "stageout=/tmp/x@host:/tmp/y"], "-W stageout: storage host host is not this host"],
    // this host has no sendmail (mail.test.ts runs a site that has one)
    [["-m", "abe"], "-m abe is not supported by this site: it sends no mail"],
    [["-M", "a@example.org"], "-M a@example.org is not supported by this site"],
    [["-S", "bash"], "shell path bash is not absolute"],
    [["-W", "umask=0999"], "-W umask=0999"],
  ])("qsub %j", async (args, msg) => {
    const r = await s.cli("qsub", [...args, "--", "/bin/true"]);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(msg);
    expect(r.stdout).toBe("");
  });
});
