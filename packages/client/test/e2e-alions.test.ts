/**
 * Interoperability with the referee client, the unmodified npm package ali-ons@3.12.0:
 * its producer's messages reach our consumer, and our producer's messages reach its consumer
 * (tags, keys, compressed bodies, message ids).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ConsumeResult, type MessageView, Producer, PushConsumer } from "../src/index.js";
import { closeOnsDefaultProducer, type OnsMessage, ons, onsTimers } from "./alions.js";
import { FAST, TestCluster, testLogger, uniq, waitFor } from "./cluster.js";

let cluster: TestCluster;
before(async () => {
  cluster = await TestCluster.start(["broker-a"]);
});
after(async () => {
  await closeOnsDefaultProducer();
  await cluster?.stop();
});

test("ali-ons producer → TideMQ consumer: bodies (compressed too), tags, keys, msgId", async () => {
  const topic = uniq("OnsToUs");
  await cluster.createTopic(topic, 2);
  const p = new ons.Producer({ nameSrv: cluster.nsAddr, producerGroup: uniq("OPG"), ...onsTimers });
  p.on("error", () => {});
  await p.ready();
  const got = new Map<string, MessageView>();
  const c = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: uniq("G"),
    subscriptions: new Map([[topic, "TagA"]]),
    messageListener: {
      consume(m) {
        got.set(m.messageId, m);
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  try {
    const sent = new Map<string, Buffer>();
    for (let i = 0; i < 4; i++) {
      const body = i === 2 ? Buffer.alloc(9000, "q") : Buffer.from(`ons-${i}`);
      const msg = new ons.Message(topic, "TagA", body);
      msg.keys = [`key${i}`];
      const r = await p.send(msg);
      assert.equal(r.sendStatus, "SEND_OK");
      sent.set(r.msgId, body);
    }
    await p.send(new ons.Message(topic, "TagB", "not for us"));
    await c.startup();
    await waitFor(() => got.size >= 4, 20_000, "4 messages from ali-ons");
    for (const [id, body] of sent) {
      const m = got.get(id);
      assert.ok(m, `ali-ons message ${id} received under its msgId (no UNIQ_KEY: the offset id)`);
      assert.deepEqual(m.body, body);
      assert.equal(m.tag, "TagA");
      assert.equal(m.keys.length, 1);
    }
  } finally {
    await c.shutdown();
    await p.close();
  }
});

test("TideMQ producer → ali-ons consumer: bodies (compressed too), tags, keys, msgId", async () => {
  const topic = uniq("UsToOns");
  await cluster.createTopic(topic, 2);
  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  await p.startup();
  const received: OnsMessage[] = [];
  const c = new ons.Consumer({ nameSrv: cluster.nsAddr, consumerGroup: uniq("OCG"), ...onsTimers });
  c.on("error", () => {});
  await c.ready();
  c.subscribe(topic, "TagA", async (msg) => {
    received.push(msg);
  });
  try {
    const sent = new Map<string, { body: Buffer; key: string }>();
    for (let i = 0; i < 4; i++) {
      const body = i === 1 ? Buffer.alloc(12_000, "w") : Buffer.from(`ours-${i}`);
      const r = await p.send({ topic, tag: "TagA", keys: [`k${i}`], body });
      sent.set(r.offsetMessageId, { body, key: `k${i}` });
    }
    await p.send({ topic, tag: "TagB", body: "not for ali-ons" });
    await waitFor(() => received.length >= 4, 30_000, "4 messages at ali-ons");
    for (const msg of received) {
      const s = sent.get(msg.msgId);
      assert.ok(s, `ali-ons sees our offsetMessageId ${msg.msgId}`);
      assert.deepEqual(Buffer.from(msg.body), s.body);
      assert.equal(msg.tags, "TagA");
      assert.deepEqual([msg.keys].flat(), [s.key]);
      assert.match(msg.properties.UNIQ_KEY ?? "", /^[0-9A-F]{32}$/);
    }
  } finally {
    await c.close();
    await p.shutdown();
  }
});
