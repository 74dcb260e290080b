import assert from "node:assert/strict";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { objectKeyMapField } from "../src/bodies.js";
import {
  Admin,
  ConsumeResult,
  type MessageView,
  Producer,
  PushConsumer,
  type PushConsumerOptions,
} from "../src/index.js";
import { FAST, TestCluster, testLogger, uniq, waitFor } from "./cluster.js";

let cluster: TestCluster;
before(async () => {
  cluster = await TestCluster.start(["broker-a"]);
});
after(async () => {
  await cluster?.stop();
});

function consumer(
  o: Partial<PushConsumerOptions> &
    Pick<PushConsumerOptions, "consumerGroup" | "subscriptions" | "messageListener">,
) {
  return new PushConsumer({ endpoints: cluster.nsAddr, logger: testLogger("consumer"), ...FAST, ...o });
}

async function sendN(p: Producer, topic: string, n: number, prefix: string): Promise<string[]> {
  const ids: string[] = [];
  for (let i = 0; i < n; i++) ids.push((await p.send({ topic, body: `${prefix}${i}` })).messageId);
  return ids;
}

test("two consumers of a group split the queues; when one leaves the other takes over", async () => {
  const topic = uniq("Split");
  await cluster.createTopic(topic, 4);
  const group = uniq("G");
  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  await p.startup();
  const byA = new Set<string>();
  const byB = new Set<string>();
  const listener = (set: Set<string>) => ({
    async consume(m: MessageView) {
      set.add(m.messageId);
      return ConsumeResult.SUCCESS;
    },
  });
  const subs = new Map([[topic, "*"]]);
  const a = consumer({
    consumerGroup: group,
    subscriptions: subs,
    messageListener: listener(byA),
    instanceName: "A",
    // No timer-driven rebalance during the test: joins and leaves must arrive as NOTIFY_CONSUMER_IDS_CHANGED.
    rebalanceInterval: 60_000,
  });
  const b = consumer({
    consumerGroup: group,
    subscriptions: subs,
    messageListener: listener(byB),
    instanceName: "B",
    rebalanceInterval: 60_000,
  });
  try {
    await a.startup();
    await b.startup();
    const own = (c: PushConsumer) => c.assignedQueues().filter((q) => q.topic === topic).length;
    await waitFor(() => own(a) === 2 && own(b) === 2, 5000, "2 + 2 queues (A rebalanced on B's join notice)");
    const keys = (c: PushConsumer) =>
      new Set(
        c
          .assignedQueues()
          .filter((q) => q.topic === topic)
          .map((q) => q.queueId),
      );
    assert.equal(new Set([...keys(a), ...keys(b)]).size, 4, "disjoint");

    const first = await sendN(p, topic, 40, "x");
    await waitFor(() => byA.size + byB.size >= 40, 15_000, "40 messages");
    assert.ok(byA.size > 0 && byB.size > 0, `both consumed (${byA.size}/${byB.size})`);
    assert.equal(new Set([...byA, ...byB]).size, 40);
    for (const id of first)
      assert.ok(byA.has(id) !== byB.has(id), "each message went to exactly one consumer");

    await b.shutdown();
    await waitFor(() => own(a) === 4, 5000, "A takes all 4 queues (on B's leave notice)");
    const second = await sendN(p, topic, 20, "y");
    await waitFor(() => second.every((id) => byA.has(id)), 15_000, "A consumes the rest");
  } finally {
    await a.shutdown();
    await b.shutdown();
    await p.shutdown();
  }
});

test("broadcasting: every consumer gets every message; offsets kept locally in a file", async () => {
  const topic = uniq("Bcast");
  await cluster.createTopic(topic, 2);
  const group = uniq("BG");
  const dir = await mkdtemp(join(tmpdir(), "tidemq-bcast-"));
  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  await p.startup();
  const got = [new Set<string>(), new Set<string>()];
  const mk = (i: number) =>
    consumer({
      consumerGroup: group,
      subscriptions: new Map([[topic, "*"]]),
      messageModel: "BROADCASTING",
      consumeFromWhere: "CONSUME_FROM_FIRST_OFFSET",
      instanceName: `bc${i}`,
      offsetStorePath: join(dir, `bc${i}.json`),
      messageListener: {
        async consume(m) {
          got[i]!.add(m.messageId);
          return ConsumeResult.SUCCESS;
        },
      },
    });
  let c0 = mk(0);
  const c1 = mk(1);
  try {
    await c0.startup();
    await c1.startup();
    const ids = await sendN(p, topic, 10, "b");
    await waitFor(() => ids.every((id) => got[0]!.has(id) && got[1]!.has(id)), 15_000, "both get all 10");
    // Restart one: it resumes from its local file, so only new messages come.
    await c0.shutdown();
    got[0]!.clear();
    c0 = mk(0);
    await c0.startup();
    const more = await sendN(p, topic, 5, "c");
    await waitFor(
      () => more.every((id) => got[0]!.has(id)),
      15_000,
      "the restarted consumer gets the new ones",
    );
    for (const id of ids) assert.ok(!got[0]!.has(id), "old messages are not consumed again after restart");
  } finally {
    await c0.shutdown();
    await c1.shutdown();
    await p.shutdown();
    await rm(dir, { recursive: true, force: true });
  }
});

