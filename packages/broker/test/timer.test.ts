import assert from "node:assert/strict";
import { test } from "node:test";
import {
  createRequest,
  decodeJson,
  encodeBatchBody,
  RequestCode,
  ResponseCode,
  sendHeaderToV2,
} from "@tidemq/protocol";
import { createLogger } from "@tidemq/remoting";
import { BrokerController } from "../src/BrokerController.js";
import { decodeRecallHandle } from "../src/timer/RecallHandle.js";
import type { TimerStatus } from "../src/timer/TimerService.js";
import { checkTimerLimit, timerDueMs } from "../src/timer/timerSend.js";
import {
  cleanupsAfterAll,
  createTopicRequest,
  eventually,
  newClient,
  openBroker,
  pullAll,
  removeDir,
  sendRequest,
  startBroker,
  tempDir,
  testConfig,
} from "./helpers.js";

const cleanups = cleanupsAfterAll();

test("timer due time: property precedence, relative and absolute, bad values refused", () => {
  assert.equal(timerDueMs({}, 1000), undefined);
  assert.deepEqual(timerDueMs({ timerDelaySec: "3" }, 1000), { dueMs: 4000, property: "TIMER_DELAY_SEC" });
  assert.deepEqual(timerDueMs({ timerDelayMs: "250" }, 1000), { dueMs: 1250, property: "TIMER_DELAY_MS" });
  assert.deepEqual(timerDueMs({ startDeliverTime: "9000" }, 1000), {
    dueMs: 9000,
    property: "__STARTDELIVERTIME",
  });
  assert.deepEqual(timerDueMs({ timerDeliverMs: "7000", timerDelaySec: "1", startDeliverTime: "5" }, 1000), {
    dueMs: 7000,
    property: "TIMER_DELIVER_MS",
  });
  for (const bad of ["", "abc", "1.5", "-3", "1e400"]) {
    assert.throws(() => timerDueMs({ timerDeliverMs: bad }, 0), /TIMER_DELIVER_MS.*not a whole number/);
  }
  assert.doesNotThrow(() => checkTimerLimit(61_000, "TIMER_DELIVER_MS", 1000, 60));
  assert.throws(() => checkTimerLimit(61_001, "TIMER_DELIVER_MS", 1000, 60), /timerMaxDelaySec=60 s/);
  const h = decodeRecallHandle(Buffer.from("v1 T broker-a 1700000000000 ABC").toString("base64url"));
  assert.deepEqual(h, { topic: "T", brokerName: "broker-a", dueMs: 1_700_000_000_000, uniqKey: "ABC" });
  assert.match(String(decodeRecallHandle("")), /base64url/);
  assert.match(String(decodeRecallHandle(Buffer.from("v2 a b c d").toString("base64url"))), /v1/);
  assert.match(String(decodeRecallHandle(Buffer.from("v1 a b soon d").toString("base64url"))), /timestamp/);
});

