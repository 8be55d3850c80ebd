#!/usr/bin/env node
import module from "node:module";
module.enableCompileCache?.();
import("../dist/qhold.js").then(async (m) => { process.exitCode = await m.main("qhold", process.argv.slice(2)); });
