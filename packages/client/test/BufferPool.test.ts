import assert from "node:assert/strict";
import { test } from "node:test";
import { BufferPool } from "../src/BufferPool.js";

test("BufferPool reuses returned buffers up to its byte budget", () => {
  const pool = new BufferPool(1024, 3 * 1024, 2048);
  const a = pool.take(1000);
  assert.equal(a.length, 1024, "rounded up to the granule");
  const b = pool.take(1500);
  assert.equal(b.length, 2048);
  const c = pool.take(10);
  const big = pool.take(3000);
  pool.give(big); // over maxBytes: not kept
  pool.give(a);
  pool.give(b);
  pool.give(c); // 1024 + 2048 + 1024 > 3 KiB: not kept
  assert.equal(pool.take(2000), b, "a kept buffer large enough comes back");
  assert.equal(pool.take(1024), a);
  assert.notEqual(pool.take(1024), c, "the pool is empty: a fresh buffer");
});
