import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ClientError, ConsumeResult, type MessageView, Producer, PushConsumer } from "../src/index.js";
import { FAST, TestCluster, testLogger, uniq, waitFor } from "./cluster.js";

let cluster: TestCluster;
before(async () => {
  cluster = await TestCluster.start(["broker-a"]);
});
after(async () => {
  await cluster?.stop();
});

function producer(extra: object = {}): Producer {
  return new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST, ...extra });
}

test("produce and consume: receipts, bodies, tags, keys, properties, compression", async () => {
  const topic = uniq("RoundTrip");
  await cluster.createTopic(topic, 4);
  const p = producer();
  await p.startup();
  const received = new Map<string, MessageView>();
  const c = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: uniq("G"),
    subscriptions: new Map([[topic, "*"]]),
    messageListener: {
      async consume(m) {
        received.set(m.messageId, m);
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  try {
    const sent = new Map<string, Buffer>();
    for (let i = 0; i < 20; i++) {
      const body = i === 7 ? Buffer.alloc(10_000, "z") : Buffer.from(`msg-${i}`);
      const r = await p.send({
        topic,
        tag: `T${i % 2}`,
        keys: [`k${i}`],
        body,
        properties: { n: String(i) },
      });
      assert.match(r.messageId, /^[0-9A-F]{32}$/);
      assert.match(r.offsetMessageId, /^[0-9A-F]{32}$/);
      assert.equal(r.messageQueue.topic, topic);
      assert.equal(r.messageQueue.brokerName, "broker-a");
      assert.ok(r.queueOffset >= 0);
      assert.equal(r.sendStatus, "SEND_OK");
      sent.set(r.messageId, body);
    }
    await c.startup();
    await waitFor(() => received.size >= 20, 15_000, "20 messages");
    for (const [id, body] of sent) {
      const m = received.get(id)!;
      assert.ok(m, `message ${id} received`);
      assert.deepEqual(m.body, body);
      const n = Number(m.properties.get("n"));
      assert.equal(m.tag, `T${n % 2}`);
      assert.deepEqual(m.keys, [`k${n}`]);
      assert.equal(m.topic, topic);
      assert.equal(m.deliveryAttempt, 1);
    }
  } finally {
    await c.shutdown();
    await p.shutdown();
  }
});

function consumer(
  group: string,
  subs: Map<string, string>,
  onMessage: (m: MessageView) => ConsumeResult | undefined,
  extra: object = {},
) {
  return new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: group,
    subscriptions: subs,
    messageListener: { consume: async (m) => onMessage(m) },
    logger: testLogger("consumer"),
    ...FAST,
    ...extra,
  });
}

test("a tag filter delivers only matching messages", async () => {
  const topic = uniq("Tags");
  await cluster.createTopic(topic, 2);
  const p = producer();
  await p.startup();
  const got: MessageView[] = [];
  const c = consumer(uniq("G"), new Map([[topic, "TagA || TagC"]]), (m) => {
    got.push(m);
    return ConsumeResult.SUCCESS;
  });
  try {
    const tags = ["TagA", "TagB", undefined, "TagC", "TagB", "TagA"];
    for (const [i, tag] of tags.entries()) await p.send({ topic, tag, body: `b${i}` });
    await c.startup();
    await waitFor(() => got.length >= 3, 15_000, "3 matching messages");
    // Let anything wrongly delivered arrive: one more matching message marks the end.
    await p.send({ topic, tag: "TagA", body: "end" });
    await waitFor(() => got.length >= 4, 15_000, "the end marker");
    assert.deepEqual(got.map((m) => m.tag).sort(), ["TagA", "TagA", "TagA", "TagC"]);
  } finally {
    await c.shutdown();
    await p.shutdown();
  }
});

test("a send to an unknown topic is auto-created through TBW102 when the broker allows it", async () => {
  const topic = uniq("AutoCreated");
  const p = producer();
  await p.startup();
  try {
    const r = await p.send({ topic, body: "first" });
    assert.equal(r.messageQueue.topic, topic);
    assert.ok(r.messageQueue.queueId < 4, "the producer's defaultTopicQueueNums (4) caps the queues");
  } finally {
    await p.shutdown();
  }
});

test("messages with one messageGroup keep their order on one queue (orderly consumption)", async () => {
  const topic = uniq("Ordered");
  await cluster.createTopic(topic, 4);
  const p = producer();
  await p.startup();
  const seen = new Map<string, number[]>();
  const queuesOf = new Map<string, Set<number>>();
  const c = consumer(
    uniq("G"),
    new Map([[topic, "*"]]),
    (m) => {
      const g = m.messageGroup!;
      if (!seen.has(g)) seen.set(g, []);
      seen.get(g)!.push(Number(m.body.toString()));
      if (!queuesOf.has(g)) queuesOf.set(g, new Set());
      queuesOf.get(g)!.add(m.queueId);
      return ConsumeResult.SUCCESS;
    },
    { consumeOrderly: true },
  );
  try {
    const groups = ["order-1", "order-2", "order-3", "order-4", "order-5"];
    for (let i = 0; i < 30; i++) {
      for (const g of groups) {
        const r = await p.send({ topic, messageGroup: g, body: String(i) });
        assert.ok(r.messageQueue.queueId >= 0);
      }
    }
    await c.startup();
    await waitFor(() => [...seen.values()].reduce((s, l) => s + l.length, 0) >= 150, 20_000, "150 messages");
    for (const g of groups) {
      assert.deepEqual(
        seen.get(g),
        Array.from({ length: 30 }, (_, i) => i),
        `order of ${g}`,
      );
      assert.equal(queuesOf.get(g)!.size, 1, `${g} stays on one queue`);
    }
  } finally {
    await c.shutdown();
    await p.shutdown();
  }
});

test("a queue selector or an explicit queue decides where a message goes", async () => {
  const topic = uniq("Selector");
  await cluster.createTopic(topic, 4);
  const p = producer();
  await p.startup();
  try {
    const queues = await p.getPublishQueues(topic);
    assert.equal(queues.length, 4);
    for (let i = 0; i < 3; i++) {
      const r = await p.send({ topic, body: "s" }, { selector: (qs) => qs.find((q) => q.queueId === 2)! });
      assert.equal(r.messageQueue.queueId, 2);
    }
    const r = await p.send({ topic, body: "q" }, { queue: queues[3] });
    assert.equal(r.messageQueue.queueId, queues[3]!.queueId);
    await assert.rejects(
      p.send({ topic, body: "x" }, { queue: { ...queues[0]!, topic: "Other" } }),
      ClientError,
    );
    await assert.rejects(p.send({ topic, body: "x" }, { selector: () => undefined as never }), ClientError);
  } finally {
    await p.shutdown();
  }
  await assert.rejects(p.send({ topic, body: "late" }), /shut down/);
});
