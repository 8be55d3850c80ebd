#!/usr/bin/env node
import module from "node:module";
module.enableCompileCache?.();
import("../dist/qrun.js").then(async (m) => { process.exitCode = await m.main("qrun", process.argv.slice(2)); });
