/**
 * Transactional messages over a real NameServer and broker: our producer in both shapes
 * (RocketMQ 5's beginTransaction / send(msg, tx) / commit, and 4.x's TransactionMQProducer
 * with its listener), the broker's check-back (also to a producer process that was killed
 * and replaced), the unmodified ali-ons sending with the prepared-transaction flag, and
 * END_TRANSACTION requests that cannot be honoured.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createRequest, decodeOffsetMsgId, RequestCode, ResponseCode } from "@tidemq/protocol";
import { RemotingClient } from "@tidemq/remoting";
import {
  Admin,
  Producer,
  TransactionMQProducer,
  TransactionResolution,
  transactionStatus,
} from "../src/index.js";
import { closeOnsDefaultProducer, type OnsMessage, ons, onsTimers } from "./alions.js";
import { FAST, TestCluster, testLogger, uniq, waitFor } from "./cluster.js";
import { startRecorder } from "./recorder.js";

let cluster: TestCluster;
let brokerAddr: string;
const children: ChildProcess[] = [];
const raw = new RemotingClient({ requestTimeoutMs: 5000, logger: testLogger("raw") });
let admin: Admin;

before(async () => {
  // Check rounds every 200 ms, first check 500 ms after the half was stored: tests take seconds.
  cluster = await TestCluster.start(["broker-a"], {
    transactionCheckInterval: 200,
    transactionTimeOut: 500,
    transactionCheckMax: 1000,
  });
  brokerAddr = cluster.brokers.get("broker-a")!.brokerAddr;
  admin = new Admin({ endpoints: cluster.nsAddr, logger: testLogger("admin") });
});
after(async () => {
  await closeOnsDefaultProducer();
  for (const c of children) if (c.pid && c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  await admin?.shutdown();
  await raw.close();
  await cluster?.stop();
});

const recorder = (topic: string) => startRecorder(cluster.nsAddr, topic, { groupPrefix: "TxC" });

async function pending(): Promise<number> {
  return (await transactionStatus(admin, brokerAddr)).pending;
}

test("RocketMQ 5 shape: a committed half appears once in its topic and queue, a rolled-back one never", async () => {
  const topic = uniq("Tx5");
  await cluster.createTopic(topic, 2);
  const p = new Producer({
    endpoints: cluster.nsAddr,
    producerGroup: uniq("TxP"),
    topic,
    logger: testLogger("p"),
    ...FAST,
  });
  await p.startup();
  const r = await recorder(topic);
  try {
    const tx1 = p.beginTransaction();
    const half1 = await p.send({ topic, tag: "order", keys: ["order-1"], body: "created order-1" }, tx1);
    assert.equal(half1.transactionId, half1.messageId);
    const tx2 = p.beginTransaction();
    const half2 = await p.send({ topic, keys: ["order-2"], body: "created order-2" }, tx2);
    // A plain message sent after both halves arrives; the halves do not (invisible before commit).
    const marker = await p.send({ topic, body: "marker" });
    await waitFor(() => r.got.has(marker.messageId), 20_000, "the marker");
    assert.ok(
      !r.got.has(half1.messageId) && !r.got.has(half2.messageId),
      "no half is visible before its commit",
    );
    assert.equal(await pending(), 2);

    await tx1.commit();
    await tx2.rollback();
    await waitFor(() => r.got.has(half1.messageId), 20_000, "the committed message");
    const m = r.got.get(half1.messageId)!;
    assert.equal(m.body.toString(), "created order-1");
    assert.equal(m.tag, "order");
    assert.deepEqual(m.keys, ["order-1"]);
    assert.equal(
      m.messageQueue.queueId,
      half1.messageQueue.queueId,
      "delivered in the queue the half was sent to",
    );
    assert.equal(m.properties.get("TRAN_MSG"), undefined, "TRAN_MSG cleared on the committed copy");
    assert.equal(await pending(), 0);
    // The producer's message id finds the committed copy, whose state queryMsgById can tell.
    const found = await admin.queryMessage(topic, half1.messageId, { uniqueKey: true });
    assert.equal(found.length, 1);
    // Ending twice is refused client-side; a second marker proves nothing else arrives.
    await assert.rejects(tx1.commit(), /already committed/);
    const marker2 = await p.send({ topic, body: "marker2" });
    await waitFor(() => r.got.has(marker2.messageId), 20_000, "the second marker");
    assert.ok(!r.got.has(half2.messageId), "the rolled-back message never arrives");
    assert.equal(r.dups(), 0);
  } finally {
    await r.stop();
    await p.shutdown();
  }
});

test("many transactions ending in one turn share END_TRANSACTION_BATCH requests: each resolved once, a refused one throws alone", async () => {
  const topic = uniq("TxMany");
  await cluster.createTopic(topic, 2);
  const group = uniq("TxManyP");
  const p = new Producer({
    endpoints: cluster.nsAddr,
    producerGroup: group,
    topic,
    logger: testLogger("p"),
    ...FAST,
  });
  await p.startup();
  const r = await recorder(topic);
  try {
    const txs = Array.from({ length: 60 }, () => p.beginTransaction());
    const halves = await Promise.all(
      txs.map((tx, i) => p.send({ topic, keys: [`k${i}`], body: `m${i}` }, tx)),
    );
    // One transaction of three halves: its three ends leave together.
    const multi = p.beginTransaction();
    const multiHalves = [];
    for (let i = 0; i < 3; i++) multiHalves.push(await p.send({ topic, body: `multi${i}` }, multi));
    // Its middle half is rolled back behind its back (a raw END_TRANSACTION, as a check-back answer would).
    const mid = multiHalves[1]!;
    const rb = await raw.invoke(
      brokerAddr,
      createRequest(RequestCode.END_TRANSACTION, {
        producerGroup: group,
        tranStateTableOffset: mid.queueOffset,
        commitLogOffset: decodeOffsetMsgId(mid.offsetMessageId).commitLogOffset,
        commitOrRollback: 12,
        msgId: mid.messageId,
      }),
    );
    assert.equal(rb.code, ResponseCode.SUCCESS, rb.remark);
    const ends = await Promise.allSettled([
      ...txs.map((tx, i) => (i % 2 === 0 ? tx.commit() : tx.rollback())),
      multi.commit(),
    ]);
    assert.deepEqual(
      ends.slice(0, 60).filter((e) => e.status === "rejected"),
      [],
      "every plain commit and rollback succeeded",
    );
    const multiEnd = ends[60]!;
    assert.equal(multiEnd.status, "rejected");
    assert.match(String((multiEnd as PromiseRejectedResult).reason), /rolled back; the commit is refused/);
    const expected = [
      ...halves.filter((_, i) => i % 2 === 0).map((h) => h.messageId),
      multiHalves[0]!.messageId,
      multiHalves[2]!.messageId,
    ];
    await waitFor(() => expected.every((id) => r.got.has(id)), 30_000, "every committed message");
    const marker = await p.send({ topic, body: "marker" });
    await waitFor(() => r.got.has(marker.messageId), 20_000, "the marker");
    assert.equal(r.got.size, expected.length + 1, "no rolled-back message arrives");
    assert.equal(r.dups(), 0, "none twice");
    assert.equal(await pending(), 0);
  } finally {
    await r.stop();
    await p.shutdown();
  }
});

test("4.x shape: executeLocalTransaction's COMMIT / ROLLBACK, and UNKNOWN settled by checkLocalTransaction", async () => {
  const topic = uniq("Tx4");
  await cluster.createTopic(topic, 2);
  const orders = new Set<string>(); // the "database": orders whose row was written
  const checked: string[] = [];
  const p = new TransactionMQProducer<{ id: string; write: boolean; answer: TransactionResolution }>({
    endpoints: cluster.nsAddr,
    producerGroup: uniq("Tx4P"),
    topic,
    logger: testLogger("p4"),
    ...FAST,
    transactionListener: {
      executeLocalTransaction(_msg, order) {
        if (order.write) orders.add(order.id);
        return order.answer;
      },
      checkLocalTransaction(msg) {
        checked.push(msg.keys[0]!);
        return orders.has(msg.keys[0]!) ? TransactionResolution.COMMIT : TransactionResolution.ROLLBACK;
      },
    },
  });
  await p.startup();
  const r = await recorder(topic);
  try {
    const send = (id: string, write: boolean, answer: TransactionResolution) =>
      p.sendMessageInTransaction({ topic, keys: [id], body: id }, { id, write, answer });
    const a = await send("A", true, TransactionResolution.COMMIT);
    const b = await send("B", false, TransactionResolution.ROLLBACK);
    const c = await send("C", true, TransactionResolution.UNKNOWN); // row written, outcome unknown → check
    const d = await send("D", false, TransactionResolution.UNKNOWN); // no row → check says rollback
    assert.equal(a.localTransactionState, TransactionResolution.COMMIT);
    await waitFor(() => r.got.has(a.messageId) && r.got.has(c.messageId), 20_000, "A and C");
    await waitFor(() => checked.includes("D"), 20_000, "the check-back of D");
    // Both unknowns were asked about; nothing is pending once they are answered.
    assert.ok(checked.includes("C"));
    const deadline = Date.now() + 20_000;
    while ((await pending()) > 0 && Date.now() < deadline) await new Promise((res) => setTimeout(res, 50));
    assert.equal(await pending(), 0);
    const marker = await p.send({ topic, body: "marker" });
    await waitFor(() => r.got.has(marker.messageId), 20_000, "the marker");
    assert.ok(!r.got.has(b.messageId) && !r.got.has(d.messageId), "rolled back: never delivered");
    assert.equal(r.dups(), 0);
  } finally {
    await r.stop();
    await p.shutdown();
  }
});

/** Starts a producer process that sends one half and never ends it; resolves with its message id. */
function startHalfProducer(group: string, topic: string): Promise<{ child: ChildProcess; msgId: string }> {
  const script = join(fileURLToPath(new URL(".", import.meta.url)), "fixtures", "tx-producer-child.js");
  const child = spawn(process.execPath, [script, cluster.nsAddr, group, topic], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(() => reject(new Error("the producer child did not send in 30 s")), 30_000);
    child.stdout!.on("data", (d: Buffer) => {
      out += d.toString();
      const m = /HALF (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, msgId: m[1]! });
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`the producer child exited with ${code}`));
    });
  });
}

