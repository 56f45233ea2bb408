#!/usr/bin/env node
// The installed command. npm links it at install time, before dist/ is built,
// so it is a file of its own that runs the compiled program.
require("../dist/main.js");
