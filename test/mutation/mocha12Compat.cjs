// Preloaded (NODE_OPTIONS=--require) by `npm run test:mutation` only.
//
// StrykerJS 10 (the first with Mocha 12 support) refuses Node 20, and the
// mocha runner of StrykerJS 9 requires Mocha's CLI helpers without an
// extension (`mocha/lib/cli/run-helpers`), which Mocha 12 ships as `.cjs`.
// Registering `.cjs` as a CommonJS extension lets require() find them; nothing
// else changes. Remove this file (and the override in package.json) once the
// project moves to Node 22 and StrykerJS 10.
"use strict";
const Module = require("module");
if (!Module._extensions[".cjs"]) {
    Module._extensions[".cjs"] = Module._extensions[".js"];
}
