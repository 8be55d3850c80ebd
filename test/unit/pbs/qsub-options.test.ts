import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { PbsParseError } from "../../../shared/errors.js";
import {
  applyQsubOption,
  checkInteractive,
  mergeOptions,
  parseDirectives,
  parseExecutionTime,
  parseQsubArgv,
  parseVariableList,
  tokenizeDirective,
} from "../../../shared/pbs/qsub-options.js";
import type { QsubOptions } from "../../../shared/pbs/types.js";
import { expectParseError } from "./helpers.js";

describe("applyQsubOption", () => {
  it("does not mutate its input", () => {
    const before: QsubOptions = { resources: { mem: "1gb" }, variables: { A: "1" } };
    const snapshot = structuredClone(before);
    const after = applyQsubOption(before, "l", "ncpus=2");
    expect(before).toEqual(snapshot);
    expect(after.resources).toEqual({ mem: "1gb", ncpus: "2" });
    applyQsubOption(before, "v", "B=2");
    expect(before).toEqual(snapshot);
  });

  it("sets simple options", () => {
    let o: QsubOptions = {};
    o = applyQsubOption(o, "q", "main@desched1");
    o = applyQsubOption(o, "N", "my.job-1");
    o = applyQsubOption(o, "A", "P12345");
    o = applyQsubOption(o, "j", "oe");
    o = applyQsubOption(o, "o", "host:/tmp/out");
    o = applyQsubOption(o, "e", "/tmp/err");
    o = applyQsubOption(o, "V", undefined);
    o = applyQsubOption(o, "h", undefined);
    o = applyQsubOption(o, "z", undefined);
    o = applyQsubOption(o, "p", "-1024");
    o = applyQsubOption(o, "r", "n");
    o = applyQsubOption(o, "J", "1-10%2");
    o = applyQsubOption(o, "m", "n");
    o = applyQsubOption(o, "M", "a@x.org,b@y.org");
    o = applyQsubOption(o, "S", "/bin/bash");
    o = applyQsubOption(o, "P", "proj1");
    expect(o).toEqual({
      queue: "main@desched1",
      name: "my.job-1",
      account: "P12345",
      join: "oe",
      outputPath: "host:/tmp/out",
      errorPath: "/tmp/err",
      exportEnv: true,
      hold: true,
      quiet: true,
      priority: -1024,
      rerunnable: false,
      arrayRange: "1-10%2",
      mailPoints: "n",
      mailUsers: "a@x.org,b@y.org",
      shell: "/bin/bash",
      project: "proj1",
    });
  });

  it("allows job names that start with a digit and are 236 characters long", () => {
    expect(applyQsubOption({}, "N", "1job").name).toBe("1job");
    expect(applyQsubOption({}, "N", "x".repeat(236)).name).toHaveLength(236);
  });

  it("merges -l per resource, the later value winning", () => {
    let o = applyQsubOption({}, "l", "select=1:ncpus=2,walltime=1:00:00");
    o = applyQsubOption(o, "l", "walltime=2:00:00");
    expect(o.resources).toEqual({ select: "1:ncpus=2", walltime: "2:00:00" });
  });

  it("parses -v with env-taken names and quoted commas", () => {
    let o = applyQsubOption({}, "v", 'a=1,b,c="x,y"');
    expect(o.variables).toEqual({ a: "1", c: "x,y" });
    expect(o.variablesFromEnv).toEqual(["b"]);
    o = applyQsubOption(o, "v", "b=2,a");
    expect(o.variables).toEqual({ c: "x,y", b: "2" });
    expect(o.variablesFromEnv).toEqual(["a"]);
    expect(applyQsubOption({}, "v", "EMPTY=").variables).toEqual({ EMPTY: "" });
  });

  it("handles -W depend, other attributes and block", () => {
    const o = applyQsubOption({}, "W", "depend=afterok:1.casper:2,afterany:3,group_list=ncar,umask=027");
    expect(o.depend).toBe("afterok:1.casper:2,afterany:3");
    expect(o.attributes).toEqual({ group_list: "ncar", umask: "027" });
    expect(applyQsubOption({}, "W", "block=false")).toEqual({ block: false });
    expect(applyQsubOption({}, "W", "block=true")).toEqual({ block: true });
    expectParseError(
      () => applyQsubOption({}, "W", "block=maybe"),
      "-W block=maybe (expected true or false)",
    );
    expectParseError(
      () => applyQsubOption({}, "W", "depend=afterok:foo"),
      "illegally formed job identifier: foo",
    );
    expectParseError(() => applyQsubOption({}, "W", "depend=whenever:1"), "unknown dependency type");
    expectParseError(
      () => applyQsubOption({}, "W", "depend=runone:1"),
      "depend=runone is not supported by metaqueue",
    );
    expectParseError(() => applyQsubOption({}, "W", "sandbox="), "empty value");
    expectParseError(() => applyQsubOption({}, "W", "junk"), "is not name=value");
  });

  it("stores extra PBS flags as attributes", () => {
    let o = applyQsubOption({}, "k", "oe");
    o = applyQsubOption(o, "c", "n");
    o = applyQsubOption(o, "u", "alice");
    o = applyQsubOption(o, "R", "oe");
    expect(o.attributes).toEqual({
      Keep_Files: "oe",
      Checkpoint: "n",
      User_List: "alice",
      Remove_Files: "oe",
    });
  });

  it("parses -a with a fixed clock", () => {
    const now = Date.UTC(2024, 5, 15, 12, 0, 0) / 1000;
    expect(applyQsubOption({}, "a", "202406201530.45", { now, utc: true }).executionTime).toBe(
      Date.UTC(2024, 5, 20, 15, 30, 45) / 1000,
    );
  });

  it.each([
    ["x", "zzz", "invalid option -- 'x'"],
    ["I", "yes", "option -I takes no value"],
    ["W", "interactive=true", "use -I for an interactive job"],
    ["X", undefined, "not supported"],
    ["l", undefined, "option requires an argument -- 'l'"],
    ["h", "yes", "takes no value"],
    ["q", "1bad", "illegal -q value"],
    ["N", "has space", "illegal -N value"],
    ["N", "a/b", "illegal -N value"],
    ["N", "a@b", "illegal -N value"],
    ["N", "", "illegal -N value"],
    ["N", "x".repeat(237), "illegal -N value"],
    ["A", "", "account is empty"],
    ["l", "walltime=forever", "time"],
    ["l", "select=0:ncpus=1", ">= 1"],
    ["l", "mem", "illegal -l value"],
    ["j", "o", "expected oe, eo or n"],
    ["p", "1024", "-1024 to 1023"],
    ["p", "-1025", "-1024 to 1023"],
    ["p", "high", "-1024 to 1023"],
    ["r", "yes", "expected y or n"],
    ["J", "1-100000", "Array job exceeds server or queue size limit"],
    ["J", "5", "illegal -J value"],
    ["m", "x", "illegal -m value"],
    ["m", "aa", "illegal -m value"],
    ["M", "a@b,,c@d", "empty address"],
    ["o", "", "output path is empty"],
    ["S", "/bin/ba sh", "whitespace"],
    ["v", "1a=2", "bad variable name"],
    ["v", "", "empty variable list"],
    ["v", 'a="x', "unterminated"],
    ["k", "x", "illegal -k value"],
    ["R", "x", "illegal -R value"],
    ["a", "12", "illegal -a value"],
    ["a", "2500", "time of day out of range"],
  ])("-%s %j is rejected", (flag, value, msg) => {
    expectParseError(() => applyQsubOption({}, flag, value), msg);
  });
});

