/**
 * SQL92 subscriptions end to end: our PushConsumer and the unmodified ali-ons consumer
 * each receive only the messages whose properties match (the broker filters), and a
 * malformed expression fails our consumer's startup with the broker's reason.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { sqlMatchIndexOf } from "@tidemq/broker";
import { ConsumeResult, FilterExpression, FilterType, Producer, PushConsumer } from "../src/index.js";
import { closeOnsDefaultProducer, ons, onsTimers } from "./alions.js";
import { FAST, TestCluster, testLogger, uniq, waitFor } from "./cluster.js";

let cluster: TestCluster;
before(async () => {
  cluster = await TestCluster.start(["broker-a"]);
});
after(async () => {
  await closeOnsDefaultProducer();
  await cluster?.stop();
});

test("our consumer and ali-ons receive only the orders that match their SQL92 expressions", async () => {
  const topic = uniq("Orders");
  await cluster.createTopic(topic, 2);
  const ours: string[] = [];
  const consumer = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: uniq("analytics"),
    subscriptions: new Map([
      [topic, new FilterExpression("amount > 1000 AND region = 'EU'", FilterType.SQL)],
    ]),
    consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
    messageListener: {
      consume(m) {
        ours.push(m.properties.get("order")!);
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  const theirs: string[] = [];
  const onsConsumer = new ons.Consumer({ nameSrv: cluster.nsAddr, consumerGroup: uniq("OCG"), ...onsTimers });
  onsConsumer.on("error", () => {});
  const producer = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  try {
    await consumer.startup();
    await onsConsumer.ready();
    onsConsumer.subscribe(topic, { expressionType: "SQL92", subString: "a > 5" }, async (msg) => {
      theirs.push(msg.properties.a!);
    });
    await producer.startup();
    const wantOurs: string[] = [];
    for (let i = 1; i <= 20; i++) {
      const amount = i * 100;
      const region = i % 3 === 0 ? "EU" : "US";
      if (amount > 1000 && region === "EU") wantOurs.push(`o${i}`);
      await producer.send({
        topic,
        body: Buffer.from(`order ${i}`),
        properties: { order: `o${i}`, amount: String(amount), region, a: String(i) },
      });
    }
    await waitFor(() => ours.length >= wantOurs.length && theirs.length >= 15, 30_000, "filtered deliveries");
    assert.deepEqual([...ours].sort(), [...wantOurs].sort());
    assert.deepEqual(
      theirs.map(Number).sort((x, y) => x - y),
      Array.from({ length: 15 }, (_, i) => i + 6),
    );
  } finally {
    await onsConsumer.close();
    await consumer.shutdown();
    await producer.shutdown();
  }
});

test("a malformed SQL92 expression fails startup with the broker's position and reason", async () => {
  const topic = uniq("OrdersBad");
  await cluster.createTopic(topic, 1);
  const consumer = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: uniq("bad"),
    subscriptions: new Map([[topic, new FilterExpression("a >>> 5 AND (", FilterType.SQL)]]),
    messageListener: { consume: () => ConsumeResult.SUCCESS },
    logger: testLogger("consumer"),
    ...FAST,
  });
  await assert.rejects(consumer.startup(), /SUBSCRIPTION_PARSE_FAILED|position 3/);
});

test("the broker's match index follows our consumer's SQL92 subscription from its heartbeat and drops it at shutdown", async () => {
  const topic = uniq("OrdersIdx");
  await cluster.createTopic(topic, 2);
  const expression = "amount > 1000 AND region = 'EU'";
  const got: string[] = [];
  const consumer = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: uniq("idx"),
    subscriptions: new Map([[topic, new FilterExpression(expression, FilterType.SQL)]]),
    consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
    messageListener: {
      consume(m) {
        got.push(m.properties.get("order")!);
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  const producer = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  const index = sqlMatchIndexOf(cluster.brokers.get("broker-a")!.context.store);
  try {
    await consumer.startup();
    await waitFor(
      () =>
        index.bitsOf(topic, 0, expression) !== undefined && index.bitsOf(topic, 1, expression) !== undefined,
      10_000,
      "both queues followed",
    );
    await producer.startup();
    const want: string[] = [];
    for (let i = 1; i <= 40; i++) {
      const amount = i * 100;
      const region = i % 2 === 0 ? "EU" : "US";
      if (amount > 1000 && region === "EU") want.push(`o${i}`);
      await producer.send({
        topic,
        body: Buffer.from(`order ${i}`),
        properties: { order: `o${i}`, amount: String(amount), region },
      });
    }
    await waitFor(() => got.length >= want.length, 30_000, "filtered deliveries");
    await index.settled();
    let covered = 0;
    for (const q of [0, 1]) {
      const bits = index.bitsOf(topic, q, expression)!;
      assert.equal(bits.base, 0, `queue ${q} followed from before the first message`);
      covered += bits.end;
    }
    assert.equal(covered, 40, "every message evaluated into the bits");
    assert.deepEqual([...got].sort(), [...want].sort());
  } finally {
    await consumer.shutdown();
    await producer.shutdown();
  }
  // UNREGISTER_CLIENT: no group declares the subscription any more.
  await waitFor(() => index.bitsOf(topic, 0, expression) === undefined, 10_000, "bits dropped");
  assert.equal(index.bitsOf(topic, 1, expression), undefined);
});