test("check-back reaches a new producer of the group after the one that sent the half was killed", async () => {
  const topic = uniq("TxKillP");
  const group = uniq("TxKG");
  await cluster.createTopic(topic, 2);
  const r = await recorder(topic);
  const { child, msgId } = await startHalfProducer(group, topic);
  const exited = new Promise((res) => child.once("exit", res));
  child.kill("SIGKILL");
  await exited;
  const asked: string[] = [];
  const p = new Producer({
    endpoints: cluster.nsAddr,
    producerGroup: group,
    topic,
    logger: testLogger("p2"),
    ...FAST,
    checker: {
      check(m) {
        asked.push(m.messageId);
        return TransactionResolution.COMMIT;
      },
    },
  });
  await p.startup();
  try {
    await waitFor(() => r.got.has(msgId), 30_000, "the half committed through the new producer's checker");
    assert.ok(asked.includes(msgId));
    assert.equal(r.got.get(msgId)!.body.toString(), "half from a producer that dies");
  } finally {
    await r.stop();
    await p.shutdown();
  }
});

test("ali-ons: a send with the prepared-transaction flag stays invisible to an ali-ons consumer until committed", async () => {
  // ali-ons 3.12.0 has no transactional producer, but its send marks a message whose TRAN_MSG
  // property is set with the PREPARED sysFlag: that is a half. END_TRANSACTION it does not
  // have, so the commit goes over raw remoting, as a Java producer sends it.
  const topic = uniq("TxOns");
  const group = uniq("TxOnsP");
  await cluster.createTopic(topic, 1);
  const p = new ons.Producer({ nameSrv: cluster.nsAddr, producerGroup: group, ...onsTimers });
  p.on("error", () => {});
  await p.ready();
  const received: OnsMessage[] = [];
  const c = new ons.Consumer({ nameSrv: cluster.nsAddr, consumerGroup: uniq("TxOnsC"), ...onsTimers });
  c.on("error", () => {});
  await c.ready();
  c.subscribe(topic, "*", async (msg) => {
    received.push(msg);
  });
  try {
    const half = new ons.Message(topic, "TagT", "ons half");
    half.properties.TRAN_MSG = "true";
    half.keys = ["ons-order-1"];
    const sent = await p.send(half);
    assert.equal(sent.sendStatus, "SEND_OK");
    const marker = await p.send(new ons.Message(topic, "TagT", "ons marker"));
    await waitFor(() => received.some((m) => m.msgId === marker.msgId), 30_000, "the ali-ons marker");
    assert.equal(received.filter((m) => m.body.toString() === "ons half").length, 0, "the half is invisible");
    const res = await raw.invoke(
      brokerAddr,
      createRequest(RequestCode.END_TRANSACTION, {
        producerGroup: group,
        tranStateTableOffset: sent.queueOffset,
        commitLogOffset: decodeOffsetMsgId(sent.msgId).commitLogOffset,
        commitOrRollback: 8,
        fromTransactionCheck: false,
        msgId: sent.msgId,
      }),
    );
    assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
    await waitFor(
      () => received.some((m) => m.body.toString() === "ons half"),
      30_000,
      "the committed ali-ons message",
    );
    const m = received.find((x) => x.body.toString() === "ons half")!;
    assert.deepEqual([m.keys].flat(), ["ons-order-1"]);
  } finally {
    await c.close();
    await p.close();
  }
});

