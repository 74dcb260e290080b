import assert from "node:assert/strict";
import { test } from "node:test";
import {
  LatencyFaultTolerance,
  type MessageQueue,
  RoundRobinSelector,
  selectByShardingKey,
} from "../src/index.js";

const mqs: MessageQueue[] = [
  { topic: "T", brokerName: "a", queueId: 0 },
  { topic: "T", brokerName: "a", queueId: 1 },
  { topic: "T", brokerName: "b", queueId: 0 },
  { topic: "T", brokerName: "b", queueId: 1 },
];

test("round robin visits every queue evenly", () => {
  const s = new RoundRobinSelector(0);
  const counts = new Map<string, number>();
  for (let i = 0; i < 400; i++) {
    const q = s.select(mqs, new LatencyFaultTolerance(), undefined, 0)!;
    const k = `${q.brokerName}:${q.queueId}`;
    counts.set(k, (counts.get(k) ?? 0) + 1);
  }
  assert.deepEqual([...counts.values()], [100, 100, 100, 100]);
});

test("a retry avoids the broker that just failed", () => {
  const s = new RoundRobinSelector(0);
  for (let i = 0; i < 20; i++) assert.equal(s.select(mqs, undefined, "a", 0)!.brokerName, "b");
  const fault = new LatencyFaultTolerance();
  for (let i = 0; i < 20; i++) assert.equal(s.select(mqs, fault, "b", 0)!.brokerName, "a");
});

test("a failed broker is avoided for the isolation time, then used again", () => {
  const fault = new LatencyFaultTolerance();
  fault.update("a", 5, true, 1000);
  const s = new RoundRobinSelector(0);
  for (let i = 0; i < 20; i++) assert.equal(s.select(mqs, fault, undefined, 1000 + 9999)!.brokerName, "b");
  assert.equal(fault.isAvailable("a", 1000 + 9999), false);
  assert.equal(fault.isAvailable("a", 1000 + 10_000), true);
  const seen = new Set<string>();
  for (let i = 0; i < 20; i++) seen.add(s.select(mqs, fault, undefined, 1000 + 10_000)!.brokerName);
  assert.deepEqual([...seen].sort(), ["a", "b"]);
});

test("latency decides how long a slow broker is avoided (RocketMQ 5 tables)", () => {
  const fault = new LatencyFaultTolerance();
  assert.equal(fault.computeNotAvailableDuration(10), 0);
  assert.equal(fault.computeNotAvailableDuration(100), 0);
  assert.equal(fault.computeNotAvailableDuration(600), 2000);
  assert.equal(fault.computeNotAvailableDuration(2000), 5000);
  assert.equal(fault.computeNotAvailableDuration(20_000), 30_000);
  fault.update("a", 40, false, 0);
  assert.equal(fault.isAvailable("a", 0), true);
  fault.update("b", 700, false, 0);
  assert.equal(fault.isAvailable("b", 1999), false);
  assert.equal(fault.isAvailable("b", 2000), true);
});

test("when every broker is avoided, the one available soonest is used", () => {
  const fault = new LatencyFaultTolerance();
  fault.update("a", 20_000, false, 0); // avoided 30 s
  fault.update("b", 2000, false, 0); // avoided 5 s
  const s = new RoundRobinSelector(0);
  for (let i = 0; i < 10; i++) assert.equal(s.select(mqs, fault, undefined, 100)!.brokerName, "b");
});

test("sharding keys map to a stable queue (Java String.hashCode mod n)", () => {
  const a = selectByShardingKey(mqs, "order-42");
  for (let i = 0; i < 5; i++) assert.deepEqual(selectByShardingKey(mqs, "order-42"), a);
  // "a".hashCode() = 97 → 97 % 4 = 1.
  assert.deepEqual(selectByShardingKey(mqs, "a"), mqs[1]);
  const used = new Set(
    Array.from(
      { length: 100 },
      (_, i) => selectByShardingKey(mqs, `k${i}`)!.queueId + selectByShardingKey(mqs, `k${i}`)!.brokerName,
    ),
  );
  assert.equal(used.size, 4);
  assert.equal(selectByShardingKey([], "x"), undefined);
});
