import assert from "node:assert/strict";
import { test } from "node:test";
import { startPosition, startPositionText } from "../src/bench/StartPosition.js";

test("startPosition: a new group starts at --from; a group with offsets resumes and says how far behind", () => {
  const fresh = [
    { committed: -1, min: 0, max: 1000 },
    { committed: -1, min: 200, max: 700 },
  ];
  assert.deepEqual(startPosition(fresh, "last"), { kind: "new", queues: 2, committedQueues: 0, behind: 0 });
  assert.deepEqual(startPosition(fresh, "first"), {
    kind: "new",
    queues: 2,
    committedQueues: 0,
    behind: 1500,
  });
  assert.match(
    startPositionText("g", "last", startPosition(fresh, "last")),
    /^new group g: starts at the last offset/,
  );
  assert.match(
    startPositionText("g", "first", startPosition(fresh, "first")),
    /1,500 stored messages to read first/,
  );

  // The case: the documented group ran before, 1.19 M messages were left behind.
  const resumed = [
    { committed: 10, min: 0, max: 595_010 },
    { committed: 0, min: 0, max: 595_000 },
  ];
  const r = startPosition(resumed, "last");
  assert.deepEqual(r, { kind: "resume", queues: 2, committedQueues: 2, behind: 1_190_000 });
  assert.match(
    startPositionText("bench_c", "last", r),
    /^group bench_c has committed offsets: resumes from them, 1,190,000 messages behind/,
  );

  // A committed offset below the queue's min (messages deleted since) reads from min.
  const mixed = [
    { committed: 5, min: 100, max: 150 },
    { committed: -1, min: 0, max: 40 },
  ];
  const m = startPosition(mixed, "first");
  assert.deepEqual(m, { kind: "mixed", queues: 2, committedQueues: 1, behind: 90 });
  assert.match(startPositionText("g", "first", m), /committed offsets on 1 of 2 queues/);
});
