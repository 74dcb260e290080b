/**
 * SEND_HALF_BATCH (TideMQ's request: the transaction halves of one turn in one request) over a
 * real NameServer and brokers: entries the broker cannot honour are refused alone with the
 * send path's own errors, a malformed body is refused whole, our producer coalesces concurrent
 * halves and falls back to one SEND_MESSAGE_V2 per half against a broker that does not know
 * the request, rollbacks of one turn never deliver, and halves stored by one batch survive a
 * kill -9 of the broker and are committed by one END_TRANSACTION_BATCH after its restart.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import {
  createRequest,
  createResponse,
  decodeEndTransactionResults,
  decodeHalfBatchResults,
  decodeOffsetMsgId,
  encodeEndTransactionBatch,
  encodeHalfBatch,
  encodeProperties,
  type HalfBatchEntry,
  ResponseCode,
  TransactionRequestCode,
} from "@tidemq/protocol";
import { RemotingClient } from "@tidemq/remoting";
import { Admin, Producer, type Transaction, TransactionResolution, transactionStatus } from "../src/index.js";
import { killChild, sigkill, spawnChildBroker } from "./childBroker.js";
import { createTopicOn, FAST, TestCluster, testLogger, uniq, waitFor } from "./cluster.js";
import { freePorts } from "./dledgerGroup.js";
import { startRecorder } from "./recorder.js";

let cluster: TestCluster;
let brokerAddr: string;
let admin: Admin;
let child: ChildProcess | undefined;
const raw = new RemotingClient({ requestTimeoutMs: 5000, logger: testLogger("raw") });

before(async () => {
  cluster = await TestCluster.start(["broker-a"], {
    transactionCheckInterval: 200,
    transactionTimeOut: 500,
    transactionCheckMax: 1000,
  });
  brokerAddr = cluster.brokers.get("broker-a")!.brokerAddr;
  admin = new Admin({ endpoints: cluster.nsAddr, logger: testLogger("admin") });
});
after(async () => {
  killChild(child);
  await admin?.shutdown();
  await raw.close();
  await cluster?.stop();
});

const recorder = (topic: string) =>
  startRecorder(cluster.nsAddr, topic, { groupPrefix: "HbC", fromFirstOffset: true });

async function pendingOf(group: string, addr = brokerAddr): Promise<number> {
  return (await transactionStatus(admin, addr)).byGroup[group] ?? 0;
}

/** The number of SEND_HALF_BATCH requests a producer sent (its batcher's count). */
function halfBatchesOf(p: Producer): number {
  return (p as unknown as { core: { halves?: { batchesSent: number } } }).core.halves?.batchesSent ?? 0;
}

function half(topic: string, group: string, id: string, extra: Record<string, string> = {}): HalfBatchEntry {
  return {
    topic,
    queueId: 0,
    sysFlag: 4, // PREPARED
    bornTimestamp: Date.now(),
    flag: 0,
    properties: encodeProperties({ TRAN_MSG: "true", PGROUP: group, UNIQ_KEY: id, ...extra }),
    body: Buffer.from(`body of ${id}`),
  };
}

