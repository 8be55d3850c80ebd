#!/usr/bin/env node
import module from "node:module";
module.enableCompileCache?.();
import("../dist/qmove.js").then(async (m) => { process.exitCode = await m.main("qmove", process.argv.slice(2)); });