test("broker: TIMER_DELAY_SEC / TIMER_DELAY_MS held until due; a timer wins over a delay level; the limit and batches refused", async () => {
  const b = await openBroker("timer", { timerMaxDelaySec: 60 });
  cleanups.push(() => b.close());
  assert.equal((await b.client.invoke(b.addr, createTopicRequest("T_TIMER", 2))).code, ResponseCode.SUCCESS);
  const sentAt = Date.now();
  const bySec = await b.client.invoke(
    b.addr,
    sendRequest("T_TIMER", Buffer.from("sec"), {
      queueId: 1,
      properties: { TIMER_DELAY_SEC: "1", KEYS: "k1", UNIQ_KEY: "U1" },
    }),
  );
  assert.equal(bySec.code, ResponseCode.SUCCESS, bySec.remark);
  assert.ok(bySec.extFields?.recallHandle, "recall handle in the send response");
  const msSentAt = Date.now();
  const byMs = await b.client.invoke(
    b.addr,
    sendRequest("T_TIMER", Buffer.from("ms"), {
      queueId: 1,
      properties: { TIMER_DELAY_MS: "300", DELAY: "3" },
    }),
  );
  assert.equal(byMs.code, ResponseCode.SUCCESS, byMs.remark);
  // Nothing in the real queue before it is due (a loaded machine may already be past 300 ms here).
  for (const m of (await pullAll(b.client, b.addr, "T_TIMER", 1)).messages) {
    assert.ok(m.storeTimestamp >= sentAt + (m.body.toString() === "ms" ? 300 : 1000), "never early");
  }
  let got: Awaited<ReturnType<typeof pullAll>>["messages"] = [];
  await eventually(async () => {
    got = (await pullAll(b.client, b.addr, "T_TIMER", 1)).messages;
    return got.length === 2;
  }, "both timers in their real queue");
  // Found by body, not by order: on a loaded machine the second send may leave 700 ms after the
  // first, and then the 300 ms timer is due after the 1 s one.
  const first = got.find((m) => m.body.toString() === "ms");
  const second = got.find((m) => m.body.toString() === "sec");
  assert.ok(first && second, "both bodies delivered");
  assert.ok(first.storeTimestamp >= msSentAt + 300, "never early");
  assert.ok(
    first.storeTimestamp < msSentAt + 10_000,
    `the 300 ms timer came ${first.storeTimestamp - msSentAt} ms after its send: the delay level (10 s) was applied`,
  );
  assert.equal(first.properties.DELAY, undefined);
  assert.ok(second.storeTimestamp >= sentAt + 1000);
  assert.equal(second.properties.KEYS, "k1");
  assert.equal(second.properties.UNIQ_KEY, "U1");
  assert.equal(second.properties.TIMER_DELAY_SEC, undefined);
  assert.equal(second.queueId, 1);

  const tooFar = await b.client.invoke(
    b.addr,
    sendRequest("T_TIMER", Buffer.from("x"), { properties: { TIMER_DELAY_SEC: "61" } }),
  );
  assert.equal(tooFar.code, ResponseCode.MESSAGE_ILLEGAL);
  assert.match(tooFar.remark!, /timerMaxDelaySec=60/);
  const half = await b.client.invoke(
    b.addr,
    sendRequest("T_TIMER", Buffer.from("x"), { properties: { TIMER_DELAY_SEC: "5", TRAN_MSG: "true" } }),
  );
  assert.equal(half.code, ResponseCode.MESSAGE_ILLEGAL);
  assert.match(
    half.remark!,
    /transaction(al)? (\(half\) |half )?message cannot (carry a delivery time|also be delayed)/,
  );
  const bad = await b.client.invoke(
    b.addr,
    sendRequest("T_TIMER", Buffer.from("x"), { properties: { __STARTDELIVERTIME: "tomorrow" } }),
  );
  assert.equal(bad.code, ResponseCode.MESSAGE_ILLEGAL);
  assert.match(bad.remark!, /__STARTDELIVERTIME/);

  const batchHeader = (properties: string) =>
    sendHeaderToV2({
      producerGroup: "PG",
      topic: "T_TIMER",
      defaultTopic: "TBW102",
      defaultTopicQueueNums: 4,
      queueId: 0,
      sysFlag: 0,
      bornTimestamp: Date.now(),
      flag: 0,
      properties,
      batch: true,
    });
  const entryTimer = encodeBatchBody([
    { flag: 0, body: Buffer.from("a"), properties: {} },
    { flag: 0, body: Buffer.from("b"), properties: { TIMER_DELAY_MS: "5000" } },
  ]);
  const r1 = await b.client.invoke(
    b.addr,
    createRequest(RequestCode.SEND_BATCH_MESSAGE, batchHeader(""), entryTimer),
  );
  assert.equal(r1.code, ResponseCode.MESSAGE_ILLEGAL);
  assert.match(r1.remark!, /batch message cannot carry a delivery time \(TIMER_DELAY_MS\)/);
  const plain = encodeBatchBody([{ flag: 0, body: Buffer.from("a"), properties: {} }]);
  const r2 = await b.client.invoke(
    b.addr,
    createRequest(
      RequestCode.SEND_BATCH_MESSAGE,
      batchHeader("__STARTDELIVERTIME\u00019999999999999\u0002"),
      plain,
    ),
  );
  assert.equal(r2.code, ResponseCode.MESSAGE_ILLEGAL);
  assert.match(r2.remark!, /__STARTDELIVERTIME/);
  assert.equal(
    (await pullAll(b.client, b.addr, "T_TIMER", 0)).messages.length,
    0,
    "nothing of a refused batch stored",
  );
});

test("broker: a clean restart keeps pending timers (delivered once) and the status names them by day", async () => {
  const dir = await tempDir("timer-restart");
  cleanups.push(() => removeDir(dir));
  const client = newClient();
  cleanups.push(() => client.close());
  let broker = await startBroker(dir);
  let addr = `127.0.0.1:${broker.port}`;
  assert.equal((await client.invoke(addr, createTopicRequest("T_TR", 1))).code, ResponseCode.SUCCESS);
  // Due after the restart below even on a loaded machine (2.5 s was delivered before it ended).
  const due = Date.now() + 6000;
  const res = await client.invoke(
    addr,
    sendRequest("T_TR", Buffer.from("after restart"), { properties: { TIMER_DELIVER_MS: String(due) } }),
  );
  assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
  const farDue = Date.now() + 3 * 86_400_000;
  await client.invoke(
    addr,
    sendRequest("T_TR", Buffer.from("far"), { properties: { TIMER_DELIVER_MS: String(farDue) } }),
  );
  await eventually(() => broker.timers!.status().pending === 2, "both enqueued");
  const statusRes = await client.invoke(addr, createRequest(RequestCode.GET_TIMER_STATUS, {}));
  const status = decodeJson<TimerStatus>(statusRes.body, "timer status");
  assert.equal(status.pending, 2);
  assert.deepEqual(
    status.days.map((d) => d.count),
    [1, 1],
  );
  assert.equal(status.days[1]!.day, new Date(farDue).toISOString().slice(0, 10));
  assert.ok(status.nextDueMs !== undefined && status.nextDueMs <= due);
  await broker.shutdown();
  broker = await startBroker(dir);
  cleanups.push(() => broker.shutdown());
  addr = `127.0.0.1:${broker.port}`;
  assert.equal(broker.timers!.status().pending, 2, "pending across the restart");
  let got: Awaited<ReturnType<typeof pullAll>>["messages"] = [];
  await eventually(
    async () => {
      got = (await pullAll(client, addr, "T_TR", 0)).messages;
      return got.length >= 1;
    },
    "the timer after the restart",
    10_000,
  );
  assert.equal(got.length, 1);
  assert.equal(got[0]!.body.toString(), "after restart");
  assert.ok(got[0]!.storeTimestamp >= due);
  assert.equal(broker.timers!.status().pending, 1, "the far one still waits");
});

