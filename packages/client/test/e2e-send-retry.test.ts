/**
 * Send retries say what they do: a TOPIC_NOT_EXIST from the only broker of a topic fails the
 * send at once (no retry against the same broker), a retry names the broker it moves to, and
 * a producer's warnings go to the producer's logger even when a consumer created the client
 * instance they share.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { RequestCode, ResponseCode } from "@tidemq/protocol";
import type { Logger } from "@tidemq/remoting";
import { Admin, BrokerError, ConsumeResult, Producer, PushConsumer } from "../src/index.js";
import { TestCluster, testLogger, uniq } from "./cluster.js";

function recordingLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const add = (level: string) => (msg: string) => lines.push(`${level} ${msg}`);
  return { lines, debug() {}, info: add("INFO"), warn: add("WARN"), error: add("ERROR") };
}

const clusters: TestCluster[] = [];
after(async () => {
  for (const c of clusters) await c.stop();
});

/** Deletes `topic` on one broker only, behind the producer's back (its cached route stays). */
async function deleteOnBroker(c: TestCluster, brokerName: string, topic: string): Promise<void> {
  const admin = new Admin({ endpoints: c.nsAddr, logger: testLogger("admin") });
  try {
    await admin.api.call(
      c.brokers.get(brokerName)!.brokerAddr,
      RequestCode.DELETE_TOPIC_IN_BROKER,
      { topic },
      undefined,
    );
  } finally {
    await admin.shutdown();
  }
}

test("TOPIC_NOT_EXIST from the only broker: the send fails at once, no retry and no 'another broker'", async () => {
  const c = await TestCluster.start(["broker-a"], { autoCreateTopicEnable: false });
  clusters.push(c);
  const topic = uniq("OneBroker");
  await c.createTopic(topic, 2);
  const log = recordingLogger();
  const producer = new Producer({ endpoints: c.nsAddr, logger: log, retryTimesWhenSendFailed: 2 });
  await producer.startup();
  try {
    await producer.send({ topic, body: Buffer.from("first") });
    await deleteOnBroker(c, "broker-a", topic);
    await assert.rejects(
      producer.send({ topic, body: Buffer.from("second") }),
      (err: unknown) => err instanceof BrokerError && err.code === ResponseCode.TOPIC_NOT_EXIST,
    );
    assert.deepEqual(
      log.lines.filter((l) => /retrying/.test(l)),
      [],
      "nothing is retried against the same broker",
    );
  } finally {
    await producer.shutdown();
  }
});

test("a retry on another broker is logged by the producer's logger, not the consumer's that created the instance", async () => {
  const c = await TestCluster.start(["broker-a", "broker-b"], { autoCreateTopicEnable: false });
  clusters.push(c);
  const topic = uniq("TwoBrokers");
  await c.createTopic(topic, 2);
  const consumerLog = recordingLogger();
  const producerLog = recordingLogger();
  const instanceName = uniq("shared");
  // The consumer's own topic: a pull of `topic` failing on broker-a would refresh the shared
  // route before the producer's send reaches broker-a.
  const consumerTopic = uniq("ConsumerTopic");
  await c.createTopic(consumerTopic, 1);
  // The consumer starts first, so the shared client instance is created with its options.
  const consumer = new PushConsumer({
    endpoints: c.nsAddr,
    instanceName,
    logger: consumerLog,
    consumerGroup: uniq("G"),
    subscriptions: new Map([[consumerTopic, "*"]]),
    messageListener: { consume: () => ConsumeResult.SUCCESS },
  });
  await consumer.startup();
  const producer = new Producer({ endpoints: c.nsAddr, instanceName, logger: producerLog });
  await producer.startup();
  try {
    await producer.send({ topic, body: Buffer.from("route cached") });
    await deleteOnBroker(c, "broker-a", topic);
    // Round robin over the cached route reaches broker-a within its 4 queues.
    for (let i = 0; i < 8 && !producerLog.lines.some((l) => /retrying/.test(l)); i++) {
      const r = await producer.send({ topic, body: Buffer.from(`m${i}`) });
      assert.equal(r.messageQueue.brokerName, "broker-b");
    }
    const retries = producerLog.lines.filter((l) => /retrying/.test(l));
    assert.equal(retries.length, 1, producerLog.lines.join("\n"));
    assert.match(
      retries[0]!,
      /via broker-a failed .*TOPIC_NOT_EXIST.*retrying on another broker \(attempt 2 of 3\)/,
    );
    assert.deepEqual(
      consumerLog.lines.filter((l) => /send to/.test(l)),
      [],
      "no producer line under the consumer's logger",
    );
  } finally {
    await producer.shutdown();
    await consumer.shutdown();
  }
});
