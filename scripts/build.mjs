#!/usr/bin/env node
/**
 * Bundles the deployable entry points with esbuild. Run by `npm run build`, `npm ci` (prepare),
 * `npm start` and `npm test`. Add a bundle by appending to BUNDLES.
 *
 * The PBS commands are one bundle (cli/dist/main.js) so each command starts by loading a single
 * file; cli/bin/<cmd>.js are two-line shims that call main("<cmd>", argv).
 */
import { chmod, readFile, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** Options shared by every bundle. */
export const COMMON = {
  platform: "node",
  format: "esm",
  target: "node20",
  bundle: true,
  minify: false,
  sourcemap: "linked",
  logLevel: "warning",
  // CommonJS dependencies (commander, the AWS SDK...) call require() on Node built-ins: give the
  // ESM bundle a real require.
  banner: {
    js: 'import { createRequire as __mqCreateRequire } from "node:module"; const require = __mqCreateRequire(import.meta.url);',
  },
};

/** One entry per bundle: esbuild options merged over COMMON (paths relative to the repo root). */
export const BUNDLES = [
  { name: "cli", entryPoints: ["cli/src/main.ts"], outfile: "cli/dist/main.js" },
  // the local MOM: forked once per virtual node, so its start-up time counts
  { name: "mom-local", entryPoints: ["lambdas/mom/local.ts"], outfile: "dist/mom-local.js" },
  // the MOM of an ECS task (Dockerfile.mom copies it into the image; node:22 there)
  { name: "mom-ecs", entryPoints: ["lambdas/mom/ecs.ts"], outfile: "dist/mom-ecs.js", target: "node22" },
];

function shim(cmd) {
  return `#!/usr/bin/env node\nimport("../dist/main.js").then(async (m) => { process.exitCode = await m.main(${JSON.stringify(cmd)}, process.argv.slice(2)); });\n`;
}

/** Writes cli/bin/<cmd>.js for every bin entry of cli/package.json (only when changed), mode 755. */
async function writeShims() {
  const pkg = JSON.parse(await readFile(join(root, "cli/package.json"), "utf8"));
  for (const [cmd, rel] of Object.entries(pkg.bin ?? {})) {
    const file = join(root, "cli", rel);
    const text = shim(cmd);
    const old = await readFile(file, "utf8").catch(() => undefined);
    if (old !== text) await writeFile(file, text);
    await chmod(file, 0o755);
  }
}

export async function buildAll(names) {
  const selected = names?.length ? BUNDLES.filter((b) => names.includes(b.name)) : BUNDLES;
  await Promise.all(
    selected.map(({ name, entryPoints, outfile, ...rest }) =>
      build({
        ...COMMON,
        ...rest,
        absWorkingDir: root,
        entryPoints,
        outfile,
      }).catch((e) => {
        throw new Error(`bundle ${name} failed: ${e.message}`);
      }),
    ),
  );
  await writeShims();
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const started = Date.now();
  try {
    await buildAll(process.argv.slice(2));
    if (process.env.METAQUEUE_BUILD_VERBOSE) console.log(`built in ${Date.now() - started} ms`);
  } catch (e) {
    console.error(e.message);
    process.exitCode = 1;
  }
}