test("broker: a timer beyond the wheel's span is rolled (stored again) each lap, delivered once when due, recallable meanwhile", async () => {
  const dir = await tempDir("timer-roll");
  cleanups.push(() => removeDir(dir));
  const broker = new BrokerController(await testConfig(dir), {
    logger: createLogger("test-broker", "warn"),
    timerWheelSlots: 3,
  });
  await broker.start();
  cleanups.push(() => broker.shutdown());
  const client = newClient();
  cleanups.push(() => client.close());
  const addr = `127.0.0.1:${broker.port}`;
  assert.equal((await client.invoke(addr, createTopicRequest("T_ROLL", 1))).code, ResponseCode.SUCCESS);
  const due = Date.now() + 7500;
  const send = (body: string, uniq: string) =>
    client.invoke(
      addr,
      sendRequest("T_ROLL", Buffer.from(body), {
        properties: { TIMER_DELIVER_MS: String(due), UNIQ_KEY: uniq, KEYS: `k-${body}` },
      }),
    );
  const kept = await send("kept", "UK1");
  const recalled = await send("recalled", "UK2");
  assert.equal(kept.code, ResponseCode.SUCCESS, kept.remark);
  // Recall after the first roll (a 3 s wheel rolls a 7.5 s timer twice).
  await eventually(
    () => broker.context.store.getMaxOffsetInQueue("rmq_sys_wheel_timer", 0) >= 4,
    "first rolls",
    10_000,
  );
  const rec = await client.invoke(
    addr,
    createRequest(RequestCode.RECALL_MESSAGE, {
      topic: "T_ROLL",
      recallHandle: recalled.extFields!.recallHandle!,
    }),
  );
  assert.equal(rec.code, ResponseCode.SUCCESS, rec.remark);
  let got: Awaited<ReturnType<typeof pullAll>>["messages"] = [];
  await eventually(
    async () => {
      got = (await pullAll(client, addr, "T_ROLL", 0)).messages;
      return got.length >= 1 && Date.now() > due + 1500;
    },
    "the rolled timer",
    20_000,
  );
  assert.deepEqual(
    got.map((m) => m.body.toString()),
    ["kept"],
    "delivered once, the recalled one never",
  );
  assert.ok(got[0]!.storeTimestamp >= due);
  assert.equal(got[0]!.properties.KEYS, "k-kept");
  assert.equal(got[0]!.properties.UNIQ_KEY, "UK1");
  assert.equal(got[0]!.properties.TIMER_ROLL_TIMES, undefined);
  // The timer topic holds the originals, the recall marker and the rolled copies.
  assert.ok(broker.context.store.getMaxOffsetInQueue("rmq_sys_wheel_timer", 0) >= 5);
  assert.equal(broker.timers!.status().pending, 0);
});

test("broker: a clean stop delivers the timers it has loaded and leaves nothing to deliver again", async () => {
  const dir = await tempDir("timer-drain");
  cleanups.push(() => removeDir(dir));
  const client = newClient();
  cleanups.push(() => client.close());
  let broker = await startBroker(dir);
  let addr = `127.0.0.1:${broker.port}`;
  assert.equal((await client.invoke(addr, createTopicRequest("T_DRAIN", 1))).code, ResponseCode.SUCCESS);
  const due = Date.now() + 1800;
  const res = await client.invoke(
    addr,
    sendRequest("T_DRAIN", Buffer.from("loaded"), { properties: { TIMER_DELIVER_MS: String(due) } }),
  );
  assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
  await eventually(() => broker.timers!.status().loadedInMemory === 1, "the timer loaded", 10_000);
  await broker.shutdown();
  assert.ok(Date.now() >= due, "the stop waited for the loaded timer's due time");
  broker = await startBroker(dir);
  cleanups.push(() => broker.shutdown());
  addr = `127.0.0.1:${broker.port}`;
  const st = broker.timers!.status();
  assert.equal(st.pending, 0);
  assert.ok(st.loadedUpToMs > due, "its slot is not loaded again");
  const got = (await pullAll(client, addr, "T_DRAIN", 0)).messages;
  assert.deepEqual(
    got.map((m) => m.body.toString()),
    ["loaded"],
  );
  assert.ok(got[0]!.storeTimestamp >= due);
});
