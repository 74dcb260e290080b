import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  createOffsetMsgId,
  createRequest,
  decodeMessages,
  decodeObjectKeyMap,
  encodeBatchBody,
  MessageSysFlag,
  PullSysFlag,
  RequestCode,
  ResponseCode,
  sendHeaderToV2,
} from "@tidemq/protocol";
import type { RemotingClient } from "@tidemq/remoting";
import type { BrokerController } from "../src/BrokerController.js";
import {
  type BrokerUnderTest,
  createTopicRequest,
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
  t = await openBroker("broker-sendpull", { maxMessageSize: 64 * 1024 });
  ({ broker, client, addr } = t);
});

after(() => t?.close());

/** After every bad request the broker must still serve: a send to a known topic succeeds. */
async function assertStillServing(): Promise<void> {
  const res = await client.invoke(addr, sendRequest("T_ALIVE", Buffer.from("alive")));
  assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
}

test("create a topic, send with V1, V2 and batch, pull back byte-identical", async () => {
  assert.equal((await client.invoke(addr, createTopicRequest("T_ALIVE", 1))).code, ResponseCode.SUCCESS);
  const created = await client.invoke(addr, createTopicRequest("T_SP", 4));
  assert.equal(created.code, ResponseCode.SUCCESS, created.remark);

  const sent: Array<{ body: Buffer; msgId: string; offset: number }> = [];
  for (let i = 0; i < 5; i++) {
    const body = Buffer.from(`hello ${i} ${"x".repeat(i * 100)}`);
    const res = await client.invoke(
      addr,
      sendRequest("T_SP", body, {
        queueId: 1,
        code: i % 2 === 0 ? RequestCode.SEND_MESSAGE_V2 : RequestCode.SEND_MESSAGE,
        properties: { TAGS: "TagA", KEYS: `k${i}`, WAIT: "true" },
      }),
    );
    assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
    assert.equal(res.extFields?.queueId, "1");
    assert.equal(res.extFields?.queueOffset, String(i));
    assert.equal(res.extFields?.MSG_REGION, "DefaultRegion");
    assert.equal(res.extFields?.TRACE_ON, "true");
    assert.match(res.extFields!.msgId!, /^[0-9A-F]{32}$/);
    sent.push({ body, msgId: res.extFields!.msgId!, offset: i });
  }
  // A batch of three into queue 2: comma-joined offsetMsgIds, consecutive offsets.
  const batchBody = encodeBatchBody(
    [0, 1, 2].map((i) => ({ flag: 0, body: Buffer.from(`b${i}`), properties: { TAGS: "TagB" } })),
  );
  const header = sendHeaderToV2({
    producerGroup: "PG",
    topic: "T_SP",
    defaultTopic: "TBW102",
    defaultTopicQueueNums: 4,
    queueId: 2,
    sysFlag: 0,
    bornTimestamp: Date.now(),
    flag: 0,
    properties: "WAIT\u0001true\u0002",
    batch: true,
  });
  const batchRes = await client.invoke(
    addr,
    createRequest(RequestCode.SEND_BATCH_MESSAGE, header, batchBody),
  );
  assert.equal(batchRes.code, ResponseCode.SUCCESS, batchRes.remark);
  assert.equal(batchRes.extFields!.msgId!.split(",").length, 3);
  assert.equal(batchRes.extFields!.queueOffset, "0");

  const { messages } = await pullAll(client, addr, "T_SP", 1);
  assert.equal(messages.length, 5);
  for (const [i, m] of messages.entries()) {
    assert.deepEqual(m.body, sent[i]!.body);
    assert.equal(m.msgId, sent[i]!.msgId, "send msgId = offsetMsgId of the pulled record");
    assert.equal(m.queueOffset, i);
    assert.equal(m.topic, "T_SP");
    assert.equal(m.properties.TAGS, "TagA");
    assert.equal(m.properties.KEYS, `k${i}`);
    assert.equal(m.properties.CLUSTER, "DefaultCluster");
    assert.equal(m.properties.WAIT, undefined, "WAIT is not stored (4.9.8)");
    assert.equal(m.bornHost.host, "127.0.0.1");
    assert.equal(m.storeHost.host, "127.0.0.1");
    assert.equal(m.storeHost.port, broker.port);
    assert.equal(m.msgId, createOffsetMsgId({ host: "127.0.0.1", port: broker.port }, m.commitLogOffset));
  }
  const batch = await pullAll(client, addr, "T_SP", 2);
  assert.deepEqual(
    batch.messages.map((m) => m.body.toString()),
    ["b0", "b1", "b2"],
  );
  assert.deepEqual(
    batch.messages.map((m) => m.msgId),
    batchRes.extFields!.msgId!.split(","),
  );
  assert.equal(batch.messages[0]!.properties.TAGS, "TagB");
});

