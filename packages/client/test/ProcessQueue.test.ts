import assert from "node:assert/strict";
import { test } from "node:test";
import { DEFAULT_FLOW_CONTROL, ProcessQueue } from "../src/index.js";

const msg = (queueOffset: number, bytes = 10) => ({ queueOffset, body: Buffer.alloc(bytes) });

test("the offset to commit is the smallest one still held, then max + 1", () => {
  const pq = new ProcessQueue();
  assert.equal(pq.remove([1]), -1);
  pq.put([msg(5), msg(6), msg(7)]);
  assert.equal(pq.remove([6]), 5, "5 is still in flight");
  assert.equal(pq.remove([5]), 7);
  assert.equal(pq.remove([7]), 8);
  assert.equal(pq.count, 0);
  assert.equal(pq.size, 0);
});

test("duplicates are not cached twice; counts and sizes track puts and removes", () => {
  const pq = new ProcessQueue();
  assert.equal(pq.put([msg(0, 100), msg(1, 50)]).length, 2);
  assert.equal(pq.put([msg(1, 50), msg(2, 1)]).length, 1);
  assert.equal(pq.count, 3);
  assert.equal(pq.size, 151);
  assert.equal(pq.queueOffsetMax, 2);
  pq.remove([0]);
  assert.equal(pq.size, 51);
});

test("flow control pauses at 1000 messages, at 100 MiB, and on a wide span", () => {
  const pq = new ProcessQueue();
  pq.put(Array.from({ length: 999 }, (_, i) => msg(i, 1)));
  assert.deepEqual(pq.flowControl(DEFAULT_FLOW_CONTROL), { pause: false });
  pq.put([msg(999, 1)]);
  assert.deepEqual(pq.flowControl(DEFAULT_FLOW_CONTROL), { pause: true, reason: "count" });
  pq.remove([500]);
  assert.deepEqual(pq.flowControl(DEFAULT_FLOW_CONTROL), { pause: false });

  const big = new ProcessQueue();
  big.put([msg(0, 60 * 1024 * 1024)]);
  assert.deepEqual(big.flowControl(DEFAULT_FLOW_CONTROL), { pause: false });
  big.put([msg(1, 40 * 1024 * 1024)]);
  assert.deepEqual(big.flowControl(DEFAULT_FLOW_CONTROL), { pause: true, reason: "size" });

  const stuck = new ProcessQueue();
  stuck.put([msg(0), msg(2001)]);
  assert.deepEqual(stuck.flowControl(DEFAULT_FLOW_CONTROL), { pause: true, reason: "span" });
  assert.deepEqual(stuck.flowControl({ ...DEFAULT_FLOW_CONTROL, maxSpan: 0 }), { pause: false });
});
