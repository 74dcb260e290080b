// A node:test reporter that prints, per test file, the sum of its top-level tests' durations
// (before/after hooks not included), slowest first. Used by scripts/test.mjs when TEST_TIMINGS
// is set. Node 20's TAP output names tests, not files, and reports a file's events only when
// the file is done, so neither its output nor arrival times can tell how long a file took.
export default async function* fileTimings(source) {
  const files = new Map();
  const started = performance.now();
  for await (const event of source) {
    const file = event.data?.file;
    if (!file || event.data.nesting !== 0) continue;
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    let f = files.get(file);
    if (!f) {
      f = { ms: 0, tests: 0, failed: 0 };
      files.set(file, f);
    }
    f.tests++;
    f.ms += event.data.details?.duration_ms ?? 0;
    if (event.type === "test:fail") f.failed++;
  }
  const total = (performance.now() - started) / 1000;
  const rows = [...files.entries()].sort((a, b) => b[1].ms - a[1].ms);
  const sum = rows.reduce((s, [, f]) => s + f.ms, 0) / 1000;
  yield `per-file test time (sum of top-level tests, hooks excluded): ${sum.toFixed(0)} s in ${rows.length} files; run took ${total.toFixed(0)} s\n`;
  yield "  tests s  tests  failed  file\n";
  for (const [file, f] of rows) {
    yield `${(f.ms / 1000).toFixed(1).padStart(8)}  ${String(f.tests).padStart(5)}  ${String(f.failed).padStart(6)}  ${file.replace(/^.*\/packages\//, "")}\n`;
  }
}
