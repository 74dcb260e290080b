#!/usr/bin/env -S node --initial-old-space-size=64
// Thin launcher: the compiled CLI lives in dist/ (built by `npm install`).
// --initial-old-space-size=64: with the few MiB of heap a broker needs, V8 starts a
// mark-compact about once a second under load (socket Buffers count towards its limit), and
// each pause lands in the end-to-end p99 (`node bench/broker-send.mjs --rate 10000 --diag`:
// p99 8-11 ms -> 4-7 ms). V8 takes this flag only at start-up, hence the shebang.
import("../dist/src/main.js").catch((err) => {
  console.error(`tidemq: ${err?.message ? err.message : err}`);
  console.error("tidemq: has the project been built? Run `npm install` (or `npm run build`).");
  process.exit(1);
});
