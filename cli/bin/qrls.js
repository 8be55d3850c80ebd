#!/usr/bin/env node
import module from "node:module";
module.enableCompileCache?.();
import("../dist/qrls.js").then(async (m) => { process.exitCode = await m.main("qrls", process.argv.slice(2)); });
