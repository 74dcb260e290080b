import assert from "node:assert/strict";
import { test } from "node:test";
import { DeadLetterLog } from "../src/processors/client/DeadLetterLog.js";

test("dead letters log one line per group per interval, then the count", () => {
  let now = 1_000_000;
  const lines: Array<{ msg: string; group: unknown }> = [];
  const log = new DeadLetterLog(
    (msg, fields) => lines.push({ msg, group: fields?.group }),
    60_000,
    () => now,
  );
  for (let i = 0; i < 200; i++) log.moved(`ID${i}`, "G1", "%DLQ%G1", 16);
  for (let i = 0; i < 3; i++) log.moved(`X${i}`, "G2", "%DLQ%G2", 16);
  // The first of each group at once, with its message id; the rest only counted.
  assert.equal(lines.length, 2);
  assert.match(lines[0]!.msg, /^message ID0 of group G1 moved to %DLQ%G1 after 16 reconsumptions/);
  assert.equal(lines[0]!.group, "G1");
  assert.match(lines[1]!.msg, /^message X0 of group G2/);
  // Before the interval ends nothing more is written.
  now += 59_000;
  log.flush();
  assert.equal(lines.length, 2);
  now += 1_000;
  log.flush();
  assert.deepEqual(
    lines.slice(2).map((l) => l.msg),
    [
      "199 more messages of group G1 moved to %DLQ%G1 in the last 60 s",
      "2 more messages of group G2 moved to %DLQ%G2 in the last 60 s",
    ],
  );
  // The interval closed: the group's next dead letter is logged at once again; a group with
  // no further dead letters writes no count line.
  log.moved("ID200", "G1", "%DLQ%G1", 3);
  assert.match(lines.at(-1)!.msg, /^message ID200 of group G1 moved to %DLQ%G1 after 3/);
  now += 60_000;
  log.flush();
  assert.equal(lines.length, 5);
});
