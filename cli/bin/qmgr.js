#!/usr/bin/env node
import module from "node:module";
module.enableCompileCache?.();
import("../dist/qmgr.js").then(async (m) => { process.exitCode = await m.main("qmgr", process.argv.slice(2)); });
