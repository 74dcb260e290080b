import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { decodeMessages, MessageSysFlag, PullSysFlag } from "@tidemq/protocol";
import { RemotingClient } from "@tidemq/remoting";
import { Admin, ConsumeResult, MQClientAPI, Producer, PushConsumer } from "../src/index.js";
import { FAST, TestCluster, testLogger, uniq, waitFor } from "./cluster.js";

let cluster: TestCluster;
before(async () => {
  cluster = await TestCluster.start(["broker-a"]);
});
after(async () => {
  await cluster?.stop();
});

async function waitForAsync(cond: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await cond())) {
    assert.ok(Date.now() < deadline, "timed out");
    await new Promise((r) => setTimeout(r, 50));
  }
}

test("Admin wrappers answer from a real NameServer and broker", async () => {
  const admin = new Admin({ endpoints: cluster.nsAddr, logger: testLogger("admin") });
  const topic = uniq("Adm");
  const group = uniq("AG");
  const p = new Producer({ endpoints: cluster.nsAddr, logger: testLogger("producer"), ...FAST });
  let consumed = 0;
  const c = new PushConsumer({
    endpoints: cluster.nsAddr,
    consumerGroup: group,
    subscriptions: { [topic]: "*" },
    messageListener: {
      consume() {
        consumed++;
        return ConsumeResult.SUCCESS;
      },
    },
    logger: testLogger("consumer"),
    ...FAST,
  });
  try {
    const brokerAddr = cluster.brokers.get("broker-a")!.brokerAddr;
    assert.deepEqual(
      await admin.createTopic({ topic, clusterName: "DefaultCluster", readQueueNums: 2, writeQueueNums: 2 }),
      [brokerAddr],
    );
    const info = await admin.getClusterInfo();
    assert.deepEqual(info.clusterAddrTable.DefaultCluster, ["broker-a"]);
    const route = await admin.getTopicRoute(topic);
    assert.equal(route.queueDatas[0]!.writeQueueNums, 2);
    assert.ok((await admin.getTopicList()).includes(topic));
    assert.ok((await admin.getAllTopicConfig(brokerAddr))[topic]);
    const runtime = await admin.getBrokerRuntimeInfo(brokerAddr);
    assert.ok(typeof runtime.brokerVersionDesc === "string");

    await p.startup();
    const r = await p.send({ topic, keys: ["order-7"], body: Buffer.alloc(10_000, 7) });
    const stats = await admin.getTopicStats(topic);
    assert.equal(stats.length, 2);
    assert.equal(
      stats.reduce((s, q) => s + q.maxOffset, 0),
      1,
    );

    const viewed = await admin.viewMessage(r.offsetMessageId);
    assert.equal(viewed.properties.UNIQ_KEY, r.messageId);
    assert.deepEqual(viewed.body, Buffer.alloc(10_000, 7), "decompressed");
    const byKey = await admin.queryMessage(topic, "order-7");
    assert.deepEqual(
      byKey.map((m) => m.properties.UNIQ_KEY),
      [r.messageId],
    );
    const byId = await admin.queryMessage(topic, r.messageId, { uniqueKey: true });
    assert.equal(byId.length, 1);

    // The body above 4 KiB went over the wire and into the store zlib-compressed.
    const api = new MQClientAPI(new RemotingClient({ logger: testLogger("raw") }), 3000);
    try {
      const raw = await api.pullMessage(
        brokerAddr,
        {
          consumerGroup: uniq("RAW"),
          topic,
          queueId: r.messageQueue.queueId,
          queueOffset: r.queueOffset,
          maxMsgNums: 1,
          sysFlag: PullSysFlag.SUBSCRIPTION,
          commitOffset: 0,
          suspendTimeoutMillis: 0,
          subscription: "*",
          subVersion: 0,
        },
        3000,
      );
      const [stored] = decodeMessages(raw.body!);
      assert.ok((stored!.sysFlag & MessageSysFlag.COMPRESSED) !== 0);
      assert.ok(stored!.body.length < 1000);
    } finally {
      await api.transport.close();
    }

    await c.startup();
    await waitFor(() => consumed === 1, 15_000, "the message consumed");
    // The broker registers %RETRY%<group> with the NameServer after the first heartbeat; wait for its route.
    await waitForAsync(
      () =>
        admin.getTopicRoute(`%RETRY%${group}`).then(
          () => true,
          () => false,
        ),
      10_000,
    );
    const conn = await admin.getConsumerConnectionList(group);
    assert.equal(conn.connectionSet.length, 1);
    assert.equal(conn.connectionSet[0]!.clientId, c.clientId);
    // Offsets are committed every persistConsumerOffsetInterval (200 ms here).
    const deadline = Date.now() + 10_000;
    for (;;) {
      const cs = await admin.getConsumeStats(group, topic);
      if (cs.queues.length === 2 && cs.diffTotal === 0) break;
      assert.ok(Date.now() < deadline, `consume stats show no lag: ${JSON.stringify(cs)}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  } finally {
    await c.shutdown();
    await p.shutdown();
    await admin.shutdown();
  }
});
