/**
 * The layers, checked (issue 11, point 4): pbs → domain → ports ← adapters ← entries.
 * test/unit/layers.test.ts cruises the sources with this file and fails on any violation; by
 * hand: `npx depcruise --config .dependency-cruiser.cjs shared lambdas infra cli/src web/src`.
 *
 * Rules are never weakened for code that breaks them today: such an import is an EXCEPTION
 * below (one file → one target, with why and what removes it). The test also fails when an
 * exception no longer occurs, so an exception is deleted when its move lands.
 */

/** The domain: what a site decides, with no notion of DynamoDB, SQS, Lambda or ECS. */
const DOMAIN = "^shared/(server|scheduler|peers|api|accounting|auth)/";
/** Adapters and entries, and the AWS SDK itself. */
const ADAPTERS = ["^shared/(adapters|store)/", "^(infra|lambdas)/", "@aws-sdk/"];

/**
 * Imports that break a rule today, each pending a move another branch is making. `from` is a
 * file; `to` a regular expression of the imported module's resolved path.
 */
/** @type {{ rule: string; from: string; to: string; why: string }[]} */
const EXCEPTIONS = [];

const exactly = (file) => `^${file.replace(/[.]/g, "\\.")}$`;

/**
 * A rule, with its exceptions cut out exactly: the rule itself for every file but the excepted
 * ones, and for each excepted file the same rule with only its excepted targets let through.
 */
function withExceptions(rule) {
  const mine = EXCEPTIONS.filter((e) => e.rule === rule.name);
  const files = [...new Set(mine.map((e) => e.from))];
  const from = { ...rule.from, pathNot: [...(rule.from.pathNot ?? []), ...files.map(exactly)] };
  return [
    { ...rule, from },
    ...files.map((file) => ({
      ...rule,
      from: { path: exactly(file) },
      to: {
        ...rule.to,
        pathNot: [...(rule.to.pathNot ?? []), ...mine.filter((e) => e.from === file).map((e) => e.to)],
      },
    })),
  ];
}

const RULES = [
  {
    name: "no-circular",
    comment: "no import cycle, type-only imports included (tsPreCompilationDeps)",
    severity: "error",
    from: {},
    to: { circular: true },
  },
  {
    name: "pbs-is-pure",
    comment:
      "the PBS vocabulary imports nothing outside shared/pbs (no node: modules, no packages), but for the typed errors, which import nothing (errors-is-a-leaf)",
    severity: "error",
    from: { path: "^shared/pbs/" },
    to: { pathNot: ["^shared/pbs/", "^shared/errors\\.ts$"] },
  },
  {
    name: "errors-is-a-leaf",
    comment:
      "shared/errors.ts imports only PBS's error table (shared/pbs/errno.ts, which itself imports nothing), so the PBS vocabulary may use it and stay pure",
    severity: "error",
    from: { path: "^shared/errors\\.ts$" },
    to: { pathNot: "^shared/pbs/errno\\.ts$" },
  },
  {
    name: "errno-is-a-leaf",
    comment: "PBS's error table imports nothing: shared/errors.ts builds on it",
    severity: "error",
    from: { path: "^shared/pbs/errno\\.ts$" },
    to: {},
  },
  {
    name: "domain-no-adapters",
    comment: "the domain reaches the world through shared/ports only",
    severity: "error",
    from: { path: DOMAIN },
    to: { path: ADAPTERS },
  },
  {
    name: "ports-no-adapters",
    comment: "a port names what the domain needs; adapters implement it, never the reverse",
    severity: "error",
    from: { path: "^shared/ports/" },
    to: { path: ADAPTERS },
  },
  {
    name: "shared-no-entries",
    comment:
      "entries (Lambdas, the local runtime, the MOM entries, the CDK app, the CLI) import shared/, never the reverse",
    severity: "error",
    from: { path: "^shared/" },
    to: { path: "^(lambdas|infra|cli)/" },
  },
  {
    name: "web-takes-types-only",
    comment:
      "the browser bundle takes the API's types (erased by esbuild) and the pure PBS vocabulary, no server code",
    severity: "error",
    from: { path: "^web/" },
    to: { path: "^shared/", pathNot: "^shared/pbs/", dependencyTypesNot: ["type-only"] },
  },
];

module.exports = {
  forbidden: RULES.flatMap(withExceptions),
  options: {
    // type-only imports count: a cycle of types is still a cycle a reader has to untangle
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)(dist|test|bench)/|web-assets\\.gen\\.ts$" },
    enhancedResolveOptions: {
      exportsFields: ["exports"],
      conditionNames: ["import", "require", "node", "default", "types"],
      extensions: [".ts", ".js", ".mjs", ".cjs", ".json"],
    },
  },
};
// for the test: what is excepted, to check each exception still occurs
Object.defineProperty(module.exports, "exceptions", { value: EXCEPTIONS, enumerable: false });
