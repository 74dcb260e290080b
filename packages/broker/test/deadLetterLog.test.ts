import assert from "node:assert/strict";
import { test } from "node:test";
import { DeadLetterLog } from "../src/processors/client/DeadLetterLog.js";

test("dead letters: the first of an interval at once, the rest in one count line by group", () => {
  let now = 1_000_000;
  const warn: string[] = [];
  const debug: string[] = [];
  const log = new DeadLetterLog(
    { warn: (m) => warn.push(m), debug: (m) => debug.push(m) },
    60_000,
    () => now,
  );
  for (let i = 0; i < 200; i++) log.moved(`ID${i}`, "G1", "%DLQ%G1", 16);
  for (let i = 0; i < 3; i++) log.moved(`X${i}`, "G2", "%DLQ%G2", 16);
  // 12 more groups, one dead letter each: only the 10 busiest are named.
  for (let i = 0; i < 12; i++) log.moved(`Y${i}`, `H${String(i).padStart(2, "0")}`, `%DLQ%H${i}`, 2);
  assert.equal(warn.length, 1);
  assert.match(warn[0]!, /^message ID0 of group G1 moved to %DLQ%G1 after 16 reconsumptions \(further/);
  // Every other one still has its line at DEBUG, with its id.
  assert.equal(debug.length, 199 + 3 + 12);
  assert.match(debug[0]!, /^message ID1 of group G1 moved to %DLQ%G1/);
  now += 60_000;
  log.flush();
  assert.equal(warn.length, 2);
  assert.equal(
    warn[1],
    "214 more messages moved to a DLQ in the last 60 s, by group: G1 199, G2 3, H00 1, H01 1, H02 1, H03 1, H04 1, H05 1, H06 1, H07 1 and 4 more groups",
  );
  // The interval closed: the next dead letter is logged at once again; an interval with no
  // further dead letters writes no count line.
  log.moved("ID200", "G1", "%DLQ%G1", 3);
  assert.equal(warn.length, 3);
  assert.match(warn[2]!, /^message ID200 of group G1 moved to %DLQ%G1 after 3/);
  now += 60_000;
  log.flush();
  assert.equal(warn.length, 3);
});
