import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  createRequest,
  encodeJson,
  encodeProperties,
  type HeartbeatData,
  javaStringHashCode,
  PullSysFlag,
  RequestCode,
  ResponseCode,
  sendHeaderToV2,
} from "@tidemq/protocol";
import type { RemotingClient } from "@tidemq/remoting";
import type { BrokerController } from "../src/BrokerController.js";
import { defaultSubscriptionGroupConfig } from "../src/SubscriptionGroupManager.js";
import {
  type BrokerUnderTest,
  createTopicRequest,
  newClient,
  openBroker,
  pullAll,
  pullRequest,
  sendRequest,
} from "./helpers.js";

let t: BrokerUnderTest | undefined;
let broker: BrokerController;
let client: RemotingClient;
let addr: string;

before(async () => {
  t = await openBroker("broker-pullsub");
  ({ broker, client, addr } = t);
});

after(() => t?.close());

function heartbeat(group: string, topic: string, subString: string, subVersion: number): HeartbeatData {
  const tags = subString === "*" ? [] : subString.split("||").map((s) => s.trim());
  return {
    clientID: "127.0.0.1@test",
    producerDataSet: [],
    consumerDataSet: [
      {
        groupName: group,
        consumeType: "CONSUME_PASSIVELY",
        messageModel: "CLUSTERING",
        consumeFromWhere: "CONSUME_FROM_LAST_OFFSET",
        subscriptionDataSet: [
          { topic, subString, tagsSet: tags, codeSet: tags.map(javaStringHashCode), subVersion },
        ],
      },
    ],
  };
}

test("without the subscription bit the heartbeat's subscription filters, with subVersion checks", async () => {
  await client.invoke(addr, createTopicRequest("T_HB", 1));
  for (const tag of ["TagA", "TagB", "TagA"]) {
    await client.invoke(addr, sendRequest("T_HB", Buffer.from(tag), { properties: { TAGS: tag } }));
  }
  // Java push consumers pull without the subscription bit (sysFlag 0/2/3).
  const before = await client.invoke(addr, pullRequest("T_HB", 0, 0, { group: "CG_HB", sysFlag: 0 }));
  assert.equal(before.code, ResponseCode.SUBSCRIPTION_NOT_EXIST);
  assert.match(before.remark!, /CG_HB/);

  const hb = await client.invoke(
    addr,
    createRequest(RequestCode.HEART_BEAT, undefined, encodeJson(heartbeat("CG_HB", "T_HB", "TagA", 100))),
  );
  assert.equal(hb.code, ResponseCode.SUCCESS, hb.remark);
  const { messages } = await pullAll(client, addr, "T_HB", 0, 0, { group: "CG_HB", sysFlag: 0 });
  assert.deepEqual(
    messages.map((m) => m.properties.TAGS),
    ["TagA", "TagA"],
  );
  const newer = pullRequest("T_HB", 0, 0, { group: "CG_HB", sysFlag: 0 });
  newer.extFields!.subVersion = "200";
  assert.equal((await client.invoke(addr, newer)).code, ResponseCode.SUBSCRIPTION_NOT_LATEST);
  const otherTopic = pullRequest("T_ALIVE_NOT_SUBSCRIBED", 0, 0, { group: "CG_HB", sysFlag: 0 });
  await client.invoke(addr, createTopicRequest("T_ALIVE_NOT_SUBSCRIBED", 1));
  assert.equal((await client.invoke(addr, otherTopic)).code, ResponseCode.SUBSCRIPTION_NOT_EXIST);
});