test("queueId < 0 picks a queue; auto-create from TBW102 makes min(d, 8) queues", async () => {
  const res = await client.invoke(
    addr,
    sendRequest("T_AUTO", Buffer.from("a"), { queueId: -1, defaultTopicQueueNums: 3 }),
  );
  assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
  const q = Number(res.extFields!.queueId);
  assert.ok(q >= 0 && q < 3);
  const all = await client.invoke(addr, createRequest(RequestCode.GET_ALL_TOPIC_CONFIG));
  const table = JSON.parse(all.body!.toString()).topicConfigTable;
  assert.equal(table.T_AUTO.writeQueueNums, 3);
  assert.equal(table.T_AUTO.perm, 6);
  assert.equal(table.TBW102.perm, 7);
  assert.ok(
    table.SCHEDULE_TOPIC_XXXX && table.OFFSET_MOVED_EVENT && table.SELF_TEST_TOPIC && table.DefaultCluster,
  );
});

test("tag filtering happens in the broker", async () => {
  await client.invoke(addr, createTopicRequest("T_TAG", 1));
  for (const tag of ["TagB", "TagA", "null", "TagC", "TagA"]) {
    const r = await client.invoke(
      addr,
      sendRequest("T_TAG", Buffer.from(tag), { properties: { TAGS: tag } }),
    );
    assert.equal(r.code, ResponseCode.SUCCESS);
  }
  const onlyA = await pullAll(client, addr, "T_TAG", 0, 0, { subscription: "TagA" });
  assert.deepEqual(
    onlyA.messages.map((m) => m.properties.TAGS),
    ["TagA", "TagA"],
  );
  const aOrC = await pullAll(client, addr, "T_TAG", 0, 0, { subscription: "TagA || TagC" });
  assert.deepEqual(
    aOrC.messages.map((m) => m.properties.TAGS),
    ["TagA", "TagC", "TagA"],
  );
  const everything = await pullAll(client, addr, "T_TAG", 0, 0, { subscription: "*" });
  assert.equal(everything.messages.length, 5);
  // A pull whose only entry does not match answers PULL_RETRY_IMMEDIATELY past it.
  const miss = await client.invoke(addr, pullRequest("T_TAG", 0, 0, { subscription: "TagZ", maxMsgNums: 1 }));
  assert.ok(miss.code === ResponseCode.PULL_RETRY_IMMEDIATELY || miss.code === ResponseCode.PULL_NOT_FOUND);
  assert.ok(Number(miss.extFields!.nextBeginOffset) > 0);
});

test("long polling: a parked pull is answered by the arrival, well before its timeout", async () => {
  await client.invoke(addr, createTopicRequest("T_LP", 2));
  const started = Date.now();
  const parked = client.invoke(
    addr,
    pullRequest("T_LP", 1, 0, {
      sysFlag: PullSysFlag.SUBSCRIPTION | PullSysFlag.SUSPEND,
      suspendTimeoutMillis: 15000,
    }),
  );
  // A message to another queue must not wake it.
  await client.invoke(addr, sendRequest("T_LP", Buffer.from("other"), { queueId: 0 }));
  const sendAt = Date.now();
  await client.invoke(addr, sendRequest("T_LP", Buffer.from("wake"), { queueId: 1 }));
  const res = await parked;
  const answeredAfterSend = Date.now() - sendAt;
  assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
  assert.equal(decodeMessages(res.body!)[0]!.body.toString(), "wake");
  assert.ok(answeredAfterSend < 2000, `answered ${answeredAfterSend} ms after the send`);
  assert.ok(Date.now() - started < 5000);

  // No arrival: answered PULL_NOT_FOUND once the hold ends, with all four offsets.
  const t0 = Date.now();
  const empty = await client.invoke(
    addr,
    pullRequest("T_LP", 1, 1, {
      sysFlag: PullSysFlag.SUBSCRIPTION | PullSysFlag.SUSPEND,
      suspendTimeoutMillis: 400,
    }),
  );
  const held = Date.now() - t0;
  assert.equal(empty.code, ResponseCode.PULL_NOT_FOUND);
  assert.ok(held >= 350 && held < 5000, `held ${held} ms`);
  assert.equal(empty.extFields!.nextBeginOffset, "1");
  assert.equal(empty.extFields!.maxOffset, "1");
});

