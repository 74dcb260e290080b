import assert from "node:assert/strict";
import { test } from "node:test";
import { TokenBucket } from "../src/TokenBucket.js";

test("a token bucket gives `rate` tokens a second, saves at most `burst`, and says when the next is due", () => {
  const b = new TokenBucket(10, 10, 0);
  assert.equal(b.tryTake(0), true, "one token at the start");
  assert.equal(b.tryTake(0), false);
  assert.equal(b.msUntilNext(0), 100);
  assert.equal(b.tryTake(99), false);
  assert.equal(b.tryTake(100), true);
  // An idle minute saves one second's worth, no more.
  let taken = 0;
  for (let i = 0; i < 100; i++) if (b.tryTake(60_100)) taken++;
  assert.equal(taken, 10);
  // Over 10 s at a steady ask, 10/s ± the burst.
  let n = 0;
  for (let t = 60_100; t <= 70_100; t += 1) if (b.tryTake(t)) n++;
  assert.ok(n >= 100 && n <= 101, `${n} tokens in 10 s`);
  const frac = new TokenBucket(2.5, 5, 0);
  let f = 0;
  for (let t = 0; t <= 4_000; t += 10) if (frac.tryTake(t)) f++;
  assert.equal(f, 11, "2.5/s over 4 s, plus the first");
  assert.throws(() => new TokenBucket(0, 1, 0), /positive/);
  assert.throws(() => new TokenBucket(5, 0.5, 0), /burst/);
});
