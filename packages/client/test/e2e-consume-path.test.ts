import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ConsumeResult, MQClientAPI, Producer, PushConsumer } from "../src/index.js";
import { FAST, TestCluster, testLogger, uniq, waitFor } from "./cluster.js";

let cluster: TestCluster;
before(async () => {
  cluster = await TestCluster.start(["broker-a"]);
});
after(async () => {
  await cluster?.stop();
});

/** Records the maxMsgNums of every pull of `topic` (a spy: the real pull still runs). */
function recordPulls(topic: string): { asked: number[]; restore: () => void } {
  const original = MQClientAPI.prototype.pullMessage;
  const asked: number[] = [];
  MQClientAPI.prototype.pullMessage = function (this: MQClientAPI, addr, header, timeoutMs) {
    if (header.topic === topic) asked.push(header.maxMsgNums as number);
    return original.call(this, addr, header, timeoutMs);
  };
  return { asked, restore: () => (MQClientAPI.prototype.pullMessage = original) };
}

async function fill(p: Producer, topic: string, count: number): Promise<void> {
  for (let i = 0; i < count; i += 100) {
    const n = Math.min(100, count - i);
    await p.sendBatch(Array.from({ length: n }, (_, k) => ({ topic, body: `m${i + k}` })));
  }
}

test("adaptive pull: a backlog is pulled in large pulls (bounded by the cache), then back to pullBatchSize", async () => {
  const topic = uniq("Adaptive");
  await cluster.createTopic(topic, 1);
  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  await p.startup();
  const spy = recordPulls(topic);
  const seen = new Set<string>();
  const c = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: uniq("AD"),
    subscriptions: new Map([[topic, "*"]]),
    consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
    pullBatchSize: 32,
    maxCacheMessageCount: 500,
    messageListener: {
      consume(m) {
        seen.add(m.body.toString());
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  try {
    await fill(p, topic, 3000);
    await c.startup();
    await waitFor(() => seen.size === 3000, 20_000, "the backlog consumed");
    assert.ok(Math.max(...spy.asked) > 32, `pulls grew: ${spy.asked.join(",")}`);
    assert.ok(
      spy.asked.every((n) => n >= 32 && n <= 500),
      `pulls stay within pullBatchSize..cache: ${spy.asked}`,
    );
    assert.ok(spy.asked.length < 3000 / 32, `fewer pulls than 32 at a time would take: ${spy.asked.length}`);
    // Caught up: the next pulls ask for pullBatchSize again.
    const before = spy.asked.length;
    await p.send({ topic, body: "tail" });
    await waitFor(() => seen.has("tail"), 10_000, "the message sent after catching up");
    await waitFor(() => spy.asked.length > before + 1, 10_000, "a pull after the tail message");
    assert.equal(spy.asked.at(-1), 32);
  } finally {
    spy.restore();
    await c.shutdown();
    await p.shutdown();
  }
});

test("maxPullBatchSize equal to pullBatchSize keeps every pull at pullBatchSize", async () => {
  const topic = uniq("Fixed");
  await cluster.createTopic(topic, 1);
  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  await p.startup();
  const spy = recordPulls(topic);
  let consumed = 0;
  const c = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: uniq("FX"),
    subscriptions: new Map([[topic, "*"]]),
    consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
    pullBatchSize: 16,
    maxPullBatchSize: 16,
    messageListener: {
      consume() {
        consumed++;
        return undefined;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  try {
    await fill(p, topic, 200);
    await c.startup();
    await waitFor(() => consumed === 200, 15_000, "200 messages");
    assert.ok(
      spy.asked.every((n) => n === 16),
      `${spy.asked}`,
    );
  } finally {
    spy.restore();
    await c.shutdown();
    await p.shutdown();
  }
});

test("concurrent consumption: async listeners never exceed consumptionThreadCount; sync, async and failing ones mix", async () => {
  const topic = uniq("Conc");
  await cluster.createTopic(topic, 1);
  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  await p.startup();
  let inFlight = 0;
  let maxInFlight = 0;
  const done = new Set<string>();
  const failedOnce = new Set<string>();
  const c = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: uniq("CC"),
    subscriptions: new Map([[topic, "*"]]),
    consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
    consumptionThreadCount: 3,
    messageListener: {
      consume(m) {
        const body = m.body.toString();
        const i = Number(body.slice(1));
        if (i % 3 === 0) {
          done.add(body); // synchronous success
          return undefined;
        }
        if (i % 10 === 1 && !failedOnce.has(body)) {
          failedOnce.add(body); // first delivery fails: redelivered through %RETRY%
          if (i % 20 === 1) throw new Error("listener failure");
          return ConsumeResult.FAILURE;
        }
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        return new Promise((resolve) =>
          setTimeout(() => {
            inFlight--;
            done.add(body);
            resolve(ConsumeResult.SUCCESS);
          }, 2),
        );
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  try {
    await fill(p, topic, 120);
    await c.startup();
    await waitFor(() => done.size === 120, 60_000, "every message consumed, failed ones after redelivery");
    assert.ok(maxInFlight <= 3, `at most 3 listener calls at once, saw ${maxInFlight}`);
    assert.ok(maxInFlight >= 2, `async listeners do run concurrently, saw ${maxInFlight}`);
  } finally {
    await c.shutdown();
    await p.shutdown();
  }
});
