/**
 * Delay levels, retries with back-off and dead letters with our own client and admin API,
 * against a real NameServer and broker whose delay levels are short ("100ms … 500ms").
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { MessageConst, type MessageExt } from "@tidemq/protocol";
import {
  Admin,
  ConsumeResult,
  deadLetterSummary,
  delayedMessageStatus,
  listDeadLetters,
  MessageView,
  Producer,
  PushConsumer,
  resendDeadLetters,
  SimpleConsumer,
  showDeadLetter,
} from "../src/index.js";
import { MQClientInstance } from "../src/MQClientInstance.js";
import { resolveClientOptions } from "../src/options.js";
import { SendBack } from "../src/SendBack.js";
import { FAST, TestCluster, testLogger, uniq, until, waitFor } from "./cluster.js";

const LEVELS = [100, 200, 300, 400, 500];
let cluster: TestCluster;
let admin: Admin;
let producer: Producer;
let brokerAddr: string;
const stops: Array<() => Promise<void>> = [];

before(async () => {
  cluster = await TestCluster.start(["broker-a"], { messageDelayLevel: "100ms 200ms 300ms 400ms 500ms" });
  brokerAddr = cluster.brokers.get("broker-a")!.brokerAddr;
  admin = new Admin({ endpoints: cluster.nsAddr, logger: testLogger("admin") });
  producer = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  await producer.startup();
});
after(async () => {
  for (const s of stops.reverse()) await s().catch(() => undefined);
  await producer?.shutdown();
  await admin?.shutdown();
  await cluster?.stop();
});

function pushConsumer(group: string, topic: string, consume: (m: MessageView) => ConsumeResult, max = 16) {
  const c = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: group,
    subscriptions: new Map([[topic, "*"]]),
    messageListener: { consume },
    maxReconsumeTimes: max,
    logger: testLogger("consumer"),
    ...FAST,
  });
  stops.push(() => c.shutdown());
  return c;
}

test("Producer delayLevel: pending per level in the admin, due time in queryMsgById, delivered after its delay and never earlier", async () => {
  const topic = uniq("Delay");
  await cluster.createTopic(topic, 2);
  const got: Array<{ at: number; m: MessageView }> = [];
  const c = pushConsumer(uniq("DG"), topic, (m) => {
    got.push({ at: Date.now(), m });
    return ConsumeResult.SUCCESS;
  });
  await c.startup();
  const sentAt = Date.now();
  const r = await producer.send({ topic, body: "close order 42", keys: ["order-42"], delayLevel: 5 });
  // Parked: the send's record is in SCHEDULE_TOPIC_XXXX, with its due time.
  const parked = await admin.viewMessage(r.offsetMessageId);
  assert.equal(parked.topic, "SCHEDULE_TOPIC_XXXX");
  assert.equal(parked.properties.REAL_TOPIC, topic);
  assert.ok(Number(parked.properties.DELAY_DUE_MS) >= sentAt + 500);
  const levels = await delayedMessageStatus(admin, brokerAddr);
  assert.deepEqual(
    levels.map((l) => l.delayMs),
    LEVELS,
  );
  const l5 = levels.find((l) => l.level === 5)!;
  assert.ok(l5.pending >= 1 || got.length === 1, "pending at level 5 until due");

  await waitFor(() => got.length === 1, 10_000, "the delayed message");
  const { at, m } = got[0]!;
  assert.ok(at - sentAt >= 500, `delivered ${at - sentAt} ms after the send`);
  assert.equal(m.messageId, r.messageId, "same client message id");
  assert.equal(m.body.toString(), "close order 42");
  assert.deepEqual(m.keys, ["order-42"]);
  assert.equal(m.properties.get("DELAY"), undefined);
  // Found by key in its real topic.
  const byKey = await admin.queryMessage(topic, "order-42");
  assert.equal(byKey.length, 1);
  const after = await delayedMessageStatus(admin, brokerAddr);
  assert.equal(after.find((l) => l.level === 5)!.pending, 0);
});

test("PushConsumer retry policy: back-off per level, then %DLQ%<group>; the admin lists, shows and resends it to that group only", async () => {
  const topic = uniq("Refund");
  const group = uniq("RG");
  const other = uniq("OG");
  await cluster.createTopic(topic, 2);
  let failing = true;
  const got: Array<{ at: number; m: MessageView }> = [];
  const c = pushConsumer(
    group,
    topic,
    (m) => {
      got.push({ at: Date.now(), m });
      return failing ? ConsumeResult.FAILURE : ConsumeResult.SUCCESS;
    },
    2,
  );
  const otherGot: MessageView[] = [];
  const c2 = pushConsumer(other, topic, (m) => {
    otherGot.push(m);
    return ConsumeResult.SUCCESS;
  });
  await c.startup();
  await c2.startup();
  const r = await producer.send({ topic, body: "refund 7", keys: ["refund-7"], tag: "Refund" });

  await waitFor(() => got.length === 3, 15_000, "first delivery and 2 retries");
  assert.deepEqual(
    got.map((g) => g.m.reconsumeTimes),
    [0, 1, 2],
  );
  assert.ok(got[1]!.at - got[0]!.at >= 300, "retry 1 waits level 3");
  assert.ok(got[2]!.at - got[1]!.at >= 400, "retry 2 waits level 4");
  for (const g of got) assert.equal(g.m.topic, topic, "the listener sees the original topic");

  let summary = await deadLetterSummary(admin, group);
  for (let i = 0; i < 200 && summary.count === 0; i++) {
    await new Promise((res) => setTimeout(res, 50));
    summary = await deadLetterSummary(admin, group);
  }
  assert.equal(summary.count, 1);
  assert.ok(summary.oldest !== undefined && summary.oldest === summary.newest);
  const list = await listDeadLetters(admin, group);
  assert.equal(list.messages.length, 1);
  const dead = list.messages[0]!;
  assert.equal(dead.properties.KEYS, "refund-7");
  assert.equal(dead.properties.RETRY_TOPIC, topic);
  assert.equal(dead.properties.UNIQ_KEY, r.messageId);
  assert.equal(dead.body.toString(), "refund 7");
  assert.equal((await showDeadLetter(admin, group, dead.msgId)).properties.KEYS, "refund-7");
  await assert.rejects(showDeadLetter(admin, group, r.offsetMessageId), /not a dead letter of group/);

  // The payment system is back: resend; only this group gets it, at once, with its topic and keys.
  failing = false;
  const resent = await resendDeadLetters(admin, group, {});
  assert.equal(resent.resent, 1);
  await waitFor(() => got.length === 4, 10_000, "the resent dead letter");
  const again = got[3]!.m;
  assert.equal(again.topic, topic);
  assert.equal(again.body.toString(), "refund 7");
  assert.deepEqual(again.keys, ["refund-7"]);
  assert.equal(otherGot.length, 1, "the other group got the message once and not the resend");
  // A time range that holds nothing resends nothing.
  const none = await resendDeadLetters(admin, group, { begin: 0, end: 1 });
  assert.equal(none.resent, 0);
  assert.equal(none.scanned, 1);
});

test("SimpleConsumer retry policy: an unacked message comes back after its invisible duration; after maxReconsumeTimes it is dead-lettered", async () => {
  const topic = uniq("Simple");
  const group = uniq("SG");
  await cluster.createTopic(topic, 1);
  const sc = new SimpleConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: group,
    subscriptions: new Map([[topic, "*"]]),
    awaitDuration: 3000,
    maxReconsumeTimes: 1,
    logger: testLogger("simple"),
    ...FAST,
  });
  stops.push(() => sc.shutdown());
  await sc.startup();
  await producer.send({ topic, body: "ship 9", keys: ["ship-9"] });
  let first: MessageView[] = [];
  for (let i = 0; i < 10 && first.length === 0; i++) first = await sc.receive(1, 300);
  assert.equal(first.length, 1);
  const t0 = Date.now();
  const second = await sc.receive(1, 300);
  assert.equal(second.length, 1, "came back");
  assert.ok(Date.now() - t0 >= 290, "not before its invisible duration");
  assert.equal(second[0]!.messageId, first[0]!.messageId);
  assert.equal(second[0]!.deliveryAttempt, 2);
  // Not acked again: maxReconsumeTimes 1 is used up, so it goes to the DLQ instead of coming back.
  const third = await sc.receive(1, 300);
  assert.equal(third.length, 0);
  let count = 0;
  for (let i = 0; i < 200 && count === 0; i++) {
    count = (await deadLetterSummary(admin, group)).count;
    if (count === 0) await new Promise((res) => setTimeout(res, 50));
  }
  assert.equal(count, 1);
});

// SendBack's fallback: the client resends a failed message itself when CONSUMER_SEND_MSG_BACK
// cannot be sent. No other test reaches it (a live broker always takes the send-back); here the
// send-back fails through a broker address lookup that throws, as when no master is known.
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
