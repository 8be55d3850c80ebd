import { describe, expect, it } from "vitest";
import * as pbs from "../../../shared/pbs/index.js";
import { parseQmgr, parseQmgrScript } from "../../../shared/pbs/qmgr.js";
import { expectParseError } from "./helpers.js";

describe("parseQmgr", () => {
  it("parses set server without a name", () => {
    expect(parseQmgr("set server scheduling = true")).toEqual({
      verb: "set",
      objectType: "server",
      names: [],
      attrs: [{ name: "scheduling", op: "=", value: "true" }],
    });
  });

  it("parses abbreviations, names, dotted attributes, all operators and quoted values", () => {
    expect(
      parseQmgr(
        `s q workq resources_max.walltime = 24:00:00, max_run += '[u:PBS_GENERIC=5]',acl_users-=bob, comment="a, b"`,
      ),
    ).toEqual({
      verb: "set",
      objectType: "queue",
      names: ["workq"],
      attrs: [
        { name: "resources_max.walltime", op: "=", value: "24:00:00" },
        { name: "max_run", op: "+=", value: "[u:PBS_GENERIC=5]" },
        { name: "acl_users", op: "-=", value: "bob" },
        { name: "comment", op: "=", value: "a, b" },
      ],
    });
  });

  it("allows no spaces around the operator and values containing '='", () => {
    expect(parseQmgr("set queue q1 resources_default.select=1:ncpus=2").attrs).toEqual([
      { name: "resources_default.select", op: "=", value: "1:ncpus=2" },
    ]);
    expect(parseQmgr("set queue q1 max_queued-=1").attrs).toEqual([
      { name: "max_queued", op: "-=", value: "1" },
    ]);
  });

  it("parses create with and without attributes, and several names", () => {
    expect(parseQmgr("create queue gpu queue_type = execution, enabled = true")).toEqual({
      verb: "create",
      objectType: "queue",
      names: ["gpu"],
      attrs: [
        { name: "queue_type", op: "=", value: "execution" },
        { name: "enabled", op: "=", value: "true" },
      ],
    });
    expect(parseQmgr("c n node-01,node-02")).toMatchObject({
      objectType: "node",
      names: ["node-01", "node-02"],
    });
    expect(parseQmgr("create resource ngpus_type type=string, flag=h")).toMatchObject({
      objectType: "resource",
      names: ["ngpus_type"],
    });
    expect(parseQmgr("create sched sc1")).toMatchObject({ objectType: "sched", names: ["sc1"] });
  });

  it("parses delete", () => {
    expect(parseQmgr("delete queue a , b")).toEqual({
      verb: "delete",
      objectType: "queue",
      names: ["a", "b"],
      attrs: [],
    });
  });

  it("parses unset with and without names", () => {
    expect(parseQmgr("unset server default_queue")).toEqual({
      verb: "unset",
      objectType: "server",
      names: [],
      attrs: [{ name: "default_queue", op: "=", value: "" }],
    });
    expect(parseQmgr("u s @default max_run, resources_max.mem")).toEqual({
      verb: "unset",
      objectType: "server",
      names: ["@default"],
      attrs: [
        { name: "max_run", op: "=", value: "" },
        { name: "resources_max.mem", op: "=", value: "" },
      ],
    });
    expect(parseQmgr("unset queue workq max_running")).toMatchObject({
      names: ["workq"],
      attrs: [{ name: "max_running", op: "=", value: "" }],
    });
  });

  it("parses list and print", () => {
    expect(parseQmgr("list queue")).toEqual({ verb: "list", objectType: "queue", names: [], attrs: [] });
    expect(parseQmgr("l q workq")).toMatchObject({ names: ["workq"], attrs: [] });
    expect(parseQmgr("list node n1 state,ntype")).toMatchObject({
      names: ["n1"],
      attrs: [
        { name: "state", op: "=", value: "" },
        { name: "ntype", op: "=", value: "" },
      ],
    });
    expect(parseQmgr("p s")).toEqual({ verb: "print", objectType: "server", names: [], attrs: [] });
    expect(parseQmgr("print server @default")).toMatchObject({ names: ["@default"] });
    expect(parseQmgr("  PRINT   SCHED  ")).toMatchObject({ verb: "print", objectType: "sched" });
    expect(parseQmgr("set queue workq@desched1 enabled = false").names).toEqual(["workq@desched1"]);
  });

  it.each([
    ["", "Syntax error: empty command"],
    ["frobnicate server", "Illegal operation: frobnicate"],
    ["active queue q1", "Unsupported command: active"],
    ["set", "needs an object type"],
    ["set widget x a=1", "Illegal object type: widget"],
    ["set hook h1 enabled=true", "Unsupported object type: hook"],
    ["set server", "set needs attribute = value"],
    ["set queue workq", "set needs attribute = value"],
    ["set queue enabled = true", "set queue needs a queue name"],
    ["set server scheduling", "set needs attribute = value"],
    ["set server scheduling true", "expected =, += or -= after true"],
    ["set server scheduling =", "missing value"],
    ["set server comment = hello world", 'unexpected "world"'],
    ["set server comment = 'hello", "unterminated"],
    ["set server a = 1,", "expected an attribute name"],
    ["create server x", "Operation not permitted"],
    ["delete server", "Operation not permitted"],
    ["create queue", "create queue needs a name"],
    ["delete queue q1 enabled", "unexpected"],
    ["unset server", "unset needs attribute names"],
    ["unset queue workq", "unset needs attribute names"],
    ["create queue 1bad", "Illegal queue name: 1bad"],
    ["create queue waytoolongqueuename", "Illegal queue name"],
    ["create resource bad-name type=long", "Illegal resource name"],
    ["list queue q1 a b", "unexpected"],
    ["set server@x a=1", "unexpected"],
  ])("rejects %j", (cmd, msg) => {
    expectParseError(() => parseQmgr(cmd), msg);
  });
});

describe("parseQmgrScript", () => {
  it("parses one command per line, skipping blanks and comments", () => {
    const cmds = parseQmgrScript(
      "# setup\ncreate queue workq\n\nset queue workq enabled = true\r\n  # indented comment\nset server default_queue = workq\n",
    );
    expect(cmds.map((c) => c.verb)).toEqual(["create", "set", "set"]);
  });

  it("reports the line number", () => {
    expectParseError(() => parseQmgrScript("create queue a\n\nset queue a b\n"), /^line 3: Syntax error/);
  });
});

describe("index", () => {
  it("re-exports every module", () => {
    for (const name of [
      "parseSize",
      "formatSize",
      "parseWalltime",
      "formatWalltime",
      "parseSelect",
      "formatSelect",
      "normalizeResources",
      "parseResourceList",
      "totals",
      "parseJobId",
      "formatJobId",
      "parseDestination",
      "parseDepend",
      "formatDepend",
      "parseArrayRange",
      "arrayIndices",
      "countIndices",
      "formatArrayRange",
      "applyQsubOption",
      "tokenizeDirective",
      "parseDirectives",
      "parseQsubArgv",
      "mergeOptions",
      "parseQmgr",
      "parseQmgrScript",
      "canTransition",
      "isTerminal",
      "isActive",
      "stateCountKey",
      "holdTypesFrom",
      "formatHoldTypes",
    ]) {
      expect(typeof (pbs as Record<string, unknown>)[name], name).toBe("function");
    }
  });
});
