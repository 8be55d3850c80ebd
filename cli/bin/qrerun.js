#!/usr/bin/env node
import module from "node:module";
module.enableCompileCache?.();
import("../dist/qrerun.js").then(async (m) => { process.exitCode = await m.main("qrerun", process.argv.slice(2)); });