test("a half batch with bad entries: each bad one refused alone with the send path's error, the others stored and ended", async () => {
  const topic = uniq("HbBad");
  const group = uniq("HbBadP");
  await cluster.createTopic(topic, 1);
  const r = await recorder(topic);
  try {
    const entries: HalfBatchEntry[] = [
      half(topic, group, "good-1"),
      // Not a half: never stored through this request (it would be visible at once).
      { ...half(topic, group, "plain"), sysFlag: 0, properties: encodeProperties({ UNIQ_KEY: "plain" }) },
      half(topic, group, "delayed", { DELAY: "3" }),
      half("bad topic!", group, "bad-topic"),
      { ...half(topic, group, "bad-queue"), queueId: 99 },
      half(topic, group, "good-2"),
    ];
    const res = await raw.invoke(
      brokerAddr,
      createRequest(
        TransactionRequestCode.SEND_HALF_BATCH,
        { producerGroup: group, defaultTopic: "TBW102", defaultTopicQueueNums: 4 },
        encodeHalfBatch(entries),
      ),
    );
    assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
    const results = decodeHalfBatchResults(res.body, entries.length);
    assert.deepEqual(
      results.map((x) => x.code),
      [
        ResponseCode.SUCCESS,
        ResponseCode.MESSAGE_ILLEGAL,
        ResponseCode.MESSAGE_ILLEGAL,
        ResponseCode.SYSTEM_ERROR,
        ResponseCode.SYSTEM_ERROR,
        ResponseCode.SUCCESS,
      ],
      JSON.stringify(results),
    );
    assert.match(results[1]!.remark ?? "", /entry 1 .* is not a transaction half message/);
    assert.match(results[2]!.remark ?? "", /cannot also be delayed \(it carries DELAY=3\)/);
    assert.match(results[4]!.remark ?? "", /queueId\[99\] is illegal/);
    const [g1, , , , , g2] = results;
    assert.ok(g1!.msgId && g2!.msgId, "the stored halves have offset message ids");
    assert.equal(g2!.queueOffset, g1!.queueOffset! + 1, "consecutive half-queue offsets");
    assert.equal(await pendingOf(group), 2, "only the two halves are pending");

    // A body that is not whole entries is refused as a whole; the broker keeps serving.
    const cut = encodeHalfBatch([half(topic, group, "cut")]).subarray(0, 30);
    const bad = await raw.invoke(
      brokerAddr,
      createRequest(TransactionRequestCode.SEND_HALF_BATCH, { producerGroup: group }, cut),
    );
    assert.equal(bad.code, ResponseCode.MESSAGE_ILLEGAL);
    assert.match(bad.remark ?? "", /cut short/);
    const noGroup = await raw.invoke(
      brokerAddr,
      createRequest(TransactionRequestCode.SEND_HALF_BATCH, {}, encodeHalfBatch([half(topic, group, "x")])),
    );
    assert.equal(noGroup.code, ResponseCode.SYSTEM_ERROR);
    assert.match(noGroup.remark ?? "", /without producerGroup/);

    // Commit one, roll back the other, in one END_TRANSACTION_BATCH.
    const end = await raw.invoke(
      brokerAddr,
      createRequest(
        TransactionRequestCode.END_TRANSACTION_BATCH,
        { producerGroup: group, fromTransactionCheck: false },
        encodeEndTransactionBatch([
          {
            tranStateTableOffset: g1!.queueOffset!,
            commitLogOffset: decodeOffsetMsgId(g1!.msgId!).commitLogOffset,
            commitOrRollback: 8,
          },
          {
            tranStateTableOffset: g2!.queueOffset!,
            commitLogOffset: decodeOffsetMsgId(g2!.msgId!).commitLogOffset,
            commitOrRollback: 12,
          },
        ]),
      ),
    );
    assert.equal(end.code, ResponseCode.SUCCESS, end.remark);
    assert.deepEqual(
      decodeEndTransactionResults(end.body, 2).map((x) => x.code),
      [0, 0],
    );
    await waitFor(() => r.got.has("good-1"), 20_000, "the committed half");
    assert.equal(await pendingOf(group), 0);
    // Nothing else of this batch ever arrives: a marker sent after it comes, they do not.
    const p = new Producer({
      endpoints: cluster.nsAddr,
      producerGroup: uniq("HbM"),
      logger: testLogger("m"),
      ...FAST,
    });
    await p.startup();
    try {
      const marker = await p.send({ topic, body: "marker" });
      await waitFor(() => r.got.has(marker.messageId), 20_000, "the marker");
      assert.equal(r.got.size, 2, "the committed half and the marker only");
    } finally {
      await p.shutdown();
    }
    assert.equal(r.dups(), 0);
  } finally {
    await r.stop();
  }
});