test("offset moved / not found codes carry every offset field", async () => {
  await client.invoke(addr, createTopicRequest("T_OFF", 2));
  const fields = ["suggestWhichBrokerId", "nextBeginOffset", "minOffset", "maxOffset"];
  const empty0 = await client.invoke(addr, pullRequest("T_OFF", 0, 0));
  assert.equal(empty0.code, ResponseCode.PULL_NOT_FOUND);
  const empty5 = await client.invoke(addr, pullRequest("T_OFF", 0, 5));
  assert.equal(empty5.code, ResponseCode.PULL_OFFSET_MOVED);
  assert.equal(empty5.extFields!.nextBeginOffset, "0");
  for (let i = 0; i < 3; i++)
    await client.invoke(addr, sendRequest("T_OFF", Buffer.from(`m${i}`), { queueId: 1 }));
  const atMax = await client.invoke(addr, pullRequest("T_OFF", 1, 3));
  assert.equal(atMax.code, ResponseCode.PULL_NOT_FOUND);
  assert.equal(atMax.extFields!.nextBeginOffset, "3");
  const beyond = await client.invoke(addr, pullRequest("T_OFF", 1, 100));
  assert.equal(beyond.code, ResponseCode.PULL_OFFSET_MOVED);
  assert.equal(beyond.extFields!.nextBeginOffset, "3");
  for (const r of [empty0, empty5, atMax, beyond]) {
    for (const f of fields) assert.ok(r.extFields?.[f] !== undefined, `${f} missing on code ${r.code}`);
    assert.equal(r.body, undefined);
  }
  const badQueue = await client.invoke(addr, pullRequest("T_OFF", 7, 0));
  assert.equal(badQueue.code, ResponseCode.SYSTEM_ERROR);
  const noTopic = await client.invoke(addr, pullRequest("T_NOPE", 0, 0));
  assert.equal(noTopic.code, ResponseCode.TOPIC_NOT_EXIST);
});

test("the commit-offset bit stores the consumer offset", async () => {
  await client.invoke(addr, createTopicRequest("T_CO", 1));
  await client.invoke(addr, sendRequest("T_CO", Buffer.from("x")));
  const r = await client.invoke(
    addr,
    pullRequest("T_CO", 0, 1, {
      group: "CG_CO",
      sysFlag: PullSysFlag.SUBSCRIPTION | PullSysFlag.COMMIT_OFFSET,
      commitOffset: 1,
    }),
  );
  assert.equal(r.code, ResponseCode.PULL_NOT_FOUND);
  assert.equal(broker.context.offsets.query("CG_CO", "T_CO", 0), 1);
});

