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

test("messages removed out of order leave the smallest held offset to commit; values stay in offset order", () => {
  const pq = new ProcessQueue();
  pq.put([msg(10), msg(12), msg(15), msg(20)]);
  pq.removeOne(15);
  pq.removeOne(12);
  assert.deepEqual(
    [...pq.values()].map((m) => m.queueOffset),
    [10, 20],
  );
  assert.equal(pq.commitOffset(), 10);
  assert.equal(pq.remove([10]), 20);
  assert.equal(pq.has(12), false);
  assert.equal(pq.get(20)?.queueOffset, 20);
  // A re-pulled offset below the highest one (offset reset) is inserted in order.
  assert.equal(pq.put([msg(12), msg(20)]).length, 1);
  assert.deepEqual(
    [...pq.values()].map((m) => m.queueOffset),
    [12, 20],
  );
  assert.equal(pq.firstOffset(), 12);
  pq.clear();
  assert.equal(pq.count, 0);
  assert.equal(pq.firstOffset(), undefined);
  assert.equal(pq.commitOffset(), 21, "max + 1 once nothing is held");
});

test("a long run of puts and in-order removals keeps count, size and the commit offset exact", () => {
  const pq = new ProcessQueue();
  let next = 0;
  for (let round = 0; round < 50; round++) {
    pq.put(Array.from({ length: 100 }, () => msg(next++, 3)));
    // Consume all but the newest 10, oldest first.
    const first = pq.firstOffset()!;
    for (let o = first; o < next - 10; o++) pq.removeOne(o);
    assert.equal(pq.count, 10);
    assert.equal(pq.size, 30);
    assert.equal(pq.commitOffset(), next - 10);
  }
});

test("bodySize, when a message tells it, counts bytes without reading the body", () => {
  const pq = new ProcessQueue<{ queueOffset: number; body: Buffer; bodySize: number }>();
  const m = {
    queueOffset: 1,
    bodySize: 7,
    get body(): Buffer {
      throw new Error("body read");
    },
  };
  pq.put([m]);
  assert.equal(pq.size, 7);
  pq.removeOne(1);
  assert.equal(pq.size, 0);
});
