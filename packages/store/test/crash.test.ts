import assert from "node:assert/strict";
import { after, test } from "node:test";
import { runCrashRounds } from "./crashHarness.js";
import { removeDir, tempDir } from "./helpers.js";

const dirs: string[] = [];
after(async () => {
  for (const d of dirs) await removeDir(d);
});

// More rounds: node bench/store-crash-rounds.mjs (>= 20).
test("kill -9 during SYNC_FLUSH appends never loses or tears an acknowledged message (5 rounds)", async () => {
  const dir = await tempDir("tidemq-crash-");
  dirs.push(dir);
  const seed = process.env.STORE_CRASH_SEED ? Number(process.env.STORE_CRASH_SEED) : Date.now() % 100_000;
  const r = await runCrashRounds(dir, 5, seed);
  assert.equal(r.rounds, 5);
  assert.ok(r.acked > 0, "the child acknowledged messages");
  assert.ok(r.stored >= r.acked);
});
