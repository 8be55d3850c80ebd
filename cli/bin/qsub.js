#!/usr/bin/env node
import module from "node:module";
module.enableCompileCache?.();
import("../dist/qsub.js").then(async (m) => { process.exitCode = await m.main("qsub", process.argv.slice(2)); });
