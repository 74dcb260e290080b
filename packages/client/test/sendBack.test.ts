/**
 * SendBack's fallback (the client resends a failed message itself when CONSUMER_SEND_MSG_BACK
 * cannot be sent), against a real NameServer and broker: no other test reaches it, because a
 * live broker always takes the send-back. The send-back is made to fail by a broker address
 * lookup that throws, as when no master of the message's broker is known.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { MessageConst, type MessageExt } from "@tidemq/protocol";
import { Admin, Producer } from "../src/index.js";
import { MessageView } from "../src/MessageView.js";
import { MQClientInstance } from "../src/MQClientInstance.js";
import { resolveClientOptions } from "../src/options.js";
import { SendBack } from "../src/SendBack.js";
import { FAST, TestCluster, testLogger, uniq, until } from "./cluster.js";

let cluster: TestCluster;
let admin: Admin;
let producer: Producer;
let brokerAddr: string;

before(async () => {
  // Short delay levels: level 3 (the first retry's) is 300 ms here.
  cluster = await TestCluster.start(["broker-a"], { messageDelayLevel: "100ms 200ms 300ms 400ms 500ms" });
  brokerAddr = cluster.brokers.get("broker-a")!.brokerAddr;
  admin = new Admin({ endpoints: cluster.nsAddr, logger: testLogger("admin") });
  producer = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  await producer.startup();
});
after(async () => {
  await producer?.shutdown();
  await admin?.shutdown();
  await cluster?.stop();
});

test("SendBack: when CONSUMER_SEND_MSG_BACK fails, the client resends the copy to %RETRY%<group> with the broker's properties", async () => {
  const topic = uniq("SB");
  const group = uniq("SBG");
  const retryTopic = `%RETRY%${group}`;
  for (const t of [topic, retryTopic])
    await admin.createTopic({ topic: t, brokerAddr, readQueueNums: 1, writeQueueNums: 1 });
  const sent = await producer.send({ topic, keys: ["k1"], body: Buffer.from("payload-1") });
  const mq = { topic, brokerName: "broker-a", queueId: 0 };
  const stored = (await admin.pullMessages(brokerAddr, mq, 0, 8)).messages;
  assert.equal(stored.length, 1);
  const failed = new MessageView(stored[0]!, mq);

  const options = resolveClientOptions(
    { endpoints: cluster.nsAddr, instanceName: uniq("sb"), logger: testLogger("sendback") },
    "consumer",
  );
  const instance = MQClientInstance.acquire(options);
  const warnings: string[] = [];
  try {
    const sendBack = new SendBack({
      instance,
      group,
      maxReconsumeTimes: 16,
      logger: options.logger,
      brokerAddr: (q) => {
        throw new Error(`no master known for ${q.brokerName} (test)`);
      },
      warnOnce: (key, msg) => warnings.push(`${key}: ${msg}`),
    });
    assert.equal(await sendBack.send(mq, failed, 0), true);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0]!, /^sendback: send-back of .* failed \(no master known for broker-a \(test\)\)/);

    // Due after delay level 3 (300 ms here); the copy carries what the broker's send-back sets.
    const retryMq = { topic: retryTopic, brokerName: "broker-a", queueId: 0 };
    let copy: MessageExt | undefined;
    await until(
      async () => {
        copy = (await admin.pullMessages(brokerAddr, retryMq, 0, 8)).messages[0];
        return copy !== undefined;
      },
      15_000,
      `the resent copy in ${retryTopic}`,
    );
    assert.equal(copy!.body.toString(), "payload-1");
    assert.equal(copy!.reconsumeTimes, 1);
    assert.equal(copy!.properties[MessageConst.RETRY_TOPIC], topic);
    assert.equal(copy!.properties[MessageConst.ORIGIN_MESSAGE_ID], sent.messageId);
    assert.equal(copy!.properties[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX], sent.messageId);
    assert.equal(copy!.properties[MessageConst.KEYS], "k1");
  } finally {
    await instance.release(options);
  }
});