describe("parseExecutionTime", () => {
  // 2024-01-31 13:00:00 UTC
  const now = Date.UTC(2024, 0, 31, 13, 0, 0) / 1000;
  const ctx = { now, utc: true };
  const iso = (t: number) => new Date(t * 1000).toISOString();

  it("hhmm: today if ahead, else tomorrow", () => {
    expect(iso(parseExecutionTime("1400", ctx))).toBe("2024-01-31T14:00:00.000Z");
    expect(iso(parseExecutionTime("1230", ctx))).toBe("2024-02-01T12:30:00.000Z");
    expect(iso(parseExecutionTime("1300", ctx))).toBe("2024-02-01T13:00:00.000Z");
  });

  it("DDhhmm: this month if ahead, else the next month that has that day", () => {
    expect(iso(parseExecutionTime("311400", ctx))).toBe("2024-01-31T14:00:00.000Z");
    expect(iso(parseExecutionTime("150000", ctx))).toBe("2024-02-15T00:00:00.000Z");
    expect(iso(parseExecutionTime("301200", ctx))).toBe("2024-03-30T12:00:00.000Z");
  });

  it("MMDDhhmm, YYMMDDhhmm, CCYYMMDDhhmm and .SS", () => {
    expect(iso(parseExecutionTime("03011200", ctx))).toBe("2024-03-01T12:00:00.000Z");
    expect(iso(parseExecutionTime("2503011200", ctx))).toBe("2025-03-01T12:00:00.000Z");
    expect(iso(parseExecutionTime("7001010000", ctx))).toBe("1970-01-01T00:00:00.000Z");
    expect(iso(parseExecutionTime("202402291200.30", ctx))).toBe("2024-02-29T12:00:30.000Z");
  });

  it("uses local time unless utc is set", () => {
    const t = parseExecutionTime("202406201530", { now });
    expect(t).toBe(new Date(2024, 5, 20, 15, 30, 0).getTime() / 1000);
  });

  it.each([
    ["202302291200", "no such date"],
    ["202313011200", "month out of range"],
    ["202300011200", "month out of range"],
    ["321200", "day out of range"],
    ["1260", "time of day out of range"],
    ["1200.60", "time of day out of range"],
    ["12000", "bad format"],
    ["tomorrow", "bad format"],
    ["", "bad format"],
  ])("rejects %j", (text, msg) => {
    expectParseError(() => parseExecutionTime(text, ctx), msg);
  });
});

