import assert from "node:assert/strict";
import { test } from "node:test";
import {
  decodeMessage,
  decodeMessagesLazy,
  encodeMessage,
  javaStringHashCode,
  MessageConst,
} from "@tidemq/protocol";
import {
  buildSubscriptionData,
  ClientError,
  FilterExpression,
  FilterType,
  MessageView,
  NoRouteError,
  parseEndpoints,
  prepareMessage,
  tagMatches,
} from "../src/index.js";

test("prepareMessage sets TAGS, KEYS, UNIQ_KEY, WAIT and keeps user properties", () => {
  const p = prepareMessage(
    { topic: "T", tag: "TagA", keys: ["k1", " k2 "], body: "hi", properties: new Map([["color", "red"]]) },
    1024,
  );
  assert.equal(p.properties.TAGS, "TagA");
  assert.equal(p.properties.KEYS, "k1 k2");
  assert.equal(p.properties.color, "red");
  assert.equal(p.properties.WAIT, "true");
  assert.match(p.uniqId, /^[0-9A-F]{32}$/);
  assert.equal(p.properties[MessageConst.UNIQ_CLIENT_MESSAGE_ID_KEYIDX], p.uniqId);
  assert.equal(p.body.toString(), "hi");
  assert.notEqual(prepareMessage({ topic: "T", body: "x" }, 10).uniqId, p.uniqId);
});

test("prepareMessage: delays, sharding key, and every kind of bad input", () => {
  const d = prepareMessage({ topic: "T", body: "x", delay: 5000 }, 10, 1_000_000);
  assert.equal(d.properties.TIMER_DELIVER_MS, "1005000");
  assert.equal(prepareMessage({ topic: "T", body: "x", delayLevel: 3 }, 10).properties.DELAY, "3");
  assert.equal(prepareMessage({ topic: "T", body: "x", messageGroup: "g1" }, 10).shardingKey, "g1");
  const bad: Array<[object, RegExp]> = [
    [{ topic: "", body: "x" }, /topic/],
    [{ topic: "a b", body: "x" }, /may contain only/],
    [{ topic: "T".repeat(128), body: "x" }, /127/],
    [{ topic: "T", body: "" }, /empty/],
    [{ topic: "T", body: "x".repeat(11) }, /maxMessageSize/],
    [{ topic: "T", body: 42 }, /Buffer/],
    [{ topic: "T", body: "x", tag: "a||b" }, /tag/],
    [{ topic: "T", body: "x", properties: { "a\u0001": "b" } }, /\\u0001/],
    [{ topic: "T", body: "x", messageGroup: "g", delay: 10 }, /mutually exclusive/],
  ];
  for (const [m, re] of bad) {
    assert.throws(
      () => prepareMessage(m as never, 10),
      (err: unknown) => err instanceof ClientError && re.test((err as Error).message),
    );
  }
});

test("subscription data: '*', tag lists with hashes, SQL92", () => {
  const all = buildSubscriptionData("T", FilterExpression.SUB_ALL, 7);
  assert.equal(all.subString, "*");
  assert.deepEqual(all.codeSet, []);
  const tags = buildSubscriptionData("T", new FilterExpression(" TagA || TagB ||  "), 7);
  assert.equal(tags.subString, "TagA || TagB");
  assert.deepEqual(tags.tagsSet, ["TagA", "TagB"]);
  assert.deepEqual(tags.codeSet, [javaStringHashCode("TagA"), javaStringHashCode("TagB")]);
  assert.equal(tagMatches(tags, "TagA"), true);
  assert.equal(tagMatches(tags, "TagC"), false);
  assert.equal(tagMatches(tags, undefined), false, "untagged messages do not match a tag list (Java)");
  assert.equal(tagMatches(all, undefined), true);
  const sql = buildSubscriptionData("T", new FilterExpression("a > 1", FilterType.SQL), 7);
  assert.equal(sql.expressionType, "SQL92");
  assert.equal(tagMatches(sql, "anything"), true);
});

test("MessageView restores the topic of a retried message and prefers UNIQ_KEY as id", () => {
  const record = encodeMessage({
    topic: "%RETRY%G",
    queueId: 0,
    flag: 0,
    queueOffset: 3,
    commitLogOffset: 1234,
    sysFlag: 0,
    bornTimestamp: 1000,
    bornHost: { host: "127.0.0.1", port: 1 },
    storeTimestamp: 2000,
    storeHost: { host: "127.0.0.1", port: 10911 },
    reconsumeTimes: 2,
    preparedTransactionOffset: 0,
    body: Buffer.from("b"),
    properties: { RETRY_TOPIC: "Orders", UNIQ_KEY: "ABC", TAGS: "t", KEYS: "k1 k2" },
  });
  const v = new MessageView(decodeMessage(record), { topic: "%RETRY%G", brokerName: "a", queueId: 0 });
  assert.equal(v.topic, "Orders");
  assert.equal(v.messageId, "ABC");
  assert.equal(v.offsetMessageId, "7F00000100002A9F00000000000004D2");
  assert.equal(v.deliveryAttempt, 3);
  assert.deepEqual(v.keys, ["k1", "k2"]);
  assert.equal(v.tag, "t");
  assert.equal(v.messageQueue.topic, "%RETRY%G");
  // A view over a lazily decoded record (what consumers build) answers the same.
  const lazy = new MessageView(decodeMessagesLazy(record)[0]!, v.messageQueue);
  for (const k of [
    "topic",
    "messageId",
    "offsetMessageId",
    "tag",
    "keys",
    "properties",
    "messageGroup",
    "bornTimestamp",
    "bornHost",
    "storeTimestamp",
    "storeHost",
    "reconsumeTimes",
    "queueId",
    "queueOffset",
    "offset",
    "commitLogOffset",
    "flag",
    "deliveryTimestamp",
    "deliveryAttempt",
    "body",
  ] as const) {
    assert.deepStrictEqual(lazy[k], v[k], k);
  }
  assert.strictEqual(lazy.properties, lazy.properties, "one Map, built on first use");
  assert.strictEqual(lazy.body, lazy.body, "one body view, taken on first read");
  assert.equal(new MessageView(decodeMessagesLazy(record)[0]!, v.messageQueue).bodySize, 1);
  assert.equal(lazy.getBody().toString(), "b");
  assert.deepStrictEqual(JSON.parse(JSON.stringify(lazy)), JSON.parse(JSON.stringify(v)));
  assert.equal(JSON.parse(JSON.stringify(lazy)).topic, "Orders");
});

test("endpoints parse; NoRouteError names the topic, the NameServers and the hint", () => {
  assert.deepEqual(parseEndpoints("127.0.0.1:9876; 10.0.0.1:9876;"), ["127.0.0.1:9876", "10.0.0.1:9876"]);
  assert.deepEqual(parseEndpoints(["a:1", "a:1"]), ["a:1"]);
  assert.throws(() => parseEndpoints("nohost"), ClientError);
  const e = new NoRouteError("Orders", [
    { nameServer: "127.0.0.1:9876", outcome: "TOPIC_NOT_EXIST" },
    { nameServer: "127.0.0.1:9877", outcome: "error", detail: "refused" },
  ]);
  assert.match(e.message, /Orders/);
  assert.match(e.message, /127\.0\.0\.1:9876 \(answered TOPIC_NOT_EXIST\)/);
  assert.match(e.message, /127\.0\.0\.1:9877 \(no answer: refused\)/);
  assert.match(e.message, /tidemq admin updateTopic/);
  assert.equal(e.code, 17);
  assert.equal(e.retriable, false);
});