test("retry topics: 1 queue on first use; past maxReconsumeTimes the message goes to %DLQ%", async () => {
  const header = (reconsumeTimes: number) =>
    sendHeaderToV2({
      producerGroup: "CLIENT_INNER_PRODUCER",
      topic: "%RETRY%CG_R",
      defaultTopic: "TBW102",
      defaultTopicQueueNums: 4,
      queueId: 0,
      sysFlag: 0,
      bornTimestamp: Date.now(),
      flag: 0,
      properties: encodeProperties({ RETRY_TOPIC: "T_R", DELAY: "3" }),
      reconsumeTimes,
      maxReconsumeTimes: 2,
    });
  const first = await client.invoke(
    addr,
    createRequest(RequestCode.SEND_MESSAGE_V2, header(1), Buffer.from("r1")),
  );
  assert.equal(first.code, ResponseCode.SUCCESS, first.remark);
  assert.equal(broker.context.topics.get("%RETRY%CG_R")?.writeQueueNums, 1);
  // DELAY 3: parked in SCHEDULE_TOPIC_XXXX queue 2 until due (10 s), bound for the retry topic.
  const r = await pullAll(client, addr, "SCHEDULE_TOPIC_XXXX", 2);
  const parked = r.messages.find((m) => m.body.toString() === "r1");
  assert.equal(parked?.properties.REAL_TOPIC, "%RETRY%CG_R");
  assert.equal(parked?.properties.DELAY, "3");

  const dead = await client.invoke(
    addr,
    createRequest(RequestCode.SEND_MESSAGE_V2, header(2), Buffer.from("r2")),
  );
  assert.equal(dead.code, ResponseCode.SUCCESS, dead.remark);
  const dlq = await pullAll(client, addr, "%DLQ%CG_R", 0);
  assert.equal(dlq.messages.length, 1);
  assert.equal(dlq.messages[0]!.body.toString(), "r2");
  assert.equal(dlq.messages[0]!.properties.DELAY, undefined);
  assert.equal(dlq.messages[0]!.reconsumeTimes, 2);
});

test("a parked pull whose connection closes is dropped", async () => {
  await client.invoke(addr, createTopicRequest("T_DROP", 1));
  const other = newClient();
  const parked = other
    .invoke(
      addr,
      pullRequest("T_DROP", 0, 0, {
        sysFlag: PullSysFlag.SUBSCRIPTION | PullSysFlag.SUSPEND,
        suspendTimeoutMillis: 20000,
      }),
    )
    .catch((err: Error) => err);
  const hold = broker.pullHoldService!;
  for (let i = 0; i < 200 && hold.size === 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(hold.size, 1);
  await other.close();
  assert.ok((await parked) instanceof Error);
  for (let i = 0; i < 200 && hold.size > 0; i++) await new Promise((r) => setTimeout(r, 10));
  assert.equal(hold.size, 0);
  // A message arriving afterwards has nobody to wake and the broker keeps serving.
  assert.equal(
    (await client.invoke(addr, sendRequest("T_DROP", Buffer.from("late")))).code,
    ResponseCode.SUCCESS,
  );
});

test("with autoCreateSubscriptionGroup off an unknown group is SUBSCRIPTION_GROUP_NOT_EXIST; short polling holds shortPollingTimeMills", async () => {
  const second = await openBroker("broker-nogroup", {
    autoCreateSubscriptionGroup: false,
    longPollingEnable: false,
    shortPollingTimeMills: 300,
  });
  const { client: c, addr: a } = second;
  try {
    await c.invoke(a, createTopicRequest("T_NG", 1));
    const res = await c.invoke(a, pullRequest("T_NG", 0, 0, { group: "CG_UNKNOWN" }));
    assert.equal(res.code, ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST);
    assert.match(res.remark!, /CG_UNKNOWN/);
    // A retry-topic send for an unknown group is refused the same way.
    const retry = await c.invoke(a, sendRequest("%RETRY%CG_UNKNOWN", Buffer.from("x")));
    assert.equal(retry.code, ResponseCode.SUBSCRIPTION_GROUP_NOT_EXIST);
    // Create the group (code 200), then a suspended pull is held ~shortPollingTimeMills, not 15 s.
    const group = defaultSubscriptionGroupConfig("CG_KNOWN");
    const created = await c.invoke(
      a,
      createRequest(RequestCode.UPDATE_AND_CREATE_SUBSCRIPTIONGROUP, undefined, encodeJson(group)),
    );
    assert.equal(created.code, ResponseCode.SUCCESS, created.remark);
    const t0 = Date.now();
    const held = await c.invoke(
      a,
      pullRequest("T_NG", 0, 0, {
        group: "CG_KNOWN",
        sysFlag: PullSysFlag.SUBSCRIPTION | PullSysFlag.SUSPEND,
        suspendTimeoutMillis: 15000,
      }),
    );
    const waited = Date.now() - t0;
    assert.equal(held.code, ResponseCode.PULL_NOT_FOUND);
    assert.ok(waited >= 250 && waited < 5000, `held ${waited} ms`);
  } finally {
    await second.close();
  }
});
