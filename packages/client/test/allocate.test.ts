import assert from "node:assert/strict";
import { test } from "node:test";
import { allocateAveragely, type MessageQueue } from "../src/index.js";

function queues(topic: string, brokers: Record<string, number>): MessageQueue[] {
  const out: MessageQueue[] = [];
  for (const [brokerName, n] of Object.entries(brokers))
    for (let q = 0; q < n; q++) out.push({ topic, brokerName, queueId: q });
  return out;
}

const ids = (qs: MessageQueue[]) => qs.map((q) => `${q.brokerName}:${q.queueId}`);

test("8 queues over 3 clients: blocks of 3, 3, 2 in sorted order", () => {
  const mqs = queues("T", { "broker-b": 4, "broker-a": 4 }).reverse();
  const clients = ["10.0.0.3@3", "10.0.0.1@1", "10.0.0.2@2"];
  assert.deepEqual(ids(allocateAveragely(mqs, clients, "10.0.0.1@1")), [
    "broker-a:0",
    "broker-a:1",
    "broker-a:2",
  ]);
  assert.deepEqual(ids(allocateAveragely(mqs, clients, "10.0.0.2@2")), [
    "broker-a:3",
    "broker-b:0",
    "broker-b:1",
  ]);
  assert.deepEqual(ids(allocateAveragely(mqs, clients, "10.0.0.3@3")), ["broker-b:2", "broker-b:3"]);
});

test("every queue is allocated exactly once, for any client count", () => {
  const mqs = queues("T", { a: 5, b: 3, c: 4 });
  for (let c = 1; c <= 15; c++) {
    const clients = Array.from({ length: c }, (_, i) => `client-${String(i).padStart(2, "0")}`);
    const all = clients.flatMap((id) => ids(allocateAveragely(mqs, clients, id)));
    assert.equal(all.length, mqs.length, `clients=${c}`);
    assert.equal(new Set(all).size, mqs.length, `clients=${c}`);
    const sizes = clients.map((id) => allocateAveragely(mqs, clients, id).length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `balanced for ${c}: ${sizes}`);
  }
});

test("more clients than queues: the last clients get nothing", () => {
  const mqs = queues("T", { a: 2 });
  const clients = ["c1", "c2", "c3"];
  assert.deepEqual(ids(allocateAveragely(mqs, clients, "c1")), ["a:0"]);
  assert.deepEqual(ids(allocateAveragely(mqs, clients, "c2")), ["a:1"]);
  assert.deepEqual(allocateAveragely(mqs, clients, "c3"), []);
});

test("a client missing from the list, or no queues, gets nothing; duplicates in the list are ignored", () => {
  const mqs = queues("T", { a: 4 });
  assert.deepEqual(allocateAveragely(mqs, ["c1", "c2"], "c9"), []);
  assert.deepEqual(allocateAveragely([], ["c1"], "c1"), []);
  assert.equal(allocateAveragely(mqs, ["c1", "c1", "c2"], "c1").length, 2);
});
