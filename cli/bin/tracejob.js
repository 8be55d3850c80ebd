#!/usr/bin/env node
import module from "node:module";
module.enableCompileCache?.();
import("../dist/tracejob.js").then(async (m) => { process.exitCode = await m.main("tracejob", process.argv.slice(2)); });
