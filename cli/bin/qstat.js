#!/usr/bin/env node
import module from "node:module";
module.enableCompileCache?.();
import("../dist/qstat.js").then(async (m) => { process.exitCode = await m.main("qstat", process.argv.slice(2)); });
