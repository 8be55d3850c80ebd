#!/usr/bin/env node
import module from "node:module";
module.enableCompileCache?.();
import("../dist/pbsnodes.js").then(async (m) => { process.exitCode = await m.main("pbsnodes", process.argv.slice(2)); });
