import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { ClientError, NoRouteError, Producer, PullConsumer, SimpleConsumer } from "../src/index.js";
import { FAST, TestCluster, testLogger, uniq } from "./cluster.js";

let cluster: TestCluster;
before(async () => {
  cluster = await TestCluster.start(["broker-a"], { autoCreateTopicEnable: false });
});
after(async () => {
  await cluster?.stop();
});

test("batch send stores one queue's consecutive offsets; a pull consumer reads them with explicit offsets and commits", async () => {
  const topic = uniq("Batch");
  await cluster.createTopic(topic, 2);
  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  const pc = new PullConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: uniq("PG"),
    logger: testLogger("pull"),
  });
  await p.startup();
  await pc.startup();
  try {
    const batch = Array.from({ length: 10 }, (_, i) => ({
      topic,
      tag: i % 2 ? "odd" : "even",
      keys: [`k${i}`],
      body: `m${i}`,
    }));
    const r = await p.sendBatch(batch);
    assert.equal(r.messageIds.length, 10);
    assert.equal(r.offsetMessageId.split(",").length, 10);
    const mq = r.messageQueue;

    const queues = await pc.fetchQueues(topic);
    assert.equal(queues.length, 2);
    assert.equal(await pc.committedOffset(mq), 0, "a fresh group on a young queue starts at 0 (broker rule)");
    assert.equal(await pc.maxOffset(mq), r.queueOffset + 10);

    const first = await pc.pull(mq, r.queueOffset, 4);
    assert.equal(first.status, "FOUND");
    assert.deepEqual(
      first.messages.map((m) => m.body.toString()),
      ["m0", "m1", "m2", "m3"],
    );
    assert.deepEqual(
      first.messages.map((m) => m.messageId),
      r.messageIds.slice(0, 4),
    );
    assert.deepEqual(
      first.messages.map((m) => m.queueOffset),
      [0, 1, 2, 3].map((i) => r.queueOffset + i),
    );
    assert.equal(first.nextBeginOffset, r.queueOffset + 4);

    const odd = await pc.pull(mq, first.nextBeginOffset, 32, { expression: "odd" });
    assert.deepEqual(
      odd.messages.map((m) => m.body.toString()),
      ["m5", "m7", "m9"],
    );
    const end = await pc.pull(mq, r.queueOffset + 10, 32);
    assert.equal(end.status, "NO_NEW_MSG");
    const illegal = await pc.pull(mq, r.queueOffset + 1000, 32);
    assert.equal(illegal.status, "OFFSET_ILLEGAL");

    await pc.commit(mq, first.nextBeginOffset);
    assert.equal(await pc.committedOffset(mq), first.nextBeginOffset);
    await assert.rejects(pc.pull(mq, -1), ClientError);
  } finally {
    await pc.shutdown();
    await p.shutdown();
  }
});

test("no route: the error names the topic, the NameServer, its TOPIC_NOT_EXIST answer and the fix", async () => {
  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  await p.startup();
  try {
    const topic = uniq("Missing");
    await assert.rejects(p.send({ topic, body: "x" }), (err: unknown) => {
      assert.ok(err instanceof NoRouteError);
      assert.equal(err.topic, topic);
      assert.match(err.message, new RegExp(topic));
      assert.match(
        err.message,
        new RegExp(`${cluster.nsAddr.replace(/\./g, "\\.")} \\(answered TOPIC_NOT_EXIST\\)`),
      );
      assert.match(err.message, /auto-create is off/);
      assert.match(err.message, /tidemq admin updateTopic/);
      return true;
    });
    // A producer that names its topics fails at startup instead.
    const p2 = new Producer({
      endpoints: cluster.nsAddr,
      topic: uniq("Missing"),
      logger: testLogger("producer"),
    });
    await assert.rejects(p2.startup(), NoRouteError);
  } finally {
    await p.shutdown();
  }
});

test("SimpleConsumer: receive, invisibility, ack, and for-await iteration", async () => {
  const topic = uniq("Simple");
  await cluster.createTopic(topic, 2);
  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  await p.startup();
  const sc = new SimpleConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: uniq("SG"),
    subscriptions: new Map([[topic, "*"]]),
    awaitDuration: 5000,
    logger: testLogger("simple"),
    ...FAST,
  });
  try {
    const ids = new Set<string>();
    for (let i = 0; i < 6; i++) ids.add((await p.send({ topic, body: `s${i}` })).messageId);
    await sc.startup();
    const got: string[] = [];
    const deadline = Date.now() + 10_000;
    let first: Awaited<ReturnType<typeof sc.receive>> = [];
    while (got.length < 6 && Date.now() < deadline) {
      const batch = await sc.receive(4, 500);
      if (first.length === 0) first = batch;
      got.push(...batch.map((m) => m.messageId));
    }
    assert.deepEqual(new Set(got), ids, "every message once while invisible");
    // Acknowledge all but the first received; that one comes back after its invisible time.
    const [unacked] = first;
    for (const m of first.slice(1)) await sc.ack(m);
    const again = await sc.receive(16, 60_000);
    assert.ok(again.some((m) => m.messageId === unacked!.messageId));
    const re = again.find((m) => m.messageId === unacked!.messageId)!;
    assert.equal(re.deliveryAttempt, 2);
    for (const m of again) await sc.ack(m);

    // for-await: new messages, acknowledged as the loop moves on.
    const more = new Set<string>();
    for (let i = 0; i < 3; i++) more.add((await p.send({ topic, body: `it${i}` })).messageId);
    const seen = new Set<string>();
    for await (const m of sc) {
      if (more.has(m.messageId)) seen.add(m.messageId);
      if (seen.size === more.size) break;
    }
    assert.deepEqual(seen, more);
  } finally {
    await sc.shutdown();
    await p.shutdown();
  }
});
