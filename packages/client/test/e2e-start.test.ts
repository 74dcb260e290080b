import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { type ConsumeFromWhere, ConsumeResult, Producer, PushConsumer } from "../src/index.js";
import { FAST, TestCluster, testLogger, uniq, waitFor } from "./cluster.js";

let cluster: TestCluster;
before(async () => {
  cluster = await TestCluster.start(["broker-a"]);
});
after(async () => {
  await cluster?.stop();
});

test("where a new group starts: first offset, a timestamp, the last offset (strict), and the 4.9 young-queue rule", async () => {
  const topic = uniq("Start");
  await cluster.createTopic(topic, 2);
  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  await p.startup();
  const consumers: PushConsumer[] = [];
  const start = async (cfw: ConsumeFromWhere, extra: object = {}) => {
    const got = new Set<string>();
    const c = new PushConsumer({
      endpoints: cluster.nsAddr,
      consumerGroup: uniq("SG"),
      subscriptions: new Map([[topic, "*"]]),
      consumeFromWhere: cfw,
      messageListener: {
        async consume(m) {
          got.add(m.messageId);
          return ConsumeResult.SUCCESS;
        },
      },
      logger: testLogger("consumer"),
      ...FAST,
      ...extra,
    });
    consumers.push(c);
    await c.startup();
    return got;
  };
  try {
    const send = async (n: number) => {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) ids.push((await p.send({ topic, body: `m${i}` })).messageId);
      return ids;
    };
    const phase1 = await send(5);
    // Store timestamps have ms resolution: keep the boundary clear of both phases.
    await sleep(20);
    const boundary = Date.now();
    await sleep(20);
    const phase2 = await send(5);

    const first = await start("CONSUME_FROM_FIRST_OFFSET");
    const byTime = await start("CONSUME_FROM_TIMESTAMP", { consumeTimestamp: boundary });
    const lastStrict = await start("CONSUME_FROM_LAST_OFFSET", { strictStartPosition: true });
    const lastYoung = await start("CONSUME_FROM_LAST_OFFSET");
    const all = [...phase1, ...phase2];
    await waitFor(() => all.every((id) => first.has(id)), 15_000, "FIRST_OFFSET gets everything");
    await waitFor(() => phase2.every((id) => byTime.has(id)), 15_000, "TIMESTAMP gets phase 2");
    await waitFor(
      () => all.every((id) => lastYoung.has(id)),
      15_000,
      "LAST on a young queue starts at 0 (4.9 rule)",
    );
    // The strict LAST consumer holds its queues at the max offset; new messages reach it, old ones never.
    await waitFor(
      () => consumers[2]!.assignedQueues().filter((q) => q.topic === topic).length === 2,
      10_000,
      "queues assigned",
    );
    const phase3 = await send(4);
    await waitFor(
      () => phase3.every((id) => lastStrict.has(id) && byTime.has(id)),
      15_000,
      "phase 3 everywhere",
    );
    for (const id of phase1) assert.ok(!byTime.has(id), "TIMESTAMP skipped messages stored before it");
    for (const id of all)
      assert.ok(!lastStrict.has(id), "strict LAST skipped messages stored before it started");
  } finally {
    for (const c of consumers) await c.shutdown();
    await p.shutdown();
  }
});
