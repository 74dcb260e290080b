/**
 * maxConsumeRatePerSecond: a backlog is consumed no faster than the limit, across all
 * queues of the consumer, and is drained in full. (Speed is measured by bench/consume-rate.mjs;
 * this checks the bound, which holds however loaded the machine is.)
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ConsumeResult, Producer, PushConsumer } from "../src/index.js";
import { FAST, TestCluster, testLogger, uniq, waitFor } from "./cluster.js";

let cluster: TestCluster;
before(async () => {
  cluster = await TestCluster.start(["broker-a"]);
});
after(() => cluster?.stop());

test("a consumer with maxConsumeRatePerSecond stays under it on a backlog and drains it", async () => {
  const topic = uniq("Peak");
  await cluster.createTopic(topic, 4);
  const producer = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  await producer.startup();
  const total = 300;
  try {
    await Promise.all(
      Array.from({ length: total }, (_, i) => producer.send({ topic, body: Buffer.from(`m${i}`) })),
    );
  } finally {
    await producer.shutdown();
  }
  const times: number[] = [];
  const consumer = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: uniq("db-writer"),
    subscriptions: new Map([[topic, "*"]]),
    consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
    maxConsumeRatePerSecond: 100,
    messageListener: {
      consume() {
        times.push(Date.now());
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  await consumer.startup();
  try {
    await waitFor(() => times.length >= total, 30_000, `${total} messages consumed`);
  } finally {
    await consumer.shutdown();
  }
  // In any window of w ms at most 10 + 100 * w / 1000 calls start (the bucket saves at most 0.1 s worth).
  for (let i = 0; i < times.length; i++) {
    for (let j = i + 1; j < times.length; j++) {
      const allowed = 10 + Math.ceil((100 * (times[j]! - times[i]!)) / 1000) + 1;
      assert.ok(j - i + 1 <= allowed, `${j - i + 1} calls in ${times[j]! - times[i]!} ms`);
    }
  }
  const span = times[times.length - 1]! - times[0]!;
  assert.ok(span >= ((total - 11) * 1000) / 100 - 50, `${total} calls took only ${span} ms`);
});