test("a half batch to a topic the broker has yet to create goes half by half, the next one to it as one send task: each half stored once, its answer names it", async () => {
  // The first batch needs the topic auto-created (an asynchronous step): its halves take the
  // single-send path. The second finds the topic: its halves are checked, stored and answered
  // in one send-queue task. Both answers must name each half exactly (END_TRANSACTION uses them).
  const topic = uniq("HbNew");
  const group = uniq("HbNewP");
  const batch = async (ids: string[]) => {
    const res = await raw.invoke(
      brokerAddr,
      createRequest(
        TransactionRequestCode.SEND_HALF_BATCH,
        { producerGroup: group, defaultTopic: "TBW102", defaultTopicQueueNums: 1 },
        encodeHalfBatch(ids.map((id) => half(topic, group, id))),
      ),
    );
    assert.equal(res.code, ResponseCode.SUCCESS, res.remark);
    const results = decodeHalfBatchResults(res.body, ids.length);
    assert.deepEqual(
      results.map((x) => x.code),
      ids.map(() => ResponseCode.SUCCESS),
      JSON.stringify(results),
    );
    return results;
  };
  const first = await batch(["new-1", "new-2", "new-3"]);
  const second = await batch(["next-1", "next-2", "next-3"]);
  const all = [...first, ...second];
  for (let i = 1; i < all.length; i++) {
    assert.equal(
      all[i]!.queueOffset,
      all[0]!.queueOffset! + i,
      "consecutive half-queue offsets, in entry order",
    );
  }
  assert.equal(new Set(all.map((x) => x.msgId)).size, 6, "six distinct offset message ids");
  assert.equal(await pendingOf(group), 6);
  const r = await recorder(topic);
  try {
    // Every answer names its own half: committing by them delivers each body once.
    const end = await raw.invoke(
      brokerAddr,
      createRequest(
        TransactionRequestCode.END_TRANSACTION_BATCH,
        { producerGroup: group, fromTransactionCheck: false },
        encodeEndTransactionBatch(
          all.map((x) => ({
            tranStateTableOffset: x.queueOffset!,
            commitLogOffset: decodeOffsetMsgId(x.msgId!).commitLogOffset,
            commitOrRollback: 8,
          })),
        ),
      ),
    );
    assert.equal(end.code, ResponseCode.SUCCESS, end.remark);
    assert.deepEqual(
      decodeEndTransactionResults(end.body, 6).map((x) => x.code),
      [0, 0, 0, 0, 0, 0],
    );
    await waitFor(() => r.got.size >= 6, 20_000, "the six committed halves");
    assert.deepEqual(
      [...r.got.values()].map((m) => m.body.toString()).sort(),
      ["new-1", "new-2", "new-3", "next-1", "next-2", "next-3"].map((id) => `body of ${id}`).sort(),
    );
    assert.equal(r.dups(), 0);
    assert.equal(await pendingOf(group), 0);
  } finally {
    await r.stop();
  }
});

test("our producer: concurrent halves share SEND_HALF_BATCH requests, a refused one fails alone, a rollback batch delivers nothing", async () => {
  const topic = uniq("HbProd");
  const group = uniq("HbProdP");
  await cluster.createTopic(topic, 4);
  const p = new Producer({
    endpoints: cluster.nsAddr,
    producerGroup: group,
    topic,
    logger: testLogger("p"),
    ...FAST,
    checker: { check: () => TransactionResolution.UNKNOWN },
  });
  await p.startup();
  const r = await recorder(topic);
  try {
    const N = 40;
    const txs = Array.from({ length: N }, () => p.beginTransaction());
    const sent = await Promise.allSettled(
      txs.map((tx, i) =>
        p.send({ topic, keys: [`k${i}`], body: `m${i}`, ...(i === 7 ? { delay: 60_000 } : {}) }, tx),
      ),
    );
    assert.ok(halfBatchesOf(p) >= 1, "the halves went in SEND_HALF_BATCH requests");
    assert.equal(sent[7]!.status, "rejected");
    assert.match(String((sent[7] as PromiseRejectedResult).reason), /cannot also be delayed/);
    const ok = sent.flatMap((s, i) =>
      s.status === "fulfilled" ? [{ tx: txs[i]!, receipt: s.value, i }] : [],
    );
    assert.equal(ok.length, N - 1, "every other half stored");
    assert.equal(new Set(ok.map((o) => o.receipt.queueOffset)).size, N - 1, "each half its own offset");
    assert.equal(await pendingOf(group), N - 1);
    // Every transaction rolled back in one turn: an END_TRANSACTION_BATCH of rollbacks.
    const ends = await Promise.allSettled(ok.map((o) => o.tx.rollback()));
    assert.deepEqual(
      ends.filter((e) => e.status === "rejected"),
      [],
    );
    assert.equal(await pendingOf(group), 0);
    const marker = await p.send({ topic, body: "marker" });
    await waitFor(() => r.got.has(marker.messageId), 20_000, "the marker");
    assert.equal(r.got.size, 1, "no rolled-back half ever arrives");
    // And a commit batch of a second round: each delivered once.
    const txs2 = Array.from({ length: 20 }, () => p.beginTransaction());
    const halves2 = await Promise.all(txs2.map((tx, i) => p.send({ topic, body: `c${i}` }, tx)));
    await Promise.all(txs2.map((tx) => tx.commit()));
    await waitFor(() => halves2.every((h) => r.got.has(h.messageId)), 20_000, "the committed halves");
    assert.equal(r.dups(), 0);
  } finally {
    await r.stop();
    await p.shutdown();
  }
});

