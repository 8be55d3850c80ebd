#!/usr/bin/env node
import module from "node:module";
module.enableCompileCache?.();
import("../dist/qselect.js").then(async (m) => { process.exitCode = await m.main("qselect", process.argv.slice(2)); });
