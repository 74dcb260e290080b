import assert from "node:assert/strict";
import { test } from "node:test";
import type { ConsumerData, SubscriptionData } from "@tidemq/protocol";
import { decodeMessage, encodeMessage } from "@tidemq/protocol";
import { ConsumerManager, canonicalExpression, detectConflicts } from "../src/ConsumerManager.js";
import { ProducerManager } from "../src/ProducerManager.js";
import { sendBackProperties, sendBackTarget } from "../src/processors/client/sendBack.js";

/** Channels are plain identities to the managers; the broker uses remoting Connections. */
interface Channel {
  name: string;
}

function sub(
  topic: string,
  subString = "*",
  subVersion = 1,
  expressionType?: "TAG" | "SQL92",
): SubscriptionData {
  const tags = subString === "*" ? [] : subString.split("||").map((t) => t.trim());
  return {
    topic,
    subString,
    tagsSet: tags,
    codeSet: [],
    subVersion,
    ...(expressionType ? { expressionType } : {}),
  };
}

function consumer(
  group: string,
  subs: SubscriptionData[],
  messageModel: ConsumerData["messageModel"] = "CLUSTERING",
): ConsumerData {
  return {
    groupName: group,
    consumeType: "CONSUME_PASSIVELY",
    messageModel,
    consumeFromWhere: "CONSUME_FROM_LAST_OFFSET",
    subscriptionDataSet: subs,
  };
}

const client = (clientId: string) => ({ clientId, language: "JAVA", version: 121 });

test("heartbeat registers a channel and replaces the group's subscription table", () => {
  let now = 1_000;
  const m = new ConsumerManager<Channel>({ channelExpiredTimeout: 120_000, now: () => now });
  const a: Channel = { name: "a" };
  const first = m.register(a, client("10.0.0.1@1"), consumer("G", [sub("T1", "TagA", 1), sub("%RETRY%G")]));
  assert.deepEqual(first, { newChannel: true, topicsChanged: true, conflictsChanged: false });
  assert.deepEqual([...m.getGroup("G")!.subscriptions.keys()].sort(), ["%RETRY%G", "T1"]);

  // Same topics, same version: nothing to notify.
  now += 30_000;
  const same = m.register(a, client("10.0.0.1@1"), consumer("G", [sub("T1", "TagA", 1), sub("%RETRY%G")]));
  assert.deepEqual(same, { newChannel: false, topicsChanged: false, conflictsChanged: false });
  assert.equal(m.getGroup("G")!.channels.get(a)!.lastUpdate, 31_000);

  // A newer subVersion replaces the expression but is not a topic change (no notify).
  const bump = m.register(a, client("10.0.0.1@1"), consumer("G", [sub("T1", "TagB", 2), sub("%RETRY%G")]));
  assert.equal(bump.topicsChanged, false);
  assert.equal(m.findSubscription("G", "T1")!.subString, "TagB");
  // An older subVersion does not.
  m.register(a, client("10.0.0.1@1"), consumer("G", [sub("T1", "TagC", 1), sub("%RETRY%G")]));
  assert.equal(m.findSubscription("G", "T1")!.subString, "TagB");

  // Dropping a topic and adding another is a change; the dropped topic is gone.
  const moved = m.register(a, client("10.0.0.1@1"), consumer("G", [sub("T2"), sub("%RETRY%G")]));
  assert.equal(moved.topicsChanged, true);
  assert.equal(m.findSubscription("G", "T1"), undefined);
  assert.equal(m.findSubscription("G", "T2")!.subString, "*");
});

