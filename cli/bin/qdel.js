#!/usr/bin/env node
import module from "node:module";
module.enableCompileCache?.();
import("../dist/qdel.js").then(async (m) => { process.exitCode = await m.main("qdel", process.argv.slice(2)); });