test("bad input gets the right code and the broker keeps serving", async () => {
  // Oversized body (maxMessageSize is 64 KiB here).
  const big = await client.invoke(addr, sendRequest("T_ALIVE", Buffer.alloc(64 * 1024 + 1, 1)));
  assert.equal(big.code, ResponseCode.MESSAGE_ILLEGAL);
  assert.match(big.remark!, /maxMessageSize/);
  await assertStillServing();

  // Malformed header: a required field missing, a number that is not one.
  const noTopic = createRequest(RequestCode.SEND_MESSAGE_V2, {
    a: "PG",
    c: "TBW102",
    d: 4,
    e: 0,
    f: 0,
    g: 1,
    h: 0,
  });
  const r1 = await client.invoke(addr, noTopic);
  assert.equal(r1.code, ResponseCode.SYSTEM_ERROR);
  assert.match(r1.remark!, /"b"/);
  const badPull = pullRequest("T_ALIVE", 0, 0);
  badPull.extFields!.queueOffset = "zero";
  const r2 = await client.invoke(addr, badPull);
  assert.equal(r2.code, ResponseCode.SYSTEM_ERROR);
  assert.match(r2.remark!, /queueOffset/);
  await assertStillServing();

  // Bad topic names and system topics.
  const badName = await client.invoke(addr, sendRequest("bad topic", Buffer.from("x")));
  assert.equal(badName.code, ResponseCode.SYSTEM_ERROR);
  const sched = await client.invoke(addr, sendRequest("SCHEDULE_TOPIC_XXXX", Buffer.from("x")));
  assert.equal(sched.code, ResponseCode.NO_PERMISSION);
  const sysCreate = await client.invoke(addr, createTopicRequest("TBW102", 8));
  assert.equal(sysCreate.code, ResponseCode.SYSTEM_ERROR);
  assert.match(sysCreate.remark!, /conflict with system topic/);
  const badQueue = await client.invoke(addr, sendRequest("T_ALIVE", Buffer.from("x"), { queueId: 9 }));
  assert.equal(badQueue.code, ResponseCode.SYSTEM_ERROR);
  await assertStillServing();

  // An invalid group name.
  const badGroup = await client.invoke(addr, pullRequest("T_ALIVE", 0, 0, { group: "bad group!" }));
  assert.equal(badGroup.code, ResponseCode.SYSTEM_ERROR);
  assert.match(badGroup.remark!, /invalid group name/);
  await assertStillServing();

  // An unknown code.
  const unknown = await client.invoke(addr, createRequest(9999));
  assert.equal(unknown.code, ResponseCode.REQUEST_CODE_NOT_SUPPORTED);

  // Unknown topic with auto-create switched off (live, via UPDATE_BROKER_CONFIG).
  const off = await client.invoke(
    addr,
    createRequest(RequestCode.UPDATE_BROKER_CONFIG, undefined, Buffer.from("autoCreateTopicEnable=false\n")),
  );
  assert.equal(off.code, ResponseCode.SUCCESS, off.remark);
  const missing = await client.invoke(addr, sendRequest("T_NEVER_CREATED", Buffer.from("x")));
  assert.equal(missing.code, ResponseCode.TOPIC_NOT_EXIST);
  assert.match(missing.remark!, /T_NEVER_CREATED.*autoCreateTopicEnable=false/);
  const refused = await client.invoke(
    addr,
    createRequest(RequestCode.UPDATE_BROKER_CONFIG, undefined, Buffer.from("listenPort=1\n")),
  );
  assert.equal(refused.code, ResponseCode.SYSTEM_ERROR);
  assert.match(refused.remark!, /listenPort/);
  await client.invoke(
    addr,
    createRequest(RequestCode.UPDATE_BROKER_CONFIG, undefined, Buffer.from("autoCreateTopicEnable=true\n")),
  );
  await assertStillServing();
});

test("admin: topic stats, runtime info, broker config, delete topic", async () => {
  await client.invoke(addr, createTopicRequest("T_ADM", 2));
  for (let i = 0; i < 3; i++)
    await client.invoke(addr, sendRequest("T_ADM", Buffer.from("x"), { queueId: 1 }));
  const stats = await client.invoke(
    addr,
    createRequest(RequestCode.GET_TOPIC_STATS_INFO, { topic: "T_ADM" }),
  );
  assert.equal(stats.code, ResponseCode.SUCCESS, stats.remark);
  const text = stats.body!.toString();
  const inner = text.slice(text.indexOf(":") + 1, -1);
  const entries = decodeObjectKeyMap<
    { queueId: number },
    { minOffset: number; maxOffset: number; lastUpdateTimestamp: number }
  >(inner);
  assert.equal(entries.length, 2);
  const q1 = entries.find(([k]) => k.queueId === 1)!;
  assert.equal(q1[1].maxOffset, 3);
  assert.ok(q1[1].lastUpdateTimestamp > 0);

  const info = await client.invoke(addr, createRequest(RequestCode.GET_BROKER_RUNTIME_INFO));
  const table = JSON.parse(info.body!.toString()).table as Record<string, string>;
  assert.equal(table.brokerVersionDesc, "V4_9_8");
  assert.equal(table.brokerVersion, "409");
  assert.match(table.putTps!, /^\d+\.\d+ \d+\.\d+ \d+\.\d+$/);
  assert.match(table.getTransferedTps!, /^\d+\.\d+ \d+\.\d+ \d+\.\d+$/);
  assert.ok(Number(table.msgPutTotalTodayNow) >= 3);
  assert.ok(Number(table.bootTimestamp) > 0);
  for (const k of ["earliestMessageTimeStamp", "commitLogDiskRatio", "msgGetTotalTodayNow"])
    assert.ok(k in table, k);

  const conf = await client.invoke(addr, createRequest(RequestCode.GET_BROKER_CONFIG));
  assert.match(conf.body!.toString(), /^brokerName=broker-t$/m);

  const del = await client.invoke(
    addr,
    createRequest(RequestCode.DELETE_TOPIC_IN_BROKER, { topic: "T_ADM" }),
  );
  assert.equal(del.code, ResponseCode.SUCCESS, del.remark);
  const gone = await client.invoke(addr, createRequest(RequestCode.GET_TOPIC_STATS_INFO, { topic: "T_ADM" }));
  assert.equal(gone.code, ResponseCode.TOPIC_NOT_EXIST);
});