test("registrations are keyed by channel: two channels with one clientID are two members", () => {
  const m = new ConsumerManager<Channel>({ channelExpiredTimeout: 120_000 });
  const a: Channel = { name: "a" };
  const b: Channel = { name: "b" };
  m.register(a, client("10.0.0.1@DEFAULT"), consumer("B", [sub("T")], "BROADCASTING"));
  const second = m.register(b, client("10.0.0.1@DEFAULT"), consumer("B", [sub("T")], "BROADCASTING"));
  assert.equal(second.newChannel, true);
  assert.equal(m.getGroup("B")!.channels.size, 2);
  // The consumer id list has no duplicates (a duplicate would leave queues unassigned).
  assert.deepEqual(m.clientIds("B"), ["10.0.0.1@DEFAULT"]);
  // One process closing does not remove the other.
  assert.deepEqual(m.removeChannel(a), ["B"]);
  assert.deepEqual(m.channelsOf("B"), [b]);
  assert.equal(m.unregister(b, "B"), true);
  assert.equal(m.getGroup("B"), undefined, "an empty group disappears");
  assert.equal(m.unregister(b, "B"), false);
});

test("channels silent for channelExpiredTimeout expire; refreshed ones stay", () => {
  let now = 0;
  const m = new ConsumerManager<Channel>({ channelExpiredTimeout: 120_000, now: () => now });
  const a: Channel = { name: "a" };
  const b: Channel = { name: "b" };
  m.register(a, client("A"), consumer("G", [sub("T")]));
  m.register(b, client("B"), consumer("G", [sub("T")]));
  now = 100_000;
  m.register(b, client("B"), consumer("G", [sub("T")]));
  now = 120_000;
  assert.deepEqual(m.scanExpired(), [], "exactly at the timeout a channel is still alive");
  now = 120_001;
  assert.deepEqual(
    m.scanExpired().map((r) => [r.channel.name, r.group, r.clientId]),
    [["a", "G", "A"]],
  );
  assert.deepEqual(m.clientIds("G"), ["B"]);
  now = 220_001;
  assert.equal(m.scanExpired().length, 1);
  assert.equal(m.getGroup("G"), undefined);
});

test("consumers of a group that subscribe differently are reported", () => {
  const m = new ConsumerManager<Channel>({ channelExpiredTimeout: 120_000 });
  const a: Channel = { name: "a" };
  const b: Channel = { name: "b" };
  const c: Channel = { name: "c" };
  m.register(a, client("A"), consumer("G", [sub("T", "TagA || TagB"), sub("%RETRY%G")]));
  // Same tags in another order and spacing: not a conflict.
  const same = m.register(b, client("B"), consumer("G", [sub("T", "TagB||TagA"), sub("%RETRY%G")]));
  assert.equal(same.conflictsChanged, false);
  assert.deepEqual(m.conflicts("G"), []);

  const differs = m.register(c, client("C"), consumer("G", [sub("T", "TagC"), sub("U"), sub("%RETRY%G")]));
  assert.equal(differs.conflictsChanged, true);
  const conflicts = m.conflicts("G");
  assert.deepEqual(
    conflicts.map((x) => [x.kind, x.topic]),
    [
      ["EXPRESSION", "T"],
      ["TOPIC", "U"],
    ],
  );
  assert.deepEqual(conflicts[0]!.consumers, [
    { clientId: "A", expression: "TagA || TagB" },
    { clientId: "B", expression: "TagA || TagB" },
    { clientId: "C", expression: "TagC" },
  ]);
  assert.match(conflicts[1]!.description, /U is subscribed by C but not by A, B/);
  // A repeated heartbeat with the same conflict does not report again.
  assert.equal(
    m.register(c, client("C"), consumer("G", [sub("T", "TagC"), sub("U"), sub("%RETRY%G")])).conflictsChanged,
    false,
  );
  // The odd one leaves: consistent again.
  m.removeChannel(c);
  assert.deepEqual(m.conflicts("G"), []);
});

test("conflict detection: message models, SQL92 and '*' forms", () => {
  assert.equal(canonicalExpression(sub("T", "")), "*");
  assert.equal(canonicalExpression(sub("T", " * ")), "*");
  assert.equal(canonicalExpression(sub("T", "a > 1", 1, "SQL92")), "SQL92: a > 1");
  const mixed = detectConflicts([
    { clientId: "A", messageModel: "CLUSTERING", subscriptions: new Map([["T", sub("T")]]) },
    { clientId: "B", messageModel: "BROADCASTING", subscriptions: new Map([["T", sub("T", "")]]) },
  ]);
  assert.deepEqual(
    mixed.map((x) => x.kind),
    ["MESSAGE_MODEL"],
  );
  assert.deepEqual(
    detectConflicts([{ clientId: "A", messageModel: "CLUSTERING", subscriptions: new Map() }]),
    [],
  );
});

