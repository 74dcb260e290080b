import assert from "node:assert/strict";
import { test } from "node:test";
import { measureFailover } from "../src/sim/index.js";

// With the defaults (electionTicks 10, randomized to [10, 20)), a leader crash is detected by
// the first follower whose timeout expires; a split vote costs one more randomized timeout.
// Seeds are fixed, so this is deterministic. bench/raft-sim.mjs prints the distribution.
test("failover: after a leader crash a new leader commits within 4 election timeouts, ~1.5 on average", () => {
  let total = 0;
  const runs = 200;
  for (let seed = 1; seed <= runs; seed++) {
    const r = measureFailover(seed);
    assert.ok(
      r.ticksToElect >= 10,
      `seed ${seed}: elected after ${r.ticksToElect} ticks, before any timeout`,
    );
    assert.ok(r.ticksToCommit <= 40, `seed ${seed}: took ${r.ticksToCommit} ticks`);
    total += r.ticksToCommit;
  }
  assert.ok(total / runs <= 20, `mean ${total / runs} ticks`);
});