test("a body of 4096+ bytes sent compressed keeps its sysFlag and bytes", async () => {
  const { deflateSync } = await import("node:zlib");
  const original = Buffer.alloc(5000, "abc");
  const compressed = deflateSync(original);
  const req = sendRequest("T_ALIVE", compressed, { properties: { TAGS: "Z" } });
  req.extFields!.f = String(MessageSysFlag.COMPRESSED);
  const res = await client.invoke(addr, req);
  assert.equal(res.code, ResponseCode.SUCCESS);
  const off = Number(res.extFields!.queueOffset);
  const pulled = await client.invoke(addr, pullRequest("T_ALIVE", 0, off, { maxMsgNums: 1 }));
  const [m] = decodeMessages(pulled.body!, { decompressBody: true });
  assert.ok((m!.sysFlag & MessageSysFlag.COMPRESSED) !== 0);
  assert.deepEqual(m!.body, original);
});

test("a transaction half is accepted but not visible in its topic (see transactions.test.ts)", async () => {
  await client.invoke(addr, createTopicRequest("T_TX", 1));
  const tx = sendRequest("T_TX", Buffer.from("half"), { properties: { TRAN_MSG: "true", PGROUP: "PG_TX" } });
  tx.extFields!.f = String(MessageSysFlag.TRANSACTION_PREPARED_TYPE);
  assert.equal((await client.invoke(addr, tx)).code, ResponseCode.SUCCESS);
  const plain = sendRequest("T_TX", Buffer.from("plain"));
  assert.equal((await client.invoke(addr, plain)).code, ResponseCode.SUCCESS);
  const { messages } = await pullAll(client, addr, "T_TX", 0);
  // The half went to RMQ_SYS_TRANS_HALF_TOPIC until END_TRANSACTION commits it.
  assert.deepEqual(
    messages.map((m) => m.body.toString()),
    ["plain"],
  );
  assert.equal(messages[0]!.sysFlag & 0xc, 0);
});

test("a pull returns at most maxTransferCountOnMessageInMemory messages (a live setting)", async () => {
  await client.invoke(addr, createTopicRequest("T_CAP", 1));
  for (let i = 0; i < 12; i++) {
    const r = await client.invoke(addr, sendRequest("T_CAP", Buffer.from(`m${i}`), { queueId: 0 }));
    assert.equal(r.code, ResponseCode.SUCCESS);
  }
  const before = broker.config.maxTransferCountOnMessageInMemory;
  assert.equal(before, 1024);
  const all = await client.invoke(addr, pullRequest("T_CAP", 0, 0, { maxMsgNums: 100 }));
  assert.equal(decodeMessages(all.body!).length, 12);
  const update = createRequest(
    RequestCode.UPDATE_BROKER_CONFIG,
    undefined,
    Buffer.from("maxTransferCountOnMessageInMemory=5\n"),
  );
  assert.equal((await client.invoke(addr, update)).code, ResponseCode.SUCCESS);
  try {
    const capped = await client.invoke(addr, pullRequest("T_CAP", 0, 0, { maxMsgNums: 100 }));
    assert.equal(capped.code, ResponseCode.SUCCESS);
    assert.deepEqual(
      decodeMessages(capped.body!).map((m) => m.body.toString()),
      ["m0", "m1", "m2", "m3", "m4"],
    );
    assert.equal(capped.extFields!.nextBeginOffset, "5");
  } finally {
    broker.config.maxTransferCountOnMessageInMemory = before;
  }
});