test("producer groups: register, unregister, close, expiry", () => {
  let now = 0;
  const p = new ProducerManager<Channel>({ channelExpiredTimeout: 1_000, now: () => now });
  const a: Channel = { name: "a" };
  const b: Channel = { name: "b" };
  assert.equal(p.register(a, "PG", client("A")), true);
  assert.equal(p.register(a, "PG", client("A")), false);
  p.register(b, "PG", client("B"));
  p.register(b, "OTHER", client("B"));
  assert.deepEqual(p.groups().sort(), ["OTHER", "PG"]);
  assert.equal(p.anyChannel("PG"), a);
  assert.deepEqual(p.removeChannel(b).sort(), ["OTHER", "PG"]);
  assert.equal(p.isRegistered(b), false);
  now = 1_001;
  assert.deepEqual(
    p.scanExpired().map((r) => r.clientId),
    ["A"],
  );
  assert.equal(p.connections("PG"), undefined);
  assert.equal(p.unregister(a, "PG"), false);
});

test("send-back target: broker-chosen level, clamping, DLQ after max reconsumes or on request", () => {
  assert.deepEqual(sendBackTarget("G", 0, 0, 16, 18), { kind: "RETRY", topic: "%RETRY%G", delayLevel: 3 });
  assert.deepEqual(sendBackTarget("G", 5, 0, 16, 18), { kind: "RETRY", topic: "%RETRY%G", delayLevel: 8 });
  assert.deepEqual(sendBackTarget("G", 15, 0, 16, 18), { kind: "RETRY", topic: "%RETRY%G", delayLevel: 18 });
  assert.deepEqual(sendBackTarget("G", 2, 7, 16, 18), { kind: "RETRY", topic: "%RETRY%G", delayLevel: 7 });
  assert.deepEqual(sendBackTarget("G", 16, 0, 16, 18), { kind: "DLQ", topic: "%DLQ%G" });
  assert.deepEqual(sendBackTarget("G", 0, -1, 16, 18), { kind: "DLQ", topic: "%DLQ%G" });
  assert.deepEqual(sendBackTarget("G", 1, 0, 1, 18), { kind: "DLQ", topic: "%DLQ%G" });
});

test("send-back properties keep the original topic and message id across retries", () => {
  const record = encodeMessage({
    queueId: 0,
    flag: 0,
    queueOffset: 0,
    commitLogOffset: 4096,
    sysFlag: 0,
    bornTimestamp: 1,
    bornHost: { host: "10.0.0.1", port: 5000 },
    storeTimestamp: 2,
    storeHost: { host: "10.0.0.2", port: 10911 },
    reconsumeTimes: 0,
    preparedTransactionOffset: 0,
    body: Buffer.from("x"),
    topic: "T",
    properties: { TAGS: "A", DELAY: "3" },
  });
  const first = decodeMessage(record);
  const retry = sendBackProperties(first, { kind: "RETRY", topic: "%RETRY%G", delayLevel: 4 });
  assert.equal(retry.RETRY_TOPIC, "T");
  assert.equal(retry.ORIGIN_MESSAGE_ID, first.msgId);
  assert.equal(retry.DELAY, "4");
  assert.equal(retry.WAIT, "false");
  const again = decodeMessage(
    encodeMessage({
      ...first,
      topic: "%RETRY%G",
      commitLogOffset: 8192,
      properties: retry,
      reconsumeTimes: 1,
    }),
  );
  const dlq = sendBackProperties(again, { kind: "DLQ", topic: "%DLQ%G" });
  assert.equal(dlq.RETRY_TOPIC, "T", "the first topic survives");
  assert.equal(dlq.ORIGIN_MESSAGE_ID, first.msgId, "the first id survives");
  assert.equal(dlq.DELAY, undefined, "a DLQ copy is not delayed");
});
