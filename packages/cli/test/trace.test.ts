/**
 * Message trace end to end: a producer and a push consumer with enableTrace against a real
 * NameServer and broker; `tidemq admin queryMsgTraceById` (a child process) reads the
 * timeline back. Then tracing to a topic the broker refuses: sends and consumption still
 * succeed, and the failed trace records are counted.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ConsumeResult, type MessageView, Producer, PushConsumer, type TraceTimeline } from "@tidemq/client";
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
