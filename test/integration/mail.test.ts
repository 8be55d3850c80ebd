/**
 * Job mail (-m/-M) on the real local stack through the real CLI: casper's sendmail is a fake
 * script (configured by path, as a site points at its own) that appends its argv and stdin to a
 * file; derecho has none (`sendmail: false`) and refuses -m e with PBS's exit code.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parseConfig } from "../../shared/config/site-config.js";
import { type Stack, startStack, twoSiteConfig } from "./helpers.js";

let s: Stack;
let dir: string;
let spool: string;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-mail-"));
  spool = path.join(dir, "spool.txt");
  const sendmail = path.join(dir, "sendmail");
  // one record per message: argv, then the message read from stdin, then an end marker
  fs.writeFileSync(
    sendmail,
    `#!/bin/sh\n{ printf 'ARGV'; for a in "$@"; do printf ' [%s]' "$a"; done; printf '\\n'; cat; printf '\\n.END\\n'; } >> ${spool}\n`,
    { mode: 0o755 },
  );
  const config = parseConfig({
    ...twoSiteConfig,
    sites: [
      { ...twoSiteConfig.sites[0], mail: { sendmail, from: "pbsadmin" } },
      { ...twoSiteConfig.sites[1], mail: { sendmail: false } },
    ],
  });
  s = await startStack(dir, config);
}, 120_000);
afterAll(async () => {
  await s?.mq.stop();
});

/** The messages the fake sendmail received, for `id`. */
function mails(id: string): { argv: string; body: string }[] {
  if (!fs.existsSync(spool)) return [];
  return fs
    .readFileSync(spool, "utf8")
    .split("\n.END\n")
    .filter((r) => r.includes(`PBS JOB ${id}\n`))
    .map((r) => ({ argv: r.slice(0, r.indexOf("\n")), body: r.slice(r.indexOf("\n") + 1) }));
}

async function waitMails(id: string, n: number, ms = 30_000) {
  const end = Date.now() + ms;
  while (Date.now() < end && mails(id).length < n) await new Promise((r) => setTimeout(r, 200));
  return mails(id);
}

describe("job mail through the site's sendmail", () => {
  it("qsub -m abe -M: exactly one begin and one end mail, PBS's text, to the -M list", async () => {
    const r = await s.cli("qsub", [
      "-N",
      "mailme",
      "-m",
      "abe",
      "-M",
      "alice@example.org",
      "--",
      "/bin/sh",
      "-c",
      "exit 3",
    ]);
    expect(r.stderr).toBe("");
    const id = r.stdout.trim();
    await s.waitState(id, ["F"], 60_000);
    expect(await s.attr(id, "Mail_Points")).toBe("abe");
    expect(await s.attr(id, "Mail_Users")).toBe("alice@example.org");
    const got = await waitMails(id, 2);
    // and no third: an obituary redelivered, or a late event, sends nothing more
    await new Promise((r) => setTimeout(r, 2000));
    expect(mails(id)).toHaveLength(2);
    for (const m of got) expect(m.argv).toBe("ARGV [-f] [pbsadmin] [--] [alice@example.org]");
    expect(got[0].body).toContain(`Subject: PBS JOB ${id}\n`);
    expect(got[0].body).toContain(`\n\nPBS Job Id: ${id}\nJob Name:   mailme\nBegun execution\n`);
    expect(got[1].body).toMatch(
      /\nJob Name: {3}mailme\nExecution terminated\nExit_status=3\nresources_used\.cput=/,
    );
  }, 90_000);

  it("qdel of a running job with -m a: one abort mail, to the owner", async () => {
    const r = await s.cli("qsub", ["-m", "a", "--", "/bin/sleep", "60"]);
    const id = r.stdout.trim();
    await s.waitState(id, ["R"], 60_000);
    expect((await s.cli("qdel", [id])).code).toBe(0);
    await s.waitState(id, ["F"], 60_000);
    const got = await waitMails(id, 1);
    await new Promise((r) => setTimeout(r, 2000));
    expect(mails(id)).toHaveLength(1);
    expect(got[0].argv).toBe(`ARGV [-f] [pbsadmin] [--] [${os.userInfo().username}]`);
    expect(got[0].body).toMatch(/\nAborted by PBS Server \nJob deleted at request of /);
  }, 90_000);

  it("a site without sendmail refuses -m e (and -M) with the reason and exit code 2", async () => {
    const r = await s.cli("qsub", ["-q", "main@desched1", "-m", "e", "--", "/bin/true"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("-m e is not supported by this site: it sends no mail");
    expect(r.stdout).toBe("");
    const m = await s.cli("qsub", ["-q", "main@desched1", "-M", "a@example.org", "--", "/bin/true"]);
    expect(m.code).toBe(2);
    expect(m.stderr).toContain("-M a@example.org is not supported by this site");
    // a bad address is refused by qsub itself, before any site
    const bad = await s.cli("qsub", ["-m", "e", "-M", "-oQ/tmp", "--", "/bin/true"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('illegal -M value: "-oQ/tmp"');
  }, 60_000);
});
