#!/usr/bin/env node
import("../dist/main.js").then(async (m) => { process.exitCode = await m.main("qsig", process.argv.slice(2)); });
