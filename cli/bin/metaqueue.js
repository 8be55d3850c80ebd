#!/usr/bin/env node
import module from "node:module";
module.enableCompileCache?.();
import("../dist/metaqueue.js").then(async (m) => { process.exitCode = await m.main("metaqueue", process.argv.slice(2)); });
