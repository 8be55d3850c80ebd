#!/usr/bin/env node
import module from "node:module";
module.enableCompileCache?.();
import("../dist/qorder.js").then(async (m) => { process.exitCode = await m.main("qorder", process.argv.slice(2)); });
