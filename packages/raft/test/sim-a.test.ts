// The deterministic simulator over seeds 1-250 (sim-b runs 251-500). Each seed: chaos
// (drops, delays, duplicates, partitions, crashes with torn/lost writes, pauses, clock jumps),
// then heal; invariants checked at every step (see src/sim/checker.ts).
import assert from "node:assert/strict";
import { test } from "node:test";
import { runSeeds } from "./simSeeds.js";

test("simulator: seeds 1-250 keep every Raft invariant and recover after healing", () => {
  const r = runSeeds(1, 250);
  // The runs must actually exercise something: writes acknowledged and leaders replaced.
  assert.ok(r.acked > 1000, `only ${r.acked} writes acknowledged`);
  assert.ok(r.leaderChanges > 250, `only ${r.leaderChanges} leader changes`);
  // Two thirds of the seeds ack as dLegerLazyIndexSync does; crashes must have cost some of
  // them index records of entries whose bytes survived (the amnesia mark's case).
  assert.ok(r.lostIndexRecords > 50, `only ${r.lostIndexRecords} index records lost in crashes`);
});
