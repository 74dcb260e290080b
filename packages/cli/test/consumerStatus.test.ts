/**
 * Consumer status from the broker: `tidemq admin consumerStatus` and `consumeMessageDirectly`
 * (child processes) ask a broker, which relays GET_CONSUMER_RUNNING_INFO / CONSUME_MESSAGE_DIRECTLY
 * to our push consumer's connection and returns its answer.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import {
  ConsumeResult,
  type ConsumerRunningInfo,
  type MessageView,
  Producer,
  PushConsumer,
  type SendReceipt,
} from "@tidemq/client";
import { createLogger } from "@tidemq/remoting";
import { startTestCluster, type TestCluster } from "./cluster.js";
import { adminOk, runAdmin } from "./runAdmin.js";

let c: TestCluster;
const logger = createLogger("status-test", "error");
const FAST = { heartbeatBrokerInterval: 200, pollNameServerInterval: 200 };

before(async () => {
  c = await startTestCluster("tidemq-status-");
});
after(async () => {
  await c?.stop();
});

function deferred(): { promise: Promise<void>; resolve: () => void } {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => {
    resolve = r;
  });
  return { promise, resolve };
}

async function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        t = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(t);
  }
}

test("consumerStatus: queues with locks, cached messages, offsets, in-flight and TPS; consumeMessageDirectly runs the listener", async () => {
  const topic = "StatusOrders";
  const group = "StatusGroup";
  const producer = new Producer({ endpoints: c.nsAddr, logger, ...FAST });
  await producer.startup();
  const seen: string[] = [];
  const hold = deferred();
  const holding = deferred();
  const tenDone = deferred();
  let consumer: PushConsumer | undefined;
  try {
    const receipts: SendReceipt[] = [];
    for (let i = 0; i < 10; i++)
      receipts.push(await producer.send({ topic, body: `m${i}`, shardingKey: "k" }));
    consumer = new PushConsumer({
      endpoints: c.nsAddr,
      consumerGroup: group,
      consumeOrderly: true,
      subscriptions: { [topic]: "*" },
      consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
      messageListener: {
        async consume(m: MessageView) {
          const body = m.body.toString();
          seen.push(body);
          if (body === "boom") throw new Error("listener refused boom");
          if (body === "hold") {
            holding.resolve();
            await hold.promise;
          }
          if (seen.length === 10) tenDone.resolve();
          return ConsumeResult.SUCCESS;
        },
      },
      logger,
      ...FAST,
    });
    await consumer.startup();
    await within(tenDone.promise, 20_000, "10 messages consumed");
    // One message the listener holds: in flight, cached, its queue locked.
    await producer.send({ topic, body: "hold", shardingKey: "k" });
    await within(holding.promise, 20_000, "held message reached the listener");
    const clientId = consumer.clientId!;
    const status = JSON.parse(
      await adminOk(c.nsAddr, ["consumerStatus", "-g", group, "--json"], c.children),
    ) as Array<{ clientId: string; info: ConsumerRunningInfo }>;
    assert.equal(status.length, 1);
    assert.equal(status[0]!.clientId, clientId);
    const info = status[0]!.info;
    assert.equal(info.properties.PROP_CONSUMEORDERLY, "true");
    assert.equal(info.properties.PROP_INFLIGHT_COUNT, "1");
    const q = info.mqTable.find(
      (e) => e.mq.queueId === receipts[0]!.messageQueue.queueId && e.mq.topic === topic,
    );
    assert.ok(q, JSON.stringify(info.mqTable));
    assert.equal(q.info.locked, true);
    assert.equal(q.info.cachedMsgCount, 1);
    assert.equal(q.info.cachedMsgMinOffset, 10);
    assert.equal(q.info.commitOffset, 10);
    assert.ok(info.statusTable[topic]!.consumeOKTPS > 0, JSON.stringify(info.statusTable));
    assert.ok(info.subscriptionSet.some((s) => s.topic === topic));
    // The text form with -i: the client's properties, its queue table and its rates.
    const text = await adminOk(c.nsAddr, ["consumerStatus", "-g", group, "-i", clientId], c.children);
    assert.match(text, new RegExp(`ClientId:\\s+${clientId.replace(/[.@]/g, "\\$&")}`));
    assert.match(text, /InFlight:\s+1/);
    assert.match(text, /^#Topic\s+#Broker Name\s+#QID\s+#Locked/m);
    assert.match(text, new RegExp(`^${topic}\\s+\\S+\\s+\\d+\\s+true\\s+1\\s`, "m"));
    assert.match(text, /^#Topic\s+#Consume OK TPS/m);
    hold.resolve();

    // consumeMessageDirectly: the listener runs on m3 again (by offset id), outside the queue.
    const before = seen.length;
    const direct = JSON.parse(
      await adminOk(
        c.nsAddr,
        ["consumeMessageDirectly", "-g", group, "-i", clientId, "-m", receipts[3]!.offsetMessageId, "--json"],
        c.children,
      ),
    ) as { consumeResult: string; order: boolean };
    assert.equal(direct.consumeResult, "CR_COMMIT");
    assert.equal(direct.order, true);
    assert.ok(seen.slice(before).includes("m3"), seen.join(","));
    // By client id with -t, and a listener that throws.
    const boom = await producer.send({ topic: "StatusOther", body: "boom" });
    const thrown = await adminOk(
      c.nsAddr,
      ["consumeMessageDirectly", "-g", group, "-i", clientId, "-t", "StatusOther", "-m", boom.messageId],
      c.children,
    );
    assert.match(thrown, /ConsumeResult:\s+CR_THROW_EXCEPTION/);
    assert.match(thrown, /listener refused boom/);
    // A client that is not online: a clear error.
    const gone = await runAdmin(c.nsAddr, ["consumerStatus", "-g", group, "-i", "10.9.9.9@1"], c.children);
    assert.equal(gone.code, 1);
    assert.match(gone.stderr, /The Consumer <StatusGroup> <10\.9\.9\.9@1> not online/);
  } finally {
    hold.resolve();
    await consumer?.shutdown();
    await producer.shutdown();
  }
});
