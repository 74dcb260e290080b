import assert from "node:assert/strict";
import { createServer } from "node:net";
import { after, before, test } from "node:test";
import { ConsumeResult, NoRouteError, Producer, PushConsumer } from "../src/index.js";
import { FAST, TestCluster, testLogger, uniq, waitFor } from "./cluster.js";

let cluster: TestCluster;
before(async () => {
  cluster = await TestCluster.start(["broker-a"]);
});
after(async () => {
  await cluster?.stop();
});

/** A port nothing listens on: bind an ephemeral one, then close it. */
async function deadPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

test("a dead NameServer in the list is skipped: routes come from the live one, and no-route errors name both", async () => {
  const dead = `127.0.0.1:${await deadPort()}`;
  const topic = uniq("Rotate");
  await cluster.createTopic(topic, 2);
  const p = new Producer({ endpoints: `${dead};${cluster.nsAddr}`, logger: testLogger("producer"), ...FAST });
  await p.startup();
  try {
    const r = await p.send({ topic, body: "via the live NameServer" });
    assert.equal(r.messageQueue.topic, topic);
    // Only a dead NameServer: the error says that none answered (retriable), not that the topic is missing.
    const p2 = new Producer({
      endpoints: dead,
      logger: testLogger("producer"),
      ...FAST,
      requestTimeout: 1000,
    });
    await p2.startup();
    try {
      await assert.rejects(p2.send({ topic, body: "x" }), (err: unknown) => {
        assert.ok(err instanceof NoRouteError);
        assert.match(err.message, new RegExp(`${dead.replace(/\./g, "\\.")} \\(no answer`));
        assert.match(err.message, /no NameServer answered/);
        assert.equal(err.retriable, true);
        return true;
      });
    } finally {
      await p2.shutdown();
    }
  } finally {
    await p.shutdown();
  }
});

test("flow control: a queue stops being pulled while its cache is full, and resumes as messages are consumed", async () => {
  const topic = uniq("Flow");
  await cluster.createTopic(topic, 1);
  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  await p.startup();
  let release: () => void = () => {};
  const gate = new Promise<void>((r) => {
    release = r;
  });
  let consumed = 0;
  const c = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: uniq("FC"),
    subscriptions: new Map([[topic, "*"]]),
    maxCacheMessageCount: 10,
    pullBatchSize: 4,
    consumptionThreadCount: 1,
    messageListener: {
      async consume() {
        await gate;
        consumed++;
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  try {
    const batch = Array.from({ length: 60 }, (_, i) => ({ topic, body: `f${i}` }));
    await p.sendBatch(batch.slice(0, 30));
    await p.sendBatch(batch.slice(30));
    await c.startup();
    const cached = () => c.queueStats().find((q) => q.mq.topic === topic)?.cachedMessages ?? 0;
    await waitFor(() => cached() >= 10, 10_000, "the cache to fill");
    // Pulls in flight when the limit was reached may add one batch; nothing more comes while paused.
    const nextOffset = c.queueStats().find((q) => q.mq.topic === topic)!.nextOffset;
    await new Promise((r) => setTimeout(r, 500)); // several pull rounds would have happened by now
    assert.ok(cached() < 10 + 4, `cache bounded: ${cached()}`);
    assert.equal(
      c.queueStats().find((q) => q.mq.topic === topic)!.nextOffset,
      nextOffset,
      "no pull while paused",
    );
    release();
    await waitFor(() => consumed === 60, 15_000, "all 60 once the listener is released");
  } finally {
    release();
    await c.shutdown();
    await p.shutdown();
  }
});

test("subscribe and unsubscribe while running", async () => {
  const t1 = uniq("SubA");
  const t2 = uniq("SubB");
  await cluster.createTopic(t1, 1);
  await cluster.createTopic(t2, 1);
  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  await p.startup();
  const got: string[] = [];
  const c = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: uniq("SU"),
    subscriptions: new Map([[t1, "*"]]),
    messageListener: {
      consume(m) {
        got.push(m.topic);
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  try {
    await c.startup();
    await c.subscribe(t2, "*");
    await p.send({ topic: t2, body: "b" });
    await waitFor(() => got.includes(t2), 10_000, "a message of the added topic");
    await c.unsubscribe(t1);
    assert.ok(c.assignedQueues().every((q) => q.topic !== t1));
  } finally {
    await c.shutdown();
    await p.shutdown();
  }
});