test("offsets are committed and resumed after a restart", async () => {
  const topic = uniq("Resume");
  await cluster.createTopic(topic, 2);
  const group = uniq("RG");
  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  await p.startup();
  const got = new Map<string, number>();
  const mk = () =>
    consumer({
      consumerGroup: group,
      subscriptions: new Map([[topic, "*"]]),
      messageListener: {
        async consume(m) {
          got.set(m.messageId, (got.get(m.messageId) ?? 0) + 1);
          return ConsumeResult.SUCCESS;
        },
      },
    });
  let c = mk();
  try {
    const first = await sendN(p, topic, 12, "r");
    await c.startup();
    await waitFor(() => first.every((id) => got.has(id)), 15_000, "first 12");
    await c.shutdown();
    const second = await sendN(p, topic, 8, "s");
    c = mk();
    await c.startup();
    await waitFor(() => second.every((id) => got.has(id)), 15_000, "the next 8 after restart");
    for (const id of first)
      assert.equal(got.get(id), 1, "consumed once: the restart resumed from the committed offset");
  } finally {
    await c.shutdown();
    await p.shutdown();
  }
});

test("FAILURE (or a throw) sends a message back; it comes again with the same id, topic and tag, attempt 2", async () => {
  const topic = uniq("Retry");
  await cluster.createTopic(topic, 1);
  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  await p.startup();
  const attempts: Array<{ body: string; id: string; attempt: number; topic: string; tag?: string }> = [];
  const c = consumer({
    consumerGroup: uniq("FG"),
    subscriptions: new Map([[topic, "*"]]),
    messageListener: {
      async consume(m) {
        const body = m.body.toString();
        attempts.push({ body, id: m.messageId, attempt: m.deliveryAttempt, topic: m.topic, tag: m.tag });
        if (m.deliveryAttempt > 1) return ConsumeResult.SUCCESS;
        if (body === "throw") throw new Error("a throw counts as FAILURE");
        return ConsumeResult.FAILURE;
      },
    },
  });
  try {
    await c.startup();
    const a = await p.send({ topic, tag: "TagR", body: "fail" });
    const b = await p.send({ topic, tag: "TagR", body: "throw" });
    // Redelivery goes through %RETRY%<group> with delay level 3 (10 s) once the broker implements
    // delay levels; today it is immediate. 45 s covers both.
    await waitFor(() => attempts.length >= 4, 45_000, "two deliveries of each message");
    const seen = attempts.map((x) => [x.body, x.id, x.attempt, x.topic, x.tag]);
    for (const [body, r] of [
      ["fail", a],
      ["throw", b],
    ] as const) {
      for (const n of [1, 2]) {
        assert.ok(
          seen.some(
            (x) => x[0] === body && x[1] === r.messageId && x[2] === n && x[3] === topic && x[4] === "TagR",
          ),
          `${body} delivery ${n}: ${JSON.stringify(seen)}`,
        );
      }
    }
    assert.equal(attempts.length, 4, "a SUCCESS ends the retries");
  } finally {
    await c.shutdown();
    await p.shutdown();
  }
});

test("an operator's offset reset reaches the online consumer, which consumes again from there", async () => {
  const topic = uniq("Reset");
  await cluster.createTopic(topic, 2);
  const group = uniq("RS");
  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  await p.startup();
  const admin = new Admin({ endpoints: cluster.nsAddr, logger: testLogger("admin") });
  const count = new Map<string, number>();
  const c = consumer({
    consumerGroup: group,
    subscriptions: new Map([[topic, "*"]]),
    messageListener: {
      async consume(m) {
        count.set(m.messageId, (count.get(m.messageId) ?? 0) + 1);
        return ConsumeResult.SUCCESS;
      },
    },
  });
  try {
    await c.startup();
    const ids = await sendN(p, topic, 10, "r");
    await waitFor(() => ids.every((id) => count.get(id) === 1), 15_000, "first consumption");
    // Wait until the broker has the committed offsets (the reset needs them), then rewind to the start.
    const deadline = Date.now() + 10_000;
    while ((await admin.getConsumeStats(group, topic).catch(() => undefined))?.diffTotal !== 0) {
      assert.ok(Date.now() < deadline, "offsets committed");
      await new Promise((r) => setTimeout(r, 50));
    }
    const reset = await admin.resetOffsetByTime(group, topic, 0, true);
    assert.deepEqual(
      reset.map((r) => r.offset),
      [0, 0],
    );
    await waitFor(() => ids.every((id) => count.get(id) === 2), 15_000, "consumed again after the reset");
    const info = objectKeyMapField<{ cachedMsgCount: number }>(c.runningInfo(), "mqTable");
    assert.equal(info.length, c.assignedQueues().length);
  } finally {
    await c.shutdown();
    await p.shutdown();
    await admin.shutdown();
  }
});
