/**
 * Message trace end to end: a producer and a push consumer with enableTrace against a real
 * NameServer and broker; `tidemq admin queryMsgTraceById` (a child process) reads the
 * timeline back. Then tracing to a topic the broker refuses: sends and consumption still
 * succeed, and the failed trace records are counted.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  ConsumeResult,
  type MessageView,
  Producer,
  PushConsumer,
  type TraceTimeline,
  TransactionResolution,
} from "@tidemq/client";
import { createLogger } from "@tidemq/remoting";
import { startTestCluster, type TestCluster } from "./cluster.js";
import { adminOk, runAdmin } from "./runAdmin.js";

let c: TestCluster;
const logger = createLogger("trace-test", "error");
const FAST = { heartbeatBrokerInterval: 200, pollNameServerInterval: 200 };

before(async () => {
  c = await startTestCluster("tidemq-trace-");
});
after(async () => {
  await c?.stop();
});

/** Sends `n` messages and consumes them with tracing on (or to `traceTopic`); both clients stopped after. */
async function sendAndConsume(
  topic: string,
  group: string,
  n: number,
  traceTopic?: string,
): Promise<{ ids: string[]; consumed: MessageView[]; producer: Producer; consumer: PushConsumer }> {
  const producer = new Producer({
    endpoints: c.nsAddr,
    producerGroup: `${group}-P`,
    enableTrace: true,
    traceTopic,
    logger,
    ...FAST,
  });
  await producer.startup();
  const ids: string[] = [];
  let consumer: PushConsumer | undefined;
  try {
    for (let i = 0; i < n; i++) {
      const r = await producer.send({ topic, body: `order ${i}`, tag: "Paid", keys: [`order-${i}`] });
      ids.push(r.messageId);
    }
    const consumed: MessageView[] = [];
    let done!: () => void;
    const all = new Promise<void>((r) => {
      done = r;
    });
    consumer = new PushConsumer({
      endpoints: c.nsAddr,
      consumerGroup: group,
      subscriptions: { [topic]: "*" },
      consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
      enableTrace: true,
      traceTopic,
      messageListener: {
        consume(m) {
          consumed.push(m);
          if (consumed.length === n) done();
          return ConsumeResult.SUCCESS;
        },
      },
      logger,
      ...FAST,
    });
    await consumer.startup();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      all,
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`only ${consumed.length} of ${n} consumed`)), 20_000);
      }),
    ]);
    clearTimeout(timer);
    return { ids, consumed, producer, consumer };
  } finally {
    // Shutdown flushes the trace queues.
    await consumer?.shutdown();
    await producer.shutdown();
  }
}

