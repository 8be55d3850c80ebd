#!/usr/bin/env node
require("./load.cjs")("qhold");
