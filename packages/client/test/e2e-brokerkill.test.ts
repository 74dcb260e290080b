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
  cluster = await TestCluster.start(["broker-a"]);
});
after(async () => {
  killChild(child);
  await cluster?.stop();
});

/** Starts broker-b in a child process; resolves with its address. */
function startChildBroker(): Promise<string> {
  const started = spawnChildBroker(cluster.nsAddr, "broker-b", join(cluster.dir, "broker-b"));
  child = started.child;
  return started.ready;
}

test("a broker killed with SIGKILL: sends fail over to the other broker at once, and consumption goes on", async () => {
  const addrB = await startChildBroker();
  const topic = uniq("Kill");
  await cluster.createTopic(topic, 2, [addrB]);

  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  const got = new Set<string>();
  const c = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: uniq("KG"),
    subscriptions: new Map([[topic, "*"]]),
    messageListener: {
      consume(m) {
        got.add(m.messageId);
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  await p.startup();
  await c.startup();
  try {
    const brokers = new Set<string>();
    for (let i = 0; i < 8; i++) brokers.add((await p.send({ topic, body: `a${i}` })).messageQueue.brokerName);
    assert.deepEqual([...brokers].sort(), ["broker-a", "broker-b"]);

    await sigkill(child!);
    const after: string[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await p.send({ topic, body: `b${i}` });
      assert.equal(r.messageQueue.brokerName, "broker-a");
      after.push(r.messageId);
    }
    await waitFor(() => after.every((id) => got.has(id)), 15_000, "messages sent after the kill consumed");
  } finally {
    await c.shutdown();
    await p.shutdown();
  }
});
