import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ConsumeResult, Producer, PushConsumer } from "../src/index.js";
import { FAST, TestCluster, testLogger, uniq, waitFor } from "./cluster.js";

let cluster: TestCluster;
before(async () => {
  cluster = await TestCluster.start(["broker-a", "broker-b"]);
});
after(async () => {
  await cluster?.stop();
});

test("two broker groups: round robin over both, consumed from both; after one stops, producers route around it and consumers go on", async () => {
  const topic = uniq("Multi");
  await cluster.createTopic(topic, 4);
  const p = new Producer({
    endpoints: cluster.nsAddr,
    logger: testLogger("producer"),
    ...FAST,
    // Only failures make a broker avoided here (not slowness under a loaded test machine), so round robin is exact.
    faultTolerance: { latencyMax: [0, 60_000], notAvailableDuration: [0, 10_000], isolationLatency: 60_000 },
  });
  await p.startup();
  const got = new Map<string, string>();
  const c = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: uniq("MG"),
    subscriptions: new Map([[topic, "*"]]),
    messageListener: {
      async consume(m) {
        got.set(m.messageId, m.messageQueue.brokerName);
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  try {
    await c.startup();
    const perBroker = new Map<string, number>();
    const before: string[] = [];
    for (let i = 0; i < 40; i++) {
      const r = await p.send({ topic, body: `m${i}` });
      before.push(r.messageId);
      perBroker.set(r.messageQueue.brokerName, (perBroker.get(r.messageQueue.brokerName) ?? 0) + 1);
    }
    assert.deepEqual([...perBroker.keys()].sort(), ["broker-a", "broker-b"]);
    assert.equal(perBroker.get("broker-a"), 20, "round robin: half each");
    await waitFor(() => before.every((id) => got.has(id)), 15_000, "all 40 consumed");
    assert.deepEqual(new Set(got.values()), new Set(["broker-a", "broker-b"]), "consumed from both");

    // broker-b stops (clean stop: it unregisters from the NameServer and closes its connections).
    const stoppedAt = Date.now();
    await cluster.stopBroker("broker-b");
    // Sends right away still succeed: a failure on broker-b is retried on broker-a.
    const after: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await p.send({ topic, body: `n${i}` });
      assert.equal(r.messageQueue.brokerName, "broker-a");
      after.push(r.messageId);
    }
    // Within one route refresh the producer's route no longer has broker-b.
    for (;;) {
      const qs = await p.getPublishQueues(topic);
      if (qs.every((q) => q.brokerName === "broker-a")) break;
      assert.ok(Date.now() - stoppedAt < FAST.pollNameServerInterval * 2 + 2000, "route refreshed in time");
      await new Promise((r) => setTimeout(r, 20));
    }
    for (let i = 0; i < 10; i++) after.push((await p.send({ topic, body: `o${i}` })).messageId);
    await waitFor(
      () => after.every((id) => got.get(id) === "broker-a"),
      15_000,
      "messages after the stop consumed from broker-a",
    );
  } finally {
    await c.shutdown();
    await p.shutdown();
  }
});