describe("parseVariableList", () => {
  it("handles escapes and single quotes", () => {
    expect(parseVariableList("A='x,y',B=a\\,b,C")).toEqual({
      variables: { A: "x,y", B: "a,b" },
      fromEnv: ["C"],
    });
  });
});

describe("tokenizeDirective", () => {
  it.each([
    [" -N foo -l walltime=10", ["-N", "foo", "-l", "walltime=10"]],
    [" -N 'my job' -A \"acc ount\"", ["-N", "my job", "-A", "acc ount"]],
    [' -N a"b c"d', ["-N", "ab cd"]],
    [" -N foo # the name", ["-N", "foo"]],
    [" -N foo#bar", ["-N", "foo#bar"]],
    [" -v A=\\ x", ["-v", "A= x"]],
    [' -v "A=\\"q\\""', ["-v", 'A="q"']],
    [" -v 'A=\\n'", ["-v", "A=\\n"]],
    [" ''", [""]],
    ["", []],
    ["   ", []],
    [" trailing\\", ["trailing\\"]],
    ["\t-h\t-z", ["-h", "-z"]],
  ])("%j", (line, words) => {
    expect(tokenizeDirective(line)).toEqual(words);
  });

  it.each([" -N 'foo", ' -N "foo', ' -N "foo\\"'])("rejects the unterminated quote in %j", (line) => {
    expectParseError(() => tokenizeDirective(line), "unterminated");
  });

  it("never throws on printable strings, except for an unterminated quote", () => {
    fc.assert(
      fc.property(
        fc.string({ unit: fc.integer({ min: 0x20, max: 0x7e }).map((c) => String.fromCharCode(c)) }),
        (s) => {
          try {
            const words = tokenizeDirective(s);
            return Array.isArray(words) && words.every((w) => typeof w === "string");
          } catch (e) {
            return e instanceof PbsParseError && e.message.includes("unterminated");
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it("words without quotes, backslashes or # split exactly on whitespace", () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[A-Za-z0-9=:,.@/_-]{1,12}$/), { maxLength: 8 }), (ws) => {
        expect(tokenizeDirective(ws.join("  "))).toEqual(ws);
      }),
    );
  });
});

describe("parseDirectives", () => {
  it("reads directives at the top, skipping comments and blank lines", () => {
    const script = [
      "#!/bin/bash",
      "",
      "# a comment",
      "#PBS -N foo -l walltime=10",
      "#PBS -lselect=1:ncpus=2",
      "  #PBS -hz",
      "#PBS -W depend=afterok:12.casper",
      "#PBS -v A=1,B",
      "#PBSX -N ignored",
      "#PBS",
      "echo hi",
      "#PBS -N late",
    ].join("\n");
    expect(parseDirectives(script)).toEqual({
      name: "foo",
      resources: { walltime: "10", select: "1:ncpus=2" },
      hold: true,
      quiet: true,
      depend: "afterok:12.casper",
      variables: { A: "1" },
      variablesFromEnv: ["B"],
    });
  });

  it("handles CRLF line endings and quoted values", () => {
    expect(
      parseDirectives("#!/bin/sh\r\n#PBS -N ab\r\n#PBS -A 'my account'\r\nhostname\r\n#PBS -N x\r\n"),
    ).toEqual({
      name: "ab",
      account: "my account",
    });
  });

  it("supports a custom prefix and an empty prefix that disables directives", () => {
    const script = "#!/bin/sh\n#MQ -N custom\n#PBS -N pbs\n";
    expect(parseDirectives(script, "#MQ")).toEqual({ name: "custom" });
    expect(parseDirectives(script, "")).toEqual({});
  });

  it("returns no options for a script without directives", () => {
    expect(parseDirectives("echo hi\n#PBS -N x\n")).toEqual({});
    expect(parseDirectives("")).toEqual({});
  });

  it.each([
    ["#!/bin/bash\n\n#PBS -Q\n", "directive error: line 3: invalid option -- 'Q'"],
    ["#PBS -N ok\n#PBS -l\n", "directive error: line 2: option requires an argument -- 'l'"],
    ["#PBS -l walltime=bad\n", "directive error: line 1: Illegal attribute or resource value: time"],
    ["#PBS -N foo bar\n", 'directive error: line 1: unexpected argument "bar"'],
    ["#PBS -N 'foo\n", "directive error: line 1: unterminated"],
    ["#PBS -I -X\n", "directive error: line 1: X11 forwarding (-X) is not supported"],
    ["#PBS -C #X\n", "directive error: line 1: -C is only allowed on the command line"],
    ["#PBS -- sleep\n", "directive error: line 1: '--' is not allowed"],
    ["#PBS --long\n", "directive error: line 1: invalid option -- '--long'"],
  ])("reports %j", (script, msg) => {
    expectParseError(() => parseDirectives(script), msg);
  });
});

describe("parseQsubArgv", () => {
  it("parses getopt-style arguments and the script", () => {
    expect(parseQsubArgv(["-N", "x", "-hz", "-lncpus=2", "-q", "main", "job.sh"])).toEqual({
      options: { name: "x", hold: true, quiet: true, resources: { ncpus: "2" }, queue: "main" },
      script: "job.sh",
    });
  });

  it("accepts a value glued to grouped flags and values starting with '-'", () => {
    expect(parseQsubArgv(["-zNname", "-N", "-dash"]).options).toEqual({ quiet: true, name: "-dash" });
  });

  it("accepts options after the script (GNU getopt permutation)", () => {
    expect(parseQsubArgv(["job.sh", "-N", "late"])).toEqual({ options: { name: "late" }, script: "job.sh" });
  });

  it("takes everything after -- as the command", () => {
    expect(parseQsubArgv(["-l", "walltime=10", "--", "sleep", "-N", "10"])).toEqual({
      options: { resources: { walltime: "10" } },
      command: ["sleep", "-N", "10"],
    });
  });

  it("returns -C as directivePrefix and no script when none is given", () => {
    expect(parseQsubArgv(["-C", "#MQ"])).toEqual({ options: {}, directivePrefix: "#MQ" });
    expect(parseQsubArgv([])).toEqual({ options: {} });
  });

  it.each([
    [["a.sh", "b.sh"], "too many arguments"],
    [["a.sh", "--", "sleep"], "cannot be given together"],
    [["--"], "must be followed by an executable"],
    [["-y"], "invalid option -- 'y'"],
    [["--version"], "invalid option -- '--version'"],
    [["-N"], "option requires an argument -- 'N'"],
    [["-IX"], "X11 forwarding (-X) is not supported"],
    [["-hx"], "invalid option -- 'x'"],
  ])("rejects %j", (args, msg) => {
    expectParseError(() => parseQsubArgv(args), msg);
  });
});

describe("mergeOptions", () => {
  it("lets the command line win per option and per key", () => {
    const d = parseDirectives(
      "#PBS -N dname -q dq -l walltime=10,mem=1gb -v A=1,B=2,C -W group_list=g1 -W umask=022 -h\n",
    );
    const c = parseQsubArgv([
      "-N",
      "cname",
      "-l",
      "walltime=20",
      "-v",
      "A,B=3",
      "-W",
      "group_list=g2",
    ]).options;
    expect(mergeOptions(d, c)).toEqual({
      name: "cname",
      queue: "dq",
      hold: true,
      resources: { walltime: "20", mem: "1gb" },
      variables: { B: "3" },
      variablesFromEnv: ["C", "A"],
      attributes: { group_list: "g2", umask: "022" },
    });
  });

  it("keeps variables from directives that the command line does not mention", () => {
    expect(mergeOptions({ variables: { X: "1" } }, {})).toEqual({ variables: { X: "1" } });
    expect(mergeOptions({}, { variablesFromEnv: ["Y"] })).toEqual({ variablesFromEnv: ["Y"] });
    expect(mergeOptions({}, {})).toEqual({});
  });
});

describe("qsub -I (interactive)", () => {
  it("parses -I on the command line, grouped, and in a directive", () => {
    expect(parseQsubArgv(["-I"]).options.interactive).toBe(true);
    expect(parseQsubArgv(["-Iz", "-N", "x"]).options).toMatchObject({
      interactive: true,
      quiet: true,
      name: "x",
    });
    expect(parseDirectives("#PBS -I\n#PBS -l walltime=00:10:00\necho hi\n")).toMatchObject({
      interactive: true,
      resources: { walltime: "00:10:00" },
    });
    // a script operand with -I: read for its directives, as PBS does
    expect(parseQsubArgv(["-I", "job.sh"])).toMatchObject({
      options: { interactive: true },
      script: "job.sh",
    });
  });

  it("refuses -W block=true and -J with -I, and lets -W block=false pass", () => {
    expectParseError(
      () => checkInteractive(parseQsubArgv(["-I", "-W", "block=true"]).options),
      "-W block=true cannot be used with an interactive job (-I)",
    );
    expectParseError(
      () => checkInteractive(mergeOptions(parseDirectives("#PBS -W block=true\n"), { interactive: true })),
      "-W block=true cannot be used",
    );
    expectParseError(() => checkInteractive(parseQsubArgv(["-I", "-J", "1-3"]).options), "-J cannot be used");
    expect(() => checkInteractive(parseQsubArgv(["-I", "-W", "block=false"]).options)).not.toThrow();
    expect(() => checkInteractive(parseQsubArgv(["-W", "block=true", "-J", "1-3"]).options)).not.toThrow();
  });
});
