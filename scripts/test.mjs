#!/usr/bin/env node
// Runs every compiled test file (packages/*/dist/test/**/*.test.js) through node:test.
// Node 20's `--test` takes no glob, so the files are listed here.
// Usage: node scripts/test.mjs [substring ...]   (only files whose path contains one of them)
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";

const root = new URL("..", import.meta.url).pathname;
const filters = process.argv.slice(2);

function walk(dir, out) {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else if (name.endsWith(".test.js")) out.push(p);
  }
  return out;
}

const files = [];
for (const pkg of readdirSync(join(root, "packages"))) {
  const dir = join(root, "packages", pkg, "dist", "test");
  if (existsSync(dir)) walk(dir, files);
}
const selected = files.filter((f) => filters.length === 0 || filters.some((s) => f.includes(s))).sort();
if (selected.length === 0) {
  console.error("no test files found: run `npm run build` first");
  process.exit(1);
}
const concurrency = process.env.TEST_CONCURRENCY ?? "2";
// The timeout guards against hangs. Node 20 applies it to each file as a whole too, and a
// file of many child-process tests (cli admin) passed 300 s on a loaded machine.
// TEST_TIMINGS=<file>: also write per-file wall times, slowest first (to find what to split).
const timings = process.env.TEST_TIMINGS
  ? [
      "--test-reporter=tap",
      "--test-reporter-destination=stdout",
      `--test-reporter=${join(root, "scripts/file-timings-reporter.mjs")}`,
      `--test-reporter-destination=${process.env.TEST_TIMINGS}`,
    ]
  : [];
const args = [
  "--test",
  `--test-concurrency=${concurrency}`,
  "--test-timeout=900000",
  ...timings,
  ...selected,
];
const result = spawnSync(process.execPath, args, { stdio: "inherit", cwd: root });
process.exit(result.status ?? 1);
