/**
 * The sendmail adapter (shared/adapters/mail/sendmail.ts) with a real fake program: the
 * configured path is taken only when executable, the arguments arrive as given (no shell), the
 * message on stdin, and a sendmail that fails rejects with its stderr.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { findSendmail, SendmailError, SendmailMailer } from "../../../shared/adapters/mail/sendmail.js";

const dir = fs.mkdtempSync(path.join(os.tmpdir(), "mq-sendmail-"));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function program(name: string, body: string, mode = 0o755): string {
  const p = path.join(dir, name);
  fs.writeFileSync(p, `#!/bin/sh\n${body}`, { mode });
  return p;
}

describe("sendmail adapter", () => {
  it("finds the configured program, else the first executable default, else none", () => {
    const ok = program("ok", "exit 0\n");
    const notExec = program("noexec", "exit 0\n", 0o644);
    expect(findSendmail(ok)).toBe(ok);
    expect(() => findSendmail(notExec)).toThrow(/not an executable file/);
    expect(() => findSendmail("relative/sendmail")).toThrow(/absolute path/);
    expect(findSendmail(undefined, [notExec, path.join(dir, "missing"), ok])).toBe(ok);
    expect(findSendmail(undefined, [notExec])).toBeUndefined();
  });

  it("runs <sendmail> -f from -- rcpts with the message on stdin, never through a shell", async () => {
    const out = path.join(dir, "out.txt");
    const p = program(
      "rec",
      `for a in "$@"; do printf '[%s]' "$a"; done > ${out}; echo >> ${out}; cat >> ${out}\n`,
    );
    await new SendmailMailer(p, "adm").send(["a@x.org", "b;touch /tmp/pwned"], "Subject: x\n\nhi\n");
    expect(fs.readFileSync(out, "utf8")).toBe(
      "[-f][adm][--][a@x.org][b;touch /tmp/pwned]\nSubject: x\n\nhi\n",
    );
  });

  it("a failing sendmail rejects with its message", async () => {
    const p = program("bad", "cat >/dev/null; echo 'no such user' >&2; exit 67\n");
    const err = await new SendmailMailer(p, "adm").send(["x"], "m").catch((e) => e);
    expect(err).toBeInstanceOf(SendmailError);
    expect(err.message).toContain("no such user");
  });
});
