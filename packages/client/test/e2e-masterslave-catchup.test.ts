import assert from "node:assert/strict";
import { test } from "node:test";
import { Admin, Producer } from "../src/index.js";
import { FAST, noDiskPressure, testLogger, uniq, until } from "./cluster.js";
import { HaGroup, isAlive, stopBroker } from "./haGroup.js";

/*
 * Classic master/slave over real processes, 64 KiB segments, retention forced on the master
 * (the disk counts as over diskMaxUsedSpaceRatio 10 %, a pass every 200 ms). A slave that
 * connects after the master deleted the start of its log begins at the master's oldest
 * segment, its queues at their first record's offset, and serves reads from the queues' min
 * offsets. A slave whose log ends below the master's oldest data is refused with a reason in
 * both logs, and stays up serving what it has.
 */

const SEG = 64 * 1024;
/** Retention forced on: the disk counts as over 10 % used, a pass every 200 ms. */
const DELETE_ALL_OLD = { diskMaxUsedSpaceRatio: 10, cleanResourceInterval: 200 };

test("an empty slave joining after its master's retention deleted the log's start catches up from the oldest segment and serves reads at the queues' min offsets; a slave left behind by retention is refused with a reason and stays up", async (t) => {
  const why = await noDiskPressure();
  if (why) {
    t.skip(why);
    return;
  }
  const group = await HaGroup.start({
    dirPrefix: "tidemq-ha-catchup-",
    captureStderr: true,
    settings: { brokerName: "cu-broker", mappedFileSizeCommitLog: SEG, maxMessageSize: 16 * 1024 },
  });
  const nsAddr = group.nsAddr;
  const admin = new Admin({ endpoints: nsAddr, logger: testLogger("admin") });
  const topic = uniq("MSCu");
  let p: Producer | undefined;
  try {
    // Only the master deletes: the slave keeps what it copied (its own pass would follow).
    const m = await group.startBroker("m", 0, "ASYNC_MASTER", DELETE_ALL_OLD);
    await admin.createTopic({ topic, brokerAddr: m.addr, readQueueNums: 2, writeQueueNums: 2 });
    await until(async () => (await admin.getTopicRoute(topic)).queueDatas.length === 1, 15_000, "route");
    p = new Producer({
      endpoints: nsAddr,
      producerGroup: uniq("MSCp"),
      topic,
      logger: testLogger("producer"),
      ...FAST,
    });
    await p.startup();
    let sent = 0;
    const fill = async (n: number) => {
      for (let i = 0; i < n; i++) await p!.send({ topic, body: Buffer.alloc(3000, `m${sent++}`) });
    };
    const info = (addr: string) => admin.getBrokerRuntimeInfo(addr);
    // ~5 segments; the master's retention deletes all but the current one.
    await fill(110);
    await until(
      async () => Number((await info(m.addr)).commitLogMinOffset) >= 3 * SEG,
      30_000,
      "the master deleting its first three segments",
    );
    const masterMin = Number((await info(m.addr)).commitLogMinOffset);

    const s = await group.startBroker("s", 1, "SLAVE");
    await fill(10);
    await until(
      async () => {
        const [mi, si] = await Promise.all([info(m.addr), info(s.addr)]);
        return mi.commitLogMaxOffset === si.commitLogMaxOffset;
      },
      30_000,
      "the slave catching up with the master",
    );
    const si = await info(s.addr);
    assert.ok(Number(si.commitLogMinOffset) >= masterMin, `slave starts at ${si.commitLogMinOffset}`);
    assert.ok(isAlive(s), "the slave is up");
    for (const queueId of [0, 1]) {
      const mq = { topic, brokerName: "cu-broker", queueId };
      const [min, max] = await Promise.all([admin.getMinOffset(s.addr, mq), admin.getMaxOffset(s.addr, mq)]);
      assert.ok(min > 0, `queue ${queueId} starts past 0 on the slave (${min})`);
      assert.equal(max, await admin.getMaxOffset(m.addr, mq));
      const fromSlave = await admin.pullMessages(s.addr, mq, min, 32);
      assert.ok(
        fromSlave.messages.length > 0,
        `a pull at queue ${queueId}'s min offset ${min} finds messages`,
      );
      const fromMaster = await admin.pullMessages(m.addr, mq, fromSlave.messages[0]!.queueOffset, 32);
      assert.deepEqual(
        fromSlave.messages.map((x) => x.body.toString()),
        fromMaster.messages.slice(0, fromSlave.messages.length).map((x) => x.body.toString()),
      );
      // Below the min: nothing (a slave does not move a consumer's offset, as RocketMQ's).
      assert.equal((await admin.pullMessages(s.addr, mq, 0, 1)).messages.length, 0);
    }

    // The slave stops; the master's retention moves past the slave's end; the slave comes back.
    await stopBroker(s, "SIGTERM");
    const slaveEnd = Number(si.commitLogMaxOffset);
    await fill(70);
    await until(
      async () => Number((await info(m.addr)).commitLogMinOffset) > slaveEnd,
      30_000,
      "the master deleting past the stopped slave's end",
    );
    const s2 = await group.startBroker("s", 1, "SLAVE");
    await until(
      async () => /cannot catch up/.test(s2.stderr()) && /cannot catch up/.test(m.stderr()),
      30_000,
      "the refusal's reason in the slave's and the master's logs",
    );
    const after = await info(s2.addr);
    assert.equal(Number(after.commitLogMaxOffset), slaveEnd, "the slave keeps what it had, nothing more");
    const mq = { topic, brokerName: "cu-broker", queueId: 0 };
    const min = await admin.getMinOffset(s2.addr, mq);
    assert.ok((await admin.pullMessages(s2.addr, mq, min, 4)).messages.length > 0, "and still serves it");
    assert.ok(isAlive(s2) && isAlive(m), "both processes are up");
  } finally {
    await p?.shutdown();
    await admin.shutdown();
    await group.stop();
  }
});
