/**
 * Issue 10, part 7: what a request may carry. Control characters in any free text, job names
 * PBS would refuse, empty scripts, and qmgr values are refused with PBS-style messages; array
 * IDs name the right key; display escapes what an old record might still hold.
 */
import { describe, expect, it } from "vitest";
import { parseQmgr } from "../../../shared/pbs/qmgr.js";
import { escapeControls, findControl } from "../../../shared/pbs/text.js";
import type { QsubOptions } from "../../../shared/pbs/types.js";
import {
  checkFreeText,
  checkJobName,
  emptyScriptReason,
  validateQsubOptions,
} from "../../../shared/pbs/validate.js";
import { keyOfId } from "../../../shared/server/mutate.js";
import { expectParseError } from "./helpers.js";

const CONTROLS = ["\n", "\r", "\t", "\x1b[31m", "\x7f", "\x85", "\u2028", "\u202e", "\0"];

describe("control characters", () => {
  it("finds each kind and says where", () => {
    for (const c of CONTROLS)
      expect(findControl(`ab${c}cd`), JSON.stringify(c)).toMatch(/^U\+[0-9A-F]{4} at 3$/);
    expect(findControl("plain text, with spaces and ünïcödé")).toBeUndefined();
  });

  it("escapes them for display so no line can be forged", () => {
    expect(escapeControls("a\nb\tc\x1b[0m")).toBe("a\\nb\\tc\\x1b[0m");
    expect(escapeControls("x\u2028y")).toBe("x\\u2028y");
    expect(escapeControls("fine")).toBe("fine");
  });

  it("refuses them in every free-text qsub option (as the API receives them)", () => {
    const fields: [keyof QsubOptions, string][] = [
      ["queue", "-q"],
      ["account", "-A"],
      ["project", "-P"],
      ["outputPath", "-o"],
      ["errorPath", "-e"],
      ["depend", "-W depend"],
      ["arrayRange", "-J"],
      ["mailPoints", "-m"],
      ["mailUsers", "-M"],
      ["shell", "-S"],
    ];
    for (const [field, flag] of fields)
      for (const c of ["\n", "\t", "\x1b"]) {
        const o = { [field]: `ok${c}forged` } as QsubOptions;
        expectParseError(() => validateQsubOptions(o), `illegal ${flag} value: contains a control character`);
      }
    expectParseError(
      () => validateQsubOptions({ resources: { software: "a\nb" } }),
      "illegal -l software value",
    );
    expectParseError(
      () => validateQsubOptions({ attributes: { comment: "a\rb" } }),
      "illegal -W comment value",
    );
    expectParseError(() => validateQsubOptions({ variables: { "A\nB": "x" } }), "illegal -v value");
  });

  it("lets variable values keep newlines (exported shell functions), and clean options pass", () => {
    expect(() =>
      validateQsubOptions({
        name: "run_1.a+b-c",
        account: "NCAR0001",
        variables: { BASH_FUNC_f: "() { echo\n}" },
        resources: { walltime: "01:00:00" },
        attributes: { comment: "a normal comment" },
      }),
    ).not.toThrow();
  });

  it("refuses a job name with a newline, a tab, leading space, '@' or '/'", () => {
    expectParseError(() => validateQsubOptions({ name: "job\n12/01/2026 00:00:00  S    forged" }), "U+000A");
    expectParseError(() => checkJobName("a\tb", "-N"), "illegal -N value: contains a control character");
    expectParseError(() => checkJobName(" lead", "-N"), "illegal -N value");
    expectParseError(() => checkJobName("a@b", "-N"), "illegal -N value");
    expectParseError(() => checkJobName("x".repeat(237), "-N"), "1-236 printable");
    expect(checkJobName("x".repeat(236), "-N")).toHaveLength(236);
  });

  it("refuses them in other request text (submit host, script name)", () => {
    expectParseError(
      () => checkFreeText("submit host", "h\nx"),
      "illegal submit host: contains a control character",
    );
    expect(checkFreeText("submit host", "login1.example.org")).toBe("login1.example.org");
  });

  it("refuses them in qmgr values, quoted or not (pbsnodes -C goes through here)", () => {
    expectParseError(() => parseQmgr('set node n1 comment = "down\nforged"'), "contains a control character");
    expectParseError(() => parseQmgr("set queue q comment = a\x1b[2Jb"), "contains a control character");
    expectParseError(() => parseQmgr('set server comment = "tab\there"'), "U+0009");
    expect(parseQmgr('set node n1 comment = "back at 5"').attrs[0].value).toBe("back at 5");
  });
});

describe("empty scripts", () => {
  it("refuses an empty or blank script", () => {
    expect(emptyScriptReason("")).toBe("script file is empty");
    expect(emptyScriptReason(" \n\t\n")).toBe("script file is empty");
  });

  it("refuses a script of only comments and #PBS directives: nothing would run", () => {
    expect(emptyScriptReason("#!/bin/bash\n#PBS -N x\n# just a comment\n\n")).toMatch(/no commands to run/);
  });

  it("takes a script with one command, wherever it is", () => {
    expect(emptyScriptReason("#!/bin/sh\n#PBS -l walltime=1:00\n\ntrue\n")).toBeUndefined();
    expect(emptyScriptReason("  echo hi")).toBeUndefined();
  });
});

describe("array IDs", () => {
  it("names the parent's key for the ID qsub prints", () => {
    expect(keyOfId("750[].casper", "casper")).toBe("750");
    expect(keyOfId("750[]", "casper")).toBe("750");
    expect(keyOfId("750[3].casper", "casper")).toBe("750[3]");
    expect(keyOfId("750.casper", "casper")).toBe("750");
    expect(keyOfId("750", "casper")).toBe("750");
  });
});
