import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { ConsumeResult, Producer, PushConsumer } from "../src/index.js";
import { killChild, sigkill, spawnChildBroker } from "./childBroker.js";
import { FAST, TestCluster, testLogger, uniq, waitFor } from "./cluster.js";

let cluster: TestCluster;
let child: ChildProcess | undefined;
before(async () => {
  cluster = await TestCluster.start([]);
});
after(async () => {
  killChild(child);
  await cluster?.stop();
});

/** Starts broker-t in a child process on its store directory; resolves with its address. */
function startChildBroker(): Promise<string> {
  const started = spawnChildBroker(cluster.nsAddr, "broker-t", join(cluster.dir, "broker-t"));
  child = started.child;
  return started.ready;
}

test("kill -9 while 10,000 timers are pending and due ones are being delivered: after restart each is delivered, none early, no recalled one", async () => {
  const addr = await startChildBroker();
  const topic = uniq("TimerCrash");
  await cluster.createTopic(topic, 4, [addr]);
  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  /** messageId → first arrival (ms) and how often it came. */
  const arrived = new Map<string, { at: number; times: number }>();
  const c = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: uniq("TG"),
    subscriptions: new Map([[topic, "*"]]),
    messageListener: {
      consume(m) {
        const a = arrived.get(m.messageId);
        if (a) a.times++;
        else arrived.set(m.messageId, { at: Date.now(), times: 1 });
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  await p.startup();
  await c.startup();
  try {
    const N = 10_000;
    const R = 100;
    const due = new Map<string, number>();
    // Due 6–16 s after each one's send, in a scrambled order (relative to the send, so a slow
    // machine does not turn them into past-due ordinary messages), sent 200 at a time.
    for (let i = 0; i < N; i += 200) {
      const batch = [];
      for (let k = i; k < i + 200; k++) {
        const dueMs = Date.now() + 6000 + ((k * 7919) % 10_000);
        batch.push(
          p.send({ topic, body: Buffer.from(`t${k}`), deliveryTimestamp: dueMs }).then((r) => {
            due.set(r.messageId, dueMs);
          }),
        );
      }
      await Promise.all(batch);
    }
    // 100 more, due 8 s after their send, recalled at once.
    const recalled = new Set<string>();
    for (let k = 0; k < R; k++) {
      const dueMs = Date.now() + 8000;
      const r = await p.send({ topic, body: Buffer.from(`r${k}`), deliveryTimestamp: dueMs });
      due.set(r.messageId, dueMs);
      await p.recallMessage(topic, r.recallHandle!);
      recalled.add(r.messageId);
    }
    assert.equal(recalled.size, R);
    // Kill while due messages are being delivered.
    await waitFor(
      () => arrived.size >= Number(process.env.TIMER_KILL_AT ?? 300),
      30_000,
      "deliveries under way",
    );
    const beforeKill = arrived.size;
    await sigkill(child!);
    await startChildBroker();
    const expected = [...due.keys()].filter((id) => !recalled.has(id));
    await waitFor(
      () => expected.every((id) => arrived.has(id)),
      90_000,
      "every timer delivered after the restart",
    );
    // Then one sentinel timer per queue, due after every recalled one: slots are delivered in
    // order, so when each queue's sentinel is here, a recalled message would have been too.
    const lastDue = Math.max(...due.values());
    const sentinels = new Map<string, number>();
    for (const queue of await p.getPublishQueues(topic)) {
      const dueMs = Math.max(lastDue, Date.now()) + 1500;
      const r = await p.send({ topic, body: Buffer.from("sentinel"), deliveryTimestamp: dueMs }, { queue });
      sentinels.set(r.messageId, dueMs);
    }
    await waitFor(() => [...sentinels.keys()].every((id) => arrived.has(id)), 30_000, "the sentinels");
    for (const [id, a] of arrived) {
      const d = sentinels.get(id) ?? due.get(id);
      assert.ok(d !== undefined, `unexpected message ${id}`);
      assert.ok(a.at >= d, `message ${id} arrived ${d - a.at} ms early`);
    }
    for (const id of recalled) assert.equal(arrived.has(id), false, `recalled message ${id} was delivered`);
    const dups = [...arrived.values()].filter((a) => a.times > 1).length;
    testLogger("timer-crash").info(`killed after ${beforeKill} deliveries; ${dups} delivered more than once`);
  } finally {
    await c.shutdown();
    await p.shutdown();
    killChild(child);
  }
});
