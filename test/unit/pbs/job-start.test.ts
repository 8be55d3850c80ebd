import { describe, expect, it } from "vitest";
import {
  checkJobStartOptions,
  parseShellPathList,
  parseUmask,
  pickShell,
} from "../../../shared/pbs/job-start.js";
import { applyQsubOption, parseQsubArgv } from "../../../shared/pbs/qsub-options.js";
import { expectParseError } from "./helpers.js";

describe("-S Shell_Path_List", () => {
  it("parses path[@host] entries", () => {
    expect(parseShellPathList("/bin/zsh@n1,/usr/bin/python3")).toEqual([
      { path: "/bin/zsh", host: "n1" },
      { path: "/usr/bin/python3" },
    ]);
  });

  it("refuses relative paths, two host-less entries and a host named twice", () => {
    expectParseError(() => applyQsubOption({}, "S", "python3"), "is not absolute");
    expectParseError(
      () => applyQsubOption({}, "S", "/bin/sh,/bin/bash"),
      "more than one path without a host",
    );
    expectParseError(() => applyQsubOption({}, "S", "/bin/sh@n1,/bin/bash@n1"), "host n1 named twice");
    expectParseError(() => applyQsubOption({}, "S", "/bin/sh@"), "bad host");
  });

  it("picks this host's entry (full or short name), else the one without a host", () => {
    const list = "/bin/zsh@n1,/usr/bin/python3,/bin/ksh@n2.site.org";
    expect(pickShell(list, "n1")).toBe("/bin/zsh");
    expect(pickShell(list, "n1.site.org")).toBe("/bin/zsh");
    expect(pickShell(list, "n2")).toBe("/bin/ksh");
    expect(pickShell(list, "n3")).toBe("/usr/bin/python3");
    expect(pickShell("/bin/zsh@n1", "n3")).toBeUndefined();
    expect(pickShell(undefined, "n1")).toBeUndefined();
  });
});

describe("-W umask", () => {
  it("takes 1 to 4 octal digits up to 0777", () => {
    expect(parseUmask("077")).toBe(0o77);
    expect(parseUmask("0022")).toBe(0o22);
    expect(parseUmask("0")).toBe(0);
    expect(applyQsubOption({}, "W", "umask=027").attributes).toEqual({ umask: "027" });
  });

  it("refuses what PBS refuses", () => {
    for (const bad of ["8", "0778", "1000", "abc", "-1", "07777"])
      expectParseError(() => applyQsubOption({}, "W", `umask=${bad}`), "Illegal attribute or resource value");
  });
});

describe("what metaqueue does not do is refused, not stored", () => {
  it.each([
    [["-W", "sandbox=PRIVATE"], "-W sandbox is not supported"],
    [["-m", "x"], 'illegal -m value: "x"'],
    [["-m", "aa"], 'illegal -m value: "aa"'],
    [["-M", "-oQ/tmp/x"], 'illegal -M value: "-oQ/tmp/x"'],
    [["-M", "a@x.org,'b'"], "bad address \"'b'\""],
    [["-M", "a@x.org,"], "empty address"],
  ])("qsub %j", (args, msg) => {
    expectParseError(() => parseQsubArgv(args), msg);
  });

  it("qsub takes -m abe and -M (the server decides whether it can mail)", () => {
    const o = parseQsubArgv(["-m", "abe", "-M", "alice@example.org,bob"]).options;
    expect(o.mailPoints).toBe("abe");
    expect(o.mailUsers).toBe("alice@example.org,bob");
  });

  it("a site without a mailer accepts only -m n; the server refuses the same requests sent as JSON", () => {
    const none = "it sends no mail (no sendmail)";
    expect(parseQsubArgv(["-m", "n"]).options.mailPoints).toBe("n");
    expect(() => checkJobStartOptions({ mailPoints: "n", mailUsers: "a@x.org" }, none)).not.toThrow();
    expectParseError(
      () => checkJobStartOptions({ mailUsers: "a@x.org" }, none),
      "-M a@x.org is not supported",
    );
    expectParseError(
      () => checkJobStartOptions({ mailPoints: "e" }, none),
      "-m e is not supported by this site: it sends no mail",
    );
    expectParseError(() => checkJobStartOptions({ mailUsers: "-f" }, undefined), 'illegal -M value: "-f"');
    expectParseError(() => checkJobStartOptions({ mailPoints: "abj" }, undefined), "mail point j");
    expect(() =>
      checkJobStartOptions({ mailPoints: "abe", mailUsers: "a@x.org,b" }, undefined),
    ).not.toThrow();
    expectParseError(() => checkJobStartOptions({ attributes: { Sandbox: "PRIVATE" } }, none), "sandbox");
    expectParseError(() => checkJobStartOptions({ attributes: { umask: "999" } }, none), "umask=999");
    expectParseError(() => checkJobStartOptions({ shell: "bash" }, none), "is not absolute");
  });
});