test("a traced message: queryMsgTraceById shows who sent it, where it was stored, and the group's consumption", async () => {
  const topic = "TraceOrders";
  const { ids, consumer, producer } = await sendAndConsume(topic, "TraceGroup", 3);
  // Every send and every consumption was traced and stored (SubBefore + SubAfter each).
  assert.deepEqual(producer.tracer!.dispatcher.stats, { queued: 3, sent: 3, dropped: 0, failed: 0 });
  assert.deepEqual(consumer.tracer!.dispatcher.stats, { queued: 6, sent: 6, dropped: 0, failed: 0 });
  const id = ids[1]!;
  // The trace messages are stored; the index may lag the append by a moment: bounded retries.
  let t: TraceTimeline | undefined;
  for (let i = 0; i < 50; i++) {
    const r = await runAdmin(c.nsAddr, ["queryMsgTraceById", "-i", id, "--json"], c.children);
    if (r.code === 0) {
      t = JSON.parse(r.stdout) as TraceTimeline;
      if (t.pubs.length > 0 && t.consumes.some((x) => x.end !== undefined)) break;
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.ok(t, "trace found");
  assert.equal(t.pubs.length, 1);
  const p = t.pubs[0]!;
  assert.equal(p.group, "TraceGroup-P");
  assert.equal(p.topic, topic);
  assert.equal(p.tags, "Paid");
  assert.equal(p.keys, "order-1");
  assert.equal(p.storeHost, c.broker.brokerAddr);
  assert.equal(p.success, true);
  assert.match(p.clientHost, /^\d+\.\d+\.\d+\.\d+:\d+$/);
  assert.equal(t.consumes.length, 1);
  const s = t.consumes[0]!;
  assert.equal(s.group, "TraceGroup");
  assert.equal(s.result, "SUCCESS");
  assert.equal(s.retryTimes, 0);
  assert.ok(s.start! >= p.time && s.end! >= s.start!, JSON.stringify(t));
  // The text form: a Pub row and the consumer group's row.
  const text = await adminOk(c.nsAddr, ["queryMsgTraceById", "-i", id], c.children);
  assert.match(text, /^#Type\s+#ProducerGroup/m);
  assert.match(text, /^Pub\s+TraceGroup-P\s/m);
  assert.match(text, /^TraceGroup\s+\S+\s+.*SUCCESS\s+0\s*$/m);
  // An id nobody traced: a clear one-line error.
  const none = await runAdmin(c.nsAddr, ["queryMsgTraceById", "-i", "NOPE0000"], c.children);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /no trace of message NOPE0000 in trace topic RMQ_SYS_TRACE_TOPIC/);
});

/** The timeline of `id` once it holds `ready` (the trace index may lag the append: bounded retries). */
async function timelineOf(id: string, ready: (t: TraceTimeline) => boolean): Promise<TraceTimeline> {
  let t: TraceTimeline | undefined;
  for (let i = 0; i < 100; i++) {
    const r = await runAdmin(c.nsAddr, ["queryMsgTraceById", "-i", id, "--json"], c.children);
    if (r.code === 0) {
      t = JSON.parse(r.stdout) as TraceTimeline;
      if (ready(t)) return t;
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  assert.fail(`trace of ${id} incomplete: ${JSON.stringify(t)}`);
}

test("a transactional message: the half is a Pub of type Trans_Msg_Half, each END_TRANSACTION an EndTransaction record (also one answering a check-back)", async () => {
  const topic = "TraceTxOrders";
  let checked = 0;
  const producer = new Producer({
    endpoints: c.nsAddr,
    producerGroup: "TraceTx-P",
    enableTrace: true,
    logger,
    ...FAST,
    checker: {
      check: () => {
        checked++;
        return TransactionResolution.COMMIT;
      },
    },
  });
  await producer.startup();
  let committed: string;
  let rolledBack: string;
  let viaCheck: string;
  try {
    const tx1 = producer.beginTransaction();
    committed = (await producer.send({ topic, body: "order 1", tag: "Created", keys: ["order-1"] }, tx1))
      .messageId;
    await tx1.commit();
    const tx2 = producer.beginTransaction();
    rolledBack = (await producer.send({ topic, body: "order 2", keys: ["order-2"] }, tx2)).messageId;
    await tx2.rollback();
    // A half never ended: a check round (as if an hour had passed) asks this producer, which commits.
    viaCheck = (
      await producer.send({ topic, body: "order 3", keys: ["order-3"] }, producer.beginTransaction())
    ).messageId;
    // (A round finds no producer of the group until its heartbeat has reached the broker.)
    const service = c.broker.transactionService!;
    for (let i = 0; i < 200 && checked === 0; i++) {
      await service.checkRound(Date.now() + 3_600_000);
      await new Promise((r) => setTimeout(r, 25));
    }
    assert.equal(checked, 1, "one check-back");
    for (let i = 0; i < 200 && service.status().pending > 0; i++) await new Promise((r) => setTimeout(r, 25));
    assert.equal(service.status().pending, 0);
  } finally {
    await producer.shutdown(); // flushes the trace queue
  }
  const t1 = await timelineOf(committed, (t) => t.pubs.length > 0 && t.transactions.length > 0);
  assert.equal(t1.pubs.length, 1);
  assert.equal(t1.pubs[0]!.msgType, "Trans_Msg_Half");
  assert.equal(t1.pubs[0]!.group, "TraceTx-P");
  assert.equal(t1.transactions.length, 1);
  const e1 = t1.transactions[0]!;
  assert.deepEqual(
    [e1.group, e1.transactionId, e1.state, e1.fromTransactionCheck],
    ["TraceTx-P", committed, "COMMIT_MESSAGE", false],
  );
  assert.ok(e1.time >= t1.pubs[0]!.time);
  const t2 = await timelineOf(rolledBack, (t) => t.transactions.length > 0);
  assert.deepEqual(
    t2.transactions.map((x) => [x.state, x.fromTransactionCheck]),
    [["ROLLBACK_MESSAGE", false]],
  );
  const t3 = await timelineOf(viaCheck, (t) => t.transactions.length > 0);
  assert.deepEqual(
    t3.transactions.map((x) => [x.state, x.fromTransactionCheck]),
    [["COMMIT_MESSAGE", true]],
  );
  // The text form has an EndTransaction row.
  const text = await adminOk(c.nsAddr, ["queryMsgTraceById", "-i", committed], c.children);
  assert.match(text, /^EndTransaction\s+TraceTx-P\s+.*COMMIT_MESSAGE\s+false\s*$/m);
});

test("tracing to a topic the broker refuses: sends and consumption still succeed; failed records are counted", async () => {
  const topic = "TraceRefused";
  // SCHEDULE_TOPIC_XXXX is a system topic producers may not write to (NO_PERMISSION).
  const { ids, consumed, producer, consumer } = await sendAndConsume(
    topic,
    "RefusedGroup",
    5,
    "SCHEDULE_TOPIC_XXXX",
  );
  assert.equal(ids.length, 5);
  assert.deepEqual(consumed.map((m) => m.messageId).sort(), [...ids].sort());
  const ps = producer.tracer!.dispatcher.stats;
  const cs = consumer.tracer!.dispatcher.stats;
  assert.equal(ps.queued, 5);
  assert.equal(ps.sent, 0);
  assert.equal(ps.failed + ps.dropped, 5);
  assert.equal(cs.queued, 10);
  assert.equal(cs.sent, 0);
  assert.equal(cs.failed + cs.dropped, 10);
});
