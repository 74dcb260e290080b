// Shared by the two simulator test files (split so `npm test` can run them on both cores).
import assert from "node:assert/strict";
import { runSimulation, SimFailure } from "../src/sim/index.js";

/** Run seeds [from, to]; fail with every failing seed and its replay command. */
export function runSeeds(
  from: number,
  to: number,
): { acked: number; leaderChanges: number; lostIndexRecords: number; wedged: number } {
  const failures: string[] = [];
  let acked = 0;
  let leaderChanges = 0;
  let lostIndexRecords = 0;
  let wedged = 0;
  for (let seed = from; seed <= to; seed++) {
    try {
      const r = runSimulation({ seed });
      acked += r.acked;
      leaderChanges += r.leaderChanges;
      lostIndexRecords += r.lostIndexRecords;
      if (r.wedgedByAmnesia) wedged++;
    } catch (e) {
      failures.push(e instanceof SimFailure ? e.message : `seed ${seed}: ${(e as Error).stack}`);
    }
  }
  assert.deepEqual(failures, [], `${failures.length} failing seeds:\n${failures.join("\n")}`);
  return { acked, leaderChanges, lostIndexRecords, wedged };
}
