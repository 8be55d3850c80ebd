#!/usr/bin/env node
import module from "node:module";
module.enableCompileCache?.();
import("../dist/qalter.js").then(async (m) => { process.exitCode = await m.main("qalter", process.argv.slice(2)); });
