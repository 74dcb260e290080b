#!/usr/bin/env node
// Thin launcher: the compiled CLI lives in dist/ (built by `npm install`).
import("../dist/src/main.js").catch((err) => {
  console.error(`tidemq: ${err?.message ? err.message : err}`);
  console.error("tidemq: has the project been built? Run `npm install` (or `npm run build`).");
  process.exit(1);
});