test("a broker that does not know SEND_HALF_BATCH: the producer sends each half alone, every one stored", async () => {
  const old = await cluster.startBroker("broker-old", {
    transactionCheckInterval: 200,
    transactionTimeOut: 500,
    transactionCheckMax: 1000,
  });
  // What a RocketMQ broker (or a TideMQ broker from before the request) answers.
  old.context.server.registerHandler(TransactionRequestCode.SEND_HALF_BATCH, (req) =>
    createResponse(req, ResponseCode.REQUEST_CODE_NOT_SUPPORTED, ` request type ${req.code} not supported`),
  );
  const topic = uniq("HbOld");
  const group = uniq("HbOldP");
  try {
    await createTopicOn(cluster.nsAddr, old.brokerAddr, topic, 2, 10_000);
    const p = new Producer({
      endpoints: cluster.nsAddr,
      producerGroup: group,
      topic,
      logger: testLogger("po"),
      ...FAST,
    });
    await p.startup();
    const r = await recorder(topic);
    try {
      for (let round = 0; round < 2; round++) {
        const txs = Array.from({ length: 10 }, () => p.beginTransaction());
        const halves = await Promise.all(txs.map((tx, i) => p.send({ topic, body: `o${round}-${i}` }, tx)));
        assert.equal(halfBatchesOf(p), 1, "one batch tried, then plain sends only");
        assert.equal(new Set(halves.map((h) => h.queueOffset)).size, 10);
        await Promise.all(txs.map((tx) => tx.commit()));
        await waitFor(() => halves.every((h) => r.got.has(h.messageId)), 20_000, "the committed halves");
      }
      assert.equal(await pendingOf(group, old.brokerAddr), 0);
      assert.equal(r.dups(), 0);
    } finally {
      await r.stop();
      await p.shutdown();
    }
  } finally {
    await cluster.stopBroker("broker-old");
  }
});

test("kill -9 between the half batch and the commit batch: after the restart one END_TRANSACTION_BATCH commits and rolls back each half exactly once", async () => {
  const dir = join(cluster.dir, "broker-hb");
  let started = spawnChildBroker(cluster.nsAddr, "broker-hb", dir);
  child = started.child;
  const addr = await started.ready;
  const port = Number(addr.split(":")[1]);
  const topic = uniq("HbCrash");
  await createTopicOn(cluster.nsAddr, addr, topic, 2, 10_000);
  const group = uniq("HbCrashP");
  const p = new Producer({
    endpoints: cluster.nsAddr,
    producerGroup: group,
    topic,
    logger: testLogger("pc"),
    ...FAST,
    // The check-back never decides: only the commit batch below may.
    checker: { check: () => TransactionResolution.UNKNOWN },
  });
  await p.startup();
  try {
    const N = 30;
    const txs: Transaction[] = Array.from({ length: N }, () => p.beginTransaction());
    const halves = await Promise.all(
      txs.map((tx, i) => p.send({ topic, keys: [`o${i}`], body: `o${i}` }, tx)),
    );
    assert.ok(halfBatchesOf(p) >= 1, "the halves went in SEND_HALF_BATCH requests");
    await sigkill(child);
    // The same (ephemeral) port again: the transactions' handles name the broker's address. Its
    // HA port would default to port + 1, which another socket may hold: a free one instead.
    const [haListenPort] = await freePorts(1);
    started = spawnChildBroker(
      cluster.nsAddr,
      "broker-hb",
      dir,
      JSON.stringify({ listenPort: port, haListenPort }),
    );
    child = started.child;
    assert.equal(await started.ready, addr);
    assert.equal(await pendingOf(group, addr), N, "every half of the batch survived the kill");
    const ends = await Promise.allSettled(txs.map((tx, i) => (i % 2 === 0 ? tx.commit() : tx.rollback())));
    assert.deepEqual(
      ends.filter((e) => e.status === "rejected"),
      [],
    );
    assert.equal(await pendingOf(group, addr), 0);
    let records = 0;
    for (let q = 0; q < 2; q++)
      records += await admin.getMaxOffset(addr, { topic, brokerName: "broker-hb", queueId: q });
    assert.equal(records, N / 2, "one record per committed half, none for a rolled-back one");
    const r = await recorder(topic);
    try {
      const committed = halves.filter((_, i) => i % 2 === 0).map((h) => h.messageId);
      await waitFor(() => committed.every((id) => r.got.has(id)), 60_000, "the committed halves");
      assert.equal(r.got.size, N / 2);
      assert.equal(r.dups(), 0);
    } finally {
      await r.stop();
    }
  } finally {
    await p.shutdown();
    killChild(child);
  }
});