test("END_TRANSACTION that cannot be honoured: clear errors, nothing stored twice, the broker keeps serving", async () => {
  const topic = uniq("TxBad");
  const group = uniq("TxBadP");
  await cluster.createTopic(topic, 1);
  const p = new Producer({
    endpoints: cluster.nsAddr,
    producerGroup: group,
    topic,
    logger: testLogger("pb"),
    ...FAST,
    checker: { check: () => TransactionResolution.UNKNOWN },
  });
  await p.startup();
  const r = await recorder(topic);
  const end = (fields: Record<string, unknown>) =>
    raw.invoke(
      brokerAddr,
      createRequest(RequestCode.END_TRANSACTION, { fromTransactionCheck: false, msgId: "x", ...fields }),
    );
  try {
    const tx = p.beginTransaction();
    const half = await p.send({ topic, body: "bad-input half" }, tx);
    const commitLogOffset = decodeOffsetMsgId(half.offsetMessageId).commitLogOffset;
    const ok = { producerGroup: group, tranStateTableOffset: half.queueOffset, commitLogOffset };

    let res = await end({ ...ok, tranStateTableOffset: 987_654, commitLogOffset: 123, commitOrRollback: 8 });
    assert.equal(res.code, ResponseCode.SYSTEM_ERROR);
    assert.match(res.remark ?? "", /Find prepared transaction message failed/);
    res = await end({ ...ok, producerGroup: "SomeoneElse", commitOrRollback: 8 });
    assert.equal(res.code, ResponseCode.SYSTEM_ERROR);
    assert.match(res.remark ?? "", /producer group wrong.*SomeoneElse/);
    res = await end({ ...ok, commitLogOffset: commitLogOffset + 1, commitOrRollback: 8 });
    assert.equal(res.code, ResponseCode.SYSTEM_ERROR);
    res = await end({ ...ok, commitOrRollback: 5 });
    assert.equal(res.code, ResponseCode.SYSTEM_ERROR);
    assert.match(res.remark ?? "", /commitOrRollback 5/);
    res = await end({ producerGroup: group });
    assert.notEqual(res.code, ResponseCode.SUCCESS, "missing header fields are refused");
    assert.equal(await pending(), 1, "the half is still pending after the refused requests");

    // Rollback, then a duplicate rollback (fine, nothing stored) and a late commit (refused).
    res = await end({ ...ok, commitOrRollback: 12 });
    assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
    res = await end({ ...ok, commitOrRollback: 12 });
    assert.equal(res.code, ResponseCode.SUCCESS);
    assert.match(res.remark ?? "", /already rolled back/);
    res = await end({ ...ok, commitOrRollback: 8 });
    assert.equal(res.code, ResponseCode.SYSTEM_ERROR);
    assert.match(res.remark ?? "", /already rolled back; the commit is refused/);
    // A half cannot also be delayed: refused, not silently undelayed.
    await assert.rejects(
      p.send({ topic, body: "delayed half", delay: 60_000 }, p.beginTransaction()),
      /cannot also be delayed \(it carries TIMER_DELIVER_MS=/,
    );
    // A oneway END_TRANSACTION (how Java sends it) for an unknown half is logged, not answered.
    await raw.invokeOneway(
      brokerAddr,
      createRequest(
        RequestCode.END_TRANSACTION,
        { ...ok, tranStateTableOffset: 1e9, commitOrRollback: 8, msgId: "y" },
        undefined,
        { oneway: true },
      ),
    );

    const marker = await p.send({ topic, body: "still serving" });
    await waitFor(() => r.got.has(marker.messageId), 20_000, "a message after the bad requests");
    assert.ok(!r.got.has(half.messageId), "the rolled-back half never arrives");
    assert.equal(await pending(), 0);
  } finally {
    await r.stop();
    await p.shutdown();
  }
});
