#!/usr/bin/env node
import module from "node:module";
module.enableCompileCache?.();
import("../dist/qsig.js").then(async (m) => { process.exitCode = await m.main("qsig", process.argv.slice(2)); });
