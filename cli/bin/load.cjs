"use strict";
/**
 * Runs the PBS command `cmd` from its bundle, cli/dist/<cmd>.cjs (scripts/build.mjs), with V8's
 * compiled code of the bundle kept on disk between runs: workflow tools start a process per job
 * and per poll, and parsing and compiling the bundle was a tenth of each command's time.
 *
 * Node >= 22.1 does this itself (module.enableCompileCache). On Node 20 the bundle is compiled
 * as a vm.Script with the cache next to it, `.<cmd>-<size>-<mtime>-<node version>-<arch>.v8cache`:
 * a rebuilt bundle or another Node gets a new name, since V8 checks the cache against the source's
 * length only. A run without a usable cache writes one after the command is done (to a temporary
 * file renamed into place, so concurrent commands never read half a cache); a checkout the user
 * cannot write simply runs without one.
 */
const fs = require("node:fs");
const path = require("node:path");
const Module = require("node:module");

function loadWithCache(file) {
  const vm = require("node:vm");
  const st = fs.statSync(file);
  const cacheFile = path.join(
    path.dirname(file),
    `.${path.basename(file, ".cjs")}-${st.size}-${Math.trunc(st.mtimeMs)}-${process.version}-${process.arch}.v8cache`,
  );
  let cachedData;
  try {
    // compiled code is code: only a cache owned by the bundle's owner is used, so a user who may
    // write next to the bundle but not the bundle itself cannot make another user's qsub run theirs
    const fd = fs.openSync(cacheFile, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      if (fs.fstatSync(fd).uid === st.uid) cachedData = fs.readFileSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {}
  const script = new vm.Script(Module.wrap(fs.readFileSync(file, "utf8")), { filename: file, cachedData });
  const mod = { exports: {} };
  script.runInThisContext().call(mod.exports, mod.exports, Module.createRequire(file), mod, file, path.dirname(file));
  const save =
    cachedData === undefined || script.cachedDataRejected
      ? () => {
          const tmp = `${cacheFile}.${process.pid}`;
          try {
            fs.writeFileSync(tmp, script.createCachedData());
            fs.renameSync(tmp, cacheFile);
          } catch {
            fs.rmSync(tmp, { force: true });
          }
        }
      : () => {};
  return { exports: mod.exports, save };
}

/**
 * The shim (cli/bin/<cmd>, scripts/build.mjs says why) started Node without NODE_EXTRA_CA_CERTS
 * and left its value here: the command's environment gets the variable back (what qsub -V sends,
 * what it runs), and its TLS connection trusts the file itself (cli/src/http1.ts deferredCa,
 * which finds it under this process-wide symbol: the bundle is loaded apart from this file).
 */
function restoreDeferredCa() {
  const file = process.env.METAQUEUE_DEFERRED_CA_CERTS;
  if (file === undefined) return;
  delete process.env.METAQUEUE_DEFERRED_CA_CERTS;
  process.env.NODE_EXTRA_CA_CERTS = file;
  process[Symbol.for("metaqueue.deferredExtraCaCerts")] = file;
}

function run(cmd, argv) {
  restoreDeferredCa();
  const file = path.join(__dirname, "..", "dist", `${cmd}.cjs`);
  let bundle;
  if (Module.enableCompileCache) {
    Module.enableCompileCache();
    bundle = { exports: require(file), save: () => {} };
  } else bundle = loadWithCache(file);
  bundle.exports.main(cmd, argv).then((code) => {
    process.exitCode = code;
    bundle.save();
  });
}

// `node cli/bin/load.cjs <cmd> [args]`, as the shims run it (nothing requires this file)
if (process.argv[2]) run(process.argv[2], process.argv.slice(3));
else {
  process.stderr.write("usage: node load.cjs <command> [arguments]\n");
  process.exitCode = 2;
}
