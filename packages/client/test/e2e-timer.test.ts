import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { type BrokerError, ConsumeResult, type MessageView, Producer, PushConsumer } from "../src/index.js";
import { FAST, TestCluster, testLogger, uniq, waitFor } from "./cluster.js";

let cluster: TestCluster;
before(async () => {
  cluster = await TestCluster.start(["broker-a"]);
});
after(async () => {
  await cluster?.stop();
});

/** A producer and a consumer of one fresh topic; arrivals keyed by message id with their time. */
async function setup() {
  const topic = uniq("Timer");
  await cluster.createTopic(topic, 2);
  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  await p.startup();
  const arrived = new Map<string, { at: number; m: MessageView }>();
  const c = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: uniq("G"),
    subscriptions: new Map([[topic, "*"]]),
    messageListener: {
      async consume(m) {
        if (!arrived.has(m.messageId)) arrived.set(m.messageId, { at: Date.now(), m });
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  await c.startup();
  const stop = async () => {
    await c.shutdown();
    await p.shutdown();
  };
  return { topic, p, arrived, stop };
}

test("delay and deliveryTimestamp: delivered at the due time, never earlier, with keys, tag and message id", async () => {
  const { topic, p, arrived, stop } = await setup();
  try {
    const t0 = Date.now();
    const a = await p.send({
      topic,
      body: Buffer.from("by-delay"),
      tag: "close",
      keys: ["order-1"],
      delay: 1500,
    });
    const dueA = t0 + 1500;
    const dueB = Date.now() + 2000;
    const b = await p.send({ topic, body: Buffer.from("by-timestamp"), deliveryTimestamp: new Date(dueB) });
    assert.ok(a.recallHandle, "a timer send returns a recall handle");
    assert.ok(b.recallHandle);
    await waitFor(() => arrived.has(a.messageId) && arrived.has(b.messageId), 15_000, "both timers");
    const ra = arrived.get(a.messageId)!;
    const rb = arrived.get(b.messageId)!;
    assert.ok(ra.at >= dueA, `delay: arrived ${ra.at - dueA} ms relative to due`);
    assert.ok(rb.at >= dueB, `deliveryTimestamp: arrived ${rb.at - dueB} ms relative to due`);
    assert.equal(ra.m.topic, topic);
    assert.equal(ra.m.tag, "close");
    assert.deepEqual(ra.m.keys, ["order-1"]);
    assert.equal(ra.m.body.toString(), "by-delay");
    assert.equal(rb.m.body.toString(), "by-timestamp");
    // The broker's due time is on the delivered message; the timer properties are not.
    assert.ok(Number(ra.m.properties.get("TIMER_OUT_MS")) >= dueA);
    assert.equal(ra.m.properties.get("REAL_TOPIC"), undefined);
  } finally {
    await stop();
  }
});

test("recall before the due time: never delivered; recall after delivery or of an unknown handle: a clear error", async () => {
  const { topic, p, arrived, stop } = await setup();
  try {
    const recalled = await p.send({ topic, body: Buffer.from("recalled"), delay: 1500 });
    const kept = await p.send({ topic, body: Buffer.from("kept"), delay: 2500 });
    assert.equal(await p.recallMessage(topic, recalled.recallHandle!), recalled.messageId);
    await assert.rejects(p.recallMessage(topic, recalled.recallHandle!), (err: BrokerError) => {
      assert.equal(err.code, 604);
      assert.match(err.message, /already recalled/);
      return true;
    });
    // The later timer arriving proves the recalled one's slot was processed.
    await waitFor(() => arrived.has(kept.messageId), 15_000, "the kept timer");
    assert.equal(arrived.has(recalled.messageId), false, "a recalled timer is never delivered");
    await assert.rejects(p.recallMessage(topic, kept.recallHandle!), (err: BrokerError) => {
      assert.equal(err.code, 604);
      assert.match(err.message, /delivered/);
      return true;
    });
    const unknown = Buffer.from(`v1 ${topic} broker-a ${Date.now() + 60_000} 0A0B0C0D0E0F`).toString(
      "base64url",
    );
    await assert.rejects(p.recallMessage(topic, unknown), (err: BrokerError) => {
      assert.equal(err.code, 604);
      assert.match(err.message, /unknown/);
      return true;
    });
    await assert.rejects(p.recallMessage(topic, "%%%"), /recall handle/);
  } finally {
    await stop();
  }
});

test("a timer past timerMaxDelaySec is refused naming the limit; a due time in the past is delivered at once", async () => {
  const { topic, p, arrived, stop } = await setup();
  try {
    const twoYears = Date.now() + 2 * 365 * 86_400_000;
    await assert.rejects(
      p.send({ topic, body: Buffer.from("too far"), deliveryTimestamp: twoYears }),
      (err: BrokerError) => {
        assert.equal(err.code, 13);
        assert.match(err.message, /timerMaxDelaySec=31536000/);
        return true;
      },
    );
    const past = await p.send({ topic, body: Buffer.from("late"), deliveryTimestamp: Date.now() - 10_000 });
    assert.equal(past.recallHandle, undefined, "a due time already passed is an ordinary message");
    await waitFor(() => arrived.has(past.messageId), 10_000, "the past-due message");
    // A timer within the limit but far ahead is accepted and waits.
    const far = await p.send({ topic, body: Buffer.from("in a year"), delay: 364 * 86_400_000 });
    assert.ok(far.recallHandle);
    assert.equal(await p.recallMessage(topic, far.recallHandle!), far.messageId);
  } finally {
    await stop();
  }
});
