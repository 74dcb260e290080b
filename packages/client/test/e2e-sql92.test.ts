/**
 * SQL92 subscriptions end to end: our PushConsumer and the unmodified ali-ons consumer
 * each receive only the messages whose properties match (the broker filters), and a
 * malformed expression fails our consumer's startup with the broker's reason.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
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
